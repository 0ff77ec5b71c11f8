"""Allocation lists (hepatrial.core.randomization): the method's statistics, the file, the protocol section.

The statistical tests run the generator over many seeded lists and compare
with what permuted blocks must give. Tolerances are set from the sampling
error and stated next to each test; the seeds are fixed (0, 1, 2, ...), so a
run is reproducible, and nothing was tuned to make a test pass.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepatrial.core.protocol import ProtocolError, RandomizationSpec, load_protocol, load_protocol_file
from hepatrial.core.randomization import (
    HEADER,
    AllocationList,
    AllocationListError,
    check_structure,
    list_digest,
    make_list,
    parse_list,
    read_list,
    render_list,
    reproduces,
    write_list,
)

ROOT = Path(__file__).resolve().parents[2]
YAML_FILE = ROOT / "src" / "hepatrial" / "protocols" / "nct05940610.yaml"
YAML_TEXT = YAML_FILE.read_text(encoding="utf-8")
PROTOCOL = load_protocol("NCT05940610")
SPEC = PROTOCOL.randomization


def spec(**changes) -> RandomizationSpec:
    """The packaged spec with ``changes``, validated again."""
    return RandomizationSpec.model_validate({**SPEC.model_dump(), **changes})


def blocks_of(alist: AllocationList) -> list[list]:
    """Every block of the list, as its rows."""
    out: dict[tuple, list] = {}
    for row in alist.rows:
        out.setdefault((row.site, row.stratum, row.block), []).append(row)
    return list(out.values())


# --- the protocol section -----------------------------------------------------------------------------
def test_the_packaged_protocol_randomizes_by_presentation():
    assert SPEC is not None
    assert SPEC.arms == ["msc_ev", "control"]
    assert SPEC.ratio == [1, 1]
    assert SPEC.stratify_by == "presentation"
    assert SPEC.strata == ["ACLF", "ALF"]
    assert SPEC.block_sizes == [2, 4]
    assert SPEC.slots_per_stratum == 20


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first ``needle`` (after the text ``after``, if given)."""
    start = text.index(after) if after else 0
    offset = text[:start].count("\n")
    return offset + next(n for n, line in enumerate(text[start:].splitlines(), 1) if needle in line)


def problems_with(tmp_path: Path, old: str, new: str) -> tuple[list, str]:
    assert old in YAML_TEXT, old
    text = YAML_TEXT.replace(old, new, 1)
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    return info.value.problems, text


def test_slots_per_stratum_defaults_to_the_planned_total(tmp_path):
    text = re.sub(r"\n  slots_per_stratum: 20\n", "\n", YAML_TEXT)
    assert text != YAML_TEXT
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_protocol_file(path).randomization.slots_per_stratum == PROTOCOL.enrollment.planned_total == 20


@pytest.mark.parametrize(
    "old, new, where, key, reason",
    [
        ("block_sizes: [2, 4]", "block_sizes: [2, 3]", "randomization.block_sizes", "block_sizes", "[1]: 3 is not a multiple of 2"),
        ("ratio: [1, 1]", "ratio: [2, 1]", "randomization.block_sizes", "block_sizes", "[0]: 2 is not a multiple of 3"),
        ("ratio: [1, 1]", "ratio: [1, 1, 1]", "randomization.ratio", "ratio", "3 number(s) for 2 arms"),
        ("ratio: [1, 1]", "ratio: [1, 0]", "randomization.ratio[1]", "ratio", "greater than or equal to 1"),
        ("arms: [msc_ev, control]", "arms: [msc_ev, placebo]", "randomization.arms[1]", "arms", "unknown arm 'placebo'"),
        ("arms: [msc_ev, control]", "arms: [msc_ev, msc_ev]", "randomization.arms", "arms", "listed twice"),
        ("stratify_by: presentation", "stratify_by: age", "randomization.stratify_by", "stratify_by", "not one with a closed set of values"),
        ("stratify_by: presentation", "stratify_by: presentaton", "randomization.stratify_by", "stratify_by", "not a candidate field"),
        ("strata: [ACLF, ALF]", "strata: [ACLF, SALF]", "randomization.strata", "strata", "'SALF' is not a value of presentation"),
        ("strata: [ACLF, ALF]", "strata: [ACLF, ACLF]", "randomization.strata", "strata", "listed twice"),
        ("slots_per_stratum: 20", "slots_per_stratum: 0", "randomization.slots_per_stratum", "slots_per_stratum", ">= 1"),
        ("block_sizes: [2, 4]", "block_sizes: [2, 4]\n  blocks: [2]", "randomization.blocks", "blocks", "unknown key"),
    ],
)
def test_a_bad_randomization_section_is_refused_with_its_line(tmp_path, old, new, where, key, reason):
    problems, text = problems_with(tmp_path, old, new)
    assert len(problems) == 1, problems
    path, line, message = problems[0]
    assert path == where
    assert reason in message or (reason == ">= 1" and "greater than or equal to 1" in message), message
    assert line == line_of(text, f"  {key}:", after="\nrandomization:")


def test_randomization_needs_a_randomized_design(tmp_path):
    problems, text = problems_with(tmp_path, "allocation: Randomized", "allocation: Non-Randomized")
    assert problems == [("randomization", line_of(text, "randomization:"),
                         "design.allocation is 'Non-Randomized': only a randomized trial has a randomization section")]  # fmt: skip


def test_unequal_ratio_with_whole_blocks_loads():
    s = spec(ratio=[2, 1], block_sizes=[3, 6])
    assert s.block_contents(6) == ["msc_ev"] * 4 + ["control"] * 2


# --- generation ---------------------------------------------------------------------------------------
def test_one_site_and_stratum_in_permuted_blocks():
    alist = make_list(SPEC, sites=["SYSU3"], seed=7, protocol_id="NCT05940610")
    cells = alist.cells()
    assert list(cells) == [("SYSU3", "ACLF"), ("SYSU3", "ALF")]
    for rows in cells.values():
        assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
        assert 20 <= len(rows) <= 20 + max(SPEC.block_sizes) - 1
        assert rows[0].block == 1 and all(b.block - a.block in (0, 1) for a, b in zip(rows, rows[1:]))
    for block in blocks_of(alist):
        assert len(block) == block[0].block_size in SPEC.block_sizes
        assert Counter(r.arm for r in block) == {"msc_ev": len(block) // 2, "control": len(block) // 2}


def test_the_same_seed_gives_the_same_list_and_the_golden_digest_pins_the_method():
    a = make_list(SPEC, sites=["SYSU3", "GZ2"], seed=20240601, protocol_id="NCT05940610")
    b = make_list(SPEC, sites=["SYSU3", "GZ2"], seed=20240601, protocol_id="NCT05940610")
    assert a == b
    # If this changes, lists already generated can no longer be regenerated from their seed.
    assert list_digest(a) == GOLDEN_DIGEST


GOLDEN_DIGEST = "b80bbd197d72ccc313b32631bf826e818fe50fb15bd539f67fb10f3ffaedcb78"


def test_a_cell_does_not_depend_on_the_other_sites():
    one = make_list(SPEC, sites=["SYSU3"], seed=99).cells()
    two = make_list(SPEC, sites=["GZ2", "SYSU3"], seed=99).cells()
    assert one[("SYSU3", "ACLF")] == two[("SYSU3", "ACLF")]
    assert one[("SYSU3", "ALF")] == two[("SYSU3", "ALF")]


def test_every_bit_of_the_seed_counts():
    # seeds that differ only above bit 64 or 128 give different generators
    lists = {tuple(r.arm for r in make_list(SPEC, sites=["S"], seed=5 + k * 2**64 + k * 2**128).rows) for k in range(50)}
    assert len(lists) > 40


@pytest.mark.parametrize("sites, reason", [
    ([], "no sites"), (["SYSU3", "SYSU3"], "given twice"), (["SY SU"], "a site id is"), (["A,B"], "a site id is"), ([""], "a site id is"),
])  # fmt: skip
def test_bad_sites_are_refused(sites, reason):
    with pytest.raises(AllocationListError, match=reason):
        make_list(SPEC, sites=sites, seed=1)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(AllocationListError, match="seed"):
        make_list(SPEC, sites=["S"], seed=seed)


# --- the statistics over many lists ---------------------------------------------------------------------
N_LISTS = 40_000
POSITIONS = 20


#: 128-bit seeds, fixed: a generator that used only some bits of the seed (say 16) would
#: give many equal lists, which seeds 0..39,999 (all below 2**16) could not reveal.
_SEED_SOURCE = random.Random(2024)
SEEDS = [_SEED_SOURCE.getrandbits(128) for _ in range(N_LISTS)]


@pytest.fixture(scope="module")
def many_lists() -> list[AllocationList]:
    """40,000 lists, one site and one stratum of 20 slots each; about 2.5 s."""
    one_stratum = spec(strata=["ACLF"], slots_per_stratum=POSITIONS)
    return [make_list(one_stratum, sites=["S"], seed=seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def many_blocks(many_lists) -> list[tuple[str, ...]]:
    """The arms of every block of every one of those lists (one site and stratum: blocks are consecutive)."""
    out = []
    for alist in many_lists:
        rows = alist.rows
        i = 0
        while i < len(rows):
            size = rows[i].block_size
            assert {r.block for r in rows[i : i + size]} == {rows[i].block}
            out.append(tuple(r.arm for r in rows[i : i + size]))
            i += size
    return out


def test_every_block_of_every_list_is_complete_and_balanced(many_lists, many_blocks):
    assert len(set(SEEDS)) == N_LISTS
    assert sum(len(block) for block in many_blocks) == sum(len(a.rows) for a in many_lists)
    assert all(len(block) in (2, 4) and 2 * block.count("msc_ev") == len(block) for block in many_blocks)


def test_each_position_is_msc_ev_with_probability_one_half(many_lists):
    """P(msc_ev) at each of positions 1-20 is 1/2 within 0.01.

    Which positions are forced? With one block size b, the last slot of each
    block is forced *given the block's other slots*, but its marginal
    probability is still 1/2 (swapping the arm labels maps every list to one
    equally likely). With mixed sizes 2 and 4 the block boundaries are random
    too. So no position is forced unconditionally, and every one must be 1/2.
    The tolerance 0.01 is 4 standard errors at 40,000 lists (SE = 0.0025;
    the chance that any of the 20 positions strays that far by luck is about
    1 in 800). At 10,000 lists 0.01 would be only 2 SE: one position in 20
    would fail by chance, so 40,000 it is.
    """
    assert all(len(a.rows) >= POSITIONS for a in many_lists)
    for k in range(POSITIONS):
        p = sum(a.rows[k].arm == "msc_ev" for a in many_lists) / N_LISTS
        assert abs(p - 0.5) <= 0.01, (k + 1, p)


def test_the_last_slot_of_a_block_is_forced_given_the_others(many_blocks):
    """Conditionally: knowing a block's size and its first b-1 arms fixes the last one.

    Over every block of every list, P(last = msc_ev | the others) is 0 or 1:
    the last arm is always the one the others leave short. No other slot is
    determined by the slots before it in its block unless they already hold
    all of one arm, counted below: in a block of 4, slot 3 is forced only
    after two equal arms (probability 1/3).
    """
    by_history: dict[tuple, Counter] = {}
    forced_third = third = 0
    for arms in many_blocks:
        by_history.setdefault((len(arms), arms[:-1]), Counter())[arms[-1]] += 1
        if len(arms) == 4:
            third += 1
            forced_third += arms[0] == arms[1]
    for (size, history), last in by_history.items():
        assert len(last) == 1, (size, history, last)
        (arm,) = last
        assert Counter(history)[arm] + 1 == size // 2
    # slot 3 of a block of 4 is forced in 1/3 of blocks (SE ~ 0.002 over ~67,000 blocks of 4)
    assert abs(forced_third / third - 1 / 3) < 0.01


def test_block_sizes_and_orders_are_uniform(many_blocks):
    """The method itself: each block's size is 2 or 4 with probability 1/2, and its
    order is uniform over the 2 (or 6) balanced orders. The position test above
    cannot see an order bias (swapping the arms keeps every marginal at 1/2);
    this one does. Tolerance 4 SE for each frequency."""
    sizes: Counter = Counter()
    orders: dict[int, Counter] = {2: Counter(), 4: Counter()}
    for block in many_blocks:
        sizes[len(block)] += 1
        orders[len(block)][block] += 1
    n = sum(sizes.values())
    assert abs(sizes[2] / n - 0.5) <= 4 * math.sqrt(0.25 / n), sizes
    for size, n_orders in ((2, 2), (4, 6)):
        total = sum(orders[size].values())
        assert len(orders[size]) == n_orders
        se = math.sqrt((1 / n_orders) * (1 - 1 / n_orders) / total)
        for order, count in orders[size].items():
            assert abs(count / total - 1 / n_orders) <= 4 * se, (order, count, total)


def _expected_repeats(n: int, slots: int = POSITIONS, sizes=(2, 4)) -> tuple[float, float]:
    """Mean and standard deviation of (n - the number of distinct lists) among n seeded lists.

    A list is a sequence of blocks (size, order) until it has `slots` slots;
    it has probability (1/2 * 1/2)^n2 * (1/2 * 1/6)^n4 with n2 blocks of 2
    and n4 of 4 (a size drawn with probability 1/2, then one of 2 or 6
    orders). Exact moments of the number of distinct values among n draws,
    summing over classes of equally likely lists.
    """
    classes: Counter = Counter()

    def walk(total: int, n2: int, n4: int) -> None:
        if total >= slots:
            classes[(n2, n4)] += 2**n2 * 6**n4
            return
        walk(total + 2, n2 + 1, n4)
        walk(total + 4, n2, n4 + 1)

    walk(0, 0, 0)
    prob = {c: (1 / 4) ** c[0] * (1 / 12) ** c[1] for c in classes}
    assert math.isclose(sum(m * prob[c] for c, m in classes.items()), 1.0)
    unseen = {c: (1 - p) ** n for c, p in prob.items()}
    mean_distinct = sum(m * (1 - unseen[c]) for c, m in classes.items())
    var = sum(m * (unseen[c] - unseen[c] ** 2) for c, m in classes.items())

    def cov(p: float, q: float) -> float:  # Cov(1[x unseen], 1[y unseen]), x != y
        both, apart = n * math.log1p(-p - q), n * (math.log1p(-p) + math.log1p(-q))
        return math.exp(apart) * math.expm1(both - apart)

    var += sum(classes[a] * classes[b] * cov(prob[a], prob[b]) for a in classes for b in classes)
    var -= sum(classes[a] * cov(prob[a], prob[a]) for a in classes)
    return n - mean_distinct, math.sqrt(var)


def test_different_seeds_give_lists_as_distinct_as_chance_allows(many_lists):
    """Not "all distinct": 20-slot lists of blocks 2 and 4 repeat by chance.

    The all-blocks-of-2 lists alone have probability 4^-10 each, and two of
    40,000 lists coincide with probability about 1.9e-6 per pair: about 1,479
    repeats are expected (sd 37; 95 at 10,000 lists, so "at least 9,990
    distinct of 10,000" cannot hold). A seed that reached the generator only
    in part (16 bits: thousands more) would give far more repeats; 24 bits
    would add only about 48, within the noise. Compared as whole
    lists (block sizes and arms); within 5 sd of the exact expectation.
    """
    mean, sd = _expected_repeats(N_LISTS)
    assert 1400 < mean < 1560 and 30 < sd < 45  # the computation itself, checked against a hand estimate
    repeats = N_LISTS - len({tuple((r.block_size, r.arm) for r in a.rows) for a in many_lists})
    assert abs(repeats - mean) <= 5 * sd, (repeats, mean, sd)


def test_unequal_ratio_two_to_one_with_blocks_of_3_and_6():
    """2:1 with blocks 3 and 6: every block holds twice as many msc_ev, and each
    position is msc_ev with probability 2/3 (6,000 lists: SE 0.006, tolerance 0.025 = 4 SE)."""
    two_to_one = spec(ratio=[2, 1], block_sizes=[3, 6], strata=["ALF"], slots_per_stratum=POSITIONS)
    lists = [make_list(two_to_one, sites=["S"], seed=seed) for seed in range(6_000)]
    for alist in lists:
        assert 20 <= len(alist.rows) <= 25
        for block in blocks_of(alist):
            assert len(block) == block[0].block_size in (3, 6)
            assert sum(r.arm == "msc_ev" for r in block) == 2 * sum(r.arm == "control" for r in block)
    for k in range(POSITIONS):
        p = sum(a.rows[k].arm == "msc_ev" for a in lists) / len(lists)
        assert abs(p - 2 / 3) <= 0.025, (k + 1, p)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ratio=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    multiples=st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True),
    slots=st.integers(1, 30),
    seed=st.integers(0, 2**128),
)
def test_any_valid_spec_gives_a_list_that_verifies(ratio, multiples, slots, seed):
    arms = ["msc_ev", "control", "third"][: len(ratio)]
    s = spec(arms=arms, ratio=ratio, block_sizes=[m * sum(ratio) for m in multiples], slots_per_stratum=slots)
    alist = make_list(s, sites=["A", "B"], seed=seed, protocol_id="P")
    check_structure(alist, s)
    for rows in alist.cells().values():
        assert slots <= len(rows) < slots + max(s.block_sizes)
    assert parse_list(render_list(alist), spec=s, protocol_id="P") == alist
    assert reproduces(alist, s)


# --- the file -------------------------------------------------------------------------------------------
@pytest.fixture
def written(tmp_path) -> tuple[Path, AllocationList]:
    alist = make_list(SPEC, sites=["SYSU3", "GZ2"], seed=31337, protocol_id="NCT05940610")
    path = tmp_path / "list.csv"
    assert write_list(alist, path) == alist.digest
    return path, alist


def test_the_file_format(written):
    path, alist = written
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[:6] == [
        "# hepatrial allocation list", "# protocol: NCT05940610", "# seed: 31337", "# sites: SYSU3,GZ2",
        f"# sha256: {alist.digest}", "site,stratum,sequence,block,block_size,arm",
    ]  # fmt: skip
    assert lines[-1] == "" and len(lines) == 6 + len(alist.rows) + 1
    body = "\n".join(lines[5:-1])
    assert hashlib.sha256(body.encode("utf-8")).hexdigest() == alist.digest
    assert b"\r" not in path.read_bytes()


def test_round_trip(written):
    path, alist = written
    assert read_list(path) == alist
    assert read_list(path, spec=SPEC, protocol_id="nct05940610") == alist
    assert reproduces(read_list(path), SPEC)


def test_write_never_replaces_a_file(written):
    path, alist = written
    with pytest.raises(FileExistsError):
        write_list(alist, path)


def test_crlf_line_ends_and_a_byte_order_mark_are_read(written, tmp_path):
    path, alist = written
    other = tmp_path / "windows.csv"
    other.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_list(other) == alist


def edit(path: Path, change, *, redigest: bool) -> tuple[Path, list[str]]:
    """Apply ``change`` to the file's lines (a list, 1-based line n is lines[n-1]); optionally recompute the digest."""
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    change(lines)
    if redigest:
        header = lines.index(HEADER) if HEADER in lines else 5
        digest = hashlib.sha256("\n".join(lines[header:]).encode("utf-8")).hexdigest()
        lines = [f"# sha256: {digest}" if line.startswith("# sha256:") else line for line in lines]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def flip(line: str) -> str:
    return line[: -len("msc_ev")] + "control" if line.endswith(",msc_ev") else line[: -len("control")] + "msc_ev"


def error_of(path: Path, **kwargs) -> AllocationListError:
    with pytest.raises(AllocationListError) as info:
        read_list(path, **kwargs)
    assert str(path) in str(info.value)
    return info.value


def test_one_changed_arm_breaks_the_digest(written):
    path, _ = written
    edit(path, lambda lines: lines.__setitem__(9, flip(lines[9])), redigest=False)
    err = error_of(path)
    assert (err.line, err.field) == (5, "sha256")
    assert err.reason.startswith("digest mismatch")


def test_a_changed_arm_with_a_recomputed_digest_is_an_unbalanced_block(written):
    path, alist = written
    row = alist.rows[8]  # line 6 + 9 = 15
    _, lines = edit(path, lambda lines: lines.__setitem__(14, flip(lines[14])), redigest=True)
    err = error_of(path)
    first = 7 + next(i for i, r in enumerate(alist.rows) if (r.site, r.stratum, r.block) == (row.site, row.stratum, row.block))
    assert err.line == first <= 15 < first + row.block_size
    assert err.field == "arm"
    assert f"block {row.block} of {row.site}/{row.stratum} (lines {first}-{first + row.block_size - 1}) is unbalanced" in err.reason


def test_a_changed_digest_line_alone_is_a_digest_error(written):
    path, _ = written
    edit(path, lambda lines: lines.__setitem__(4, "# sha256: " + "0" * 64), redigest=False)
    assert error_of(path).line == 5


@pytest.mark.parametrize(
    "change, line, field, reason",
    [
        (lambda ls: ls.__setitem__(5, "site,stratum,sequence,block,size,arm"), 6, "header", "missing column(s) block_size"),
        (lambda ls: ls.__setitem__(5, "site,stratum,sequence,block,block_size,arm,extra"), 6, "header", "unknown column(s) 'extra'"),
        (lambda ls: ls.__setitem__(5, "stratum,site,sequence,block,block_size,arm"), 6, "header", "another order"),
        (lambda ls: ls.__setitem__(0, "site,stratum"), 1, "(file)", "not a hepatrial allocation list"),
        (lambda ls: ls.__setitem__(2, "# seed: twelve"), 3, "seed", "not a whole number"),
        (lambda ls: ls.__setitem__(2, "# colour: blue"), 3, "colour", "unknown key"),
        (lambda ls: ls.__delitem__(2), 5, "seed", "no '# seed: ...' line"),
        (lambda ls: ls.__setitem__(3, "# sites: SYSU3"), None, "site", "not in the '# sites' line"),
        (lambda ls: ls.__setitem__(10, ls[10] + ",x"), 11, "(row)", "7 field(s), expected 6"),
        (lambda ls: ls.__setitem__(10, ls[10].replace(",5,", ",05,", 1)), 11, "sequence", "not a whole number >= 1"),
        (lambda ls: ls.insert(10, ""), 11, "(row)", "an empty line"),
        (lambda ls: ls.__delitem__(slice(6, None)), 6, "(file)", "no rows"),
    ],
)
def test_malformed_files_name_the_line(written, change, line, field, reason):
    path, alist = written
    assert alist.rows[4].sequence == 5
    if line is None:  # the first row of GZ2, the site the '# sites' line no longer names
        line = 7 + sum(r.site == "SYSU3" for r in alist.rows)
    edit(path, change, redigest=True)
    err = error_of(path)
    assert (err.line, err.field) == (line, field), err
    assert reason in err.reason


def test_missing_column_in_header_and_rows(written):
    path, _ = written
    edit(path, lambda ls: ls.__setitem__(slice(5, None), [",".join(x.split(",")[:-1]) for x in ls[5:]]), redigest=True)
    err = error_of(path)
    assert (err.line, err.field) == (6, "header")
    assert "missing column(s) arm" in err.reason


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda ls: ls.__delitem__(8), "sequence 4 of SYSU3/ACLF: expected 3"),
        (lambda ls: ls.__delitem__(len(ls) - 1), "never ends in an incomplete block"),
        (lambda ls: ls.__setitem__(6, ls[6].replace(",1,1,", ",1,2,", 1)), "its first block is 1"),
        (lambda ls: ls.__setitem__(3, "# sites: SYSU3,GZ2,FS1"), "site 'FS1' has no rows"),
    ],
)
def test_structure_errors_with_a_good_digest(written, change, reason):
    path, _ = written
    edit(path, change, redigest=True)
    assert reason in error_of(path).reason


def test_the_protocol_checks_arms_strata_and_id(written, tmp_path):
    path, _ = written
    assert read_list(path, spec=SPEC)
    err = error_of(path, spec=spec(strata=["ALF"]))
    assert "stratum 'ACLF' is not a stratum of the protocol" in err.reason and err.line == 7
    err = error_of(path, spec=spec(block_sizes=[2]))
    assert "block_size 4 is not one of the protocol's block sizes (2)" in err.reason
    err = error_of(path, protocol_id="NCT00000001")
    assert (err.line, err.field) == (2, "protocol")
    three = make_list(spec(ratio=[2, 1], block_sizes=[3]), sites=["A"], seed=1, protocol_id="NCT05940610")
    write_list(three, tmp_path / "three.csv")
    assert read_list(tmp_path / "three.csv") == three  # balanced by its own 2:1 ratio
    err = error_of(tmp_path / "three.csv", spec=SPEC)
    assert "block_size 3" in err.reason


def test_without_a_spec_an_odd_block_is_judged_against_the_others(written):
    path, alist = written
    two = next(i for i, r in enumerate(alist.rows) if r.block_size == 2)  # a block of 2 made all msc_ev
    edit(path, lambda ls: ls.__setitem__(slice(6 + two, 8 + two), [x.rsplit(",", 1)[0] + ",msc_ev" for x in ls[6 + two: 8 + two]]), redigest=True)
    err = error_of(path)
    assert err.line == 7 + two
    assert "is unbalanced: msc_ev 2, control 0 of 2, not in the ratio of the list's other blocks (msc_ev 1/2, control 1/2)" in err.reason


def test_an_unreadable_file(tmp_path):
    err = error_of(tmp_path / "nope.csv")
    assert err.field == "(file)" and "cannot read" in err.reason
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"# hepatrial allocation list\n\xe9\n")
    assert "not UTF-8" in error_of(bad).reason


def test_the_error_carries_line_and_reason():
    err = AllocationListError("block 2 is unbalanced", 14, field="arm", source="x.csv")
    assert isinstance(err, ValueError)
    assert (err.line, err.reason, err.field) == (14, "block 2 is unbalanced", "arm")
    assert str(err) == "x.csv: line 14: block 2 is unbalanced"


def test_check_structure_on_a_list_in_memory():
    alist = make_list(SPEC, sites=["A"], seed=3)
    rows = list(alist.rows)
    rows[0], rows[1] = rows[1], rows[0]
    with pytest.raises(AllocationListError, match="sequence 2 of A/ACLF: expected 1"):
        check_structure(AllocationList(None, 3, ("A",), tuple(rows)))
