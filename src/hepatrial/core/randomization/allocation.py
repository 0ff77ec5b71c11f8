"""Allocation lists by stratified permuted blocks: generate, digest, check.

For each site and stratum, blocks follow one another until the cell has at
least ``slots_per_stratum`` slots; each block's size is drawn uniformly from
``block_sizes`` and it holds the arms in ``ratio`` (a block of 4 at 1:1: two
of each), in a random order. The last block is never cut short, so every
block is balanced.

Randomness: :class:`random.Random` (Mersenne Twister), one generator per site
and stratum seeded from the string ``hepatrial-allocation/SEED/SITE/STRATUM``,
so a cell's list depends on the seed, the site, the stratum and the spec only
(adding a site later leaves the other sites' lists as they were). Only
``Random.random()`` is used (block sizes and the Fisher-Yates shuffle are
built on it): Python guarantees that the seeding of a string and the sequence
of ``random()`` do not change across versions, which it does not promise for
``choice`` or ``shuffle``.

The Mersenne Twister is reproducible but **not cryptographic**: whoever knows
the seed (or enough of the output) can compute the whole list. That is the
accepted practice for a list generated once and kept concealed (REDCap,
clinicedc): the list's secrecy rests on the seed and the file being kept
secret. Use a long random seed (64 bits or more), never a memorable one.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hepatrial.core.protocol import RandomizationSpec

#: The CSV columns, in order.
COLUMNS = ("site", "stratum", "sequence", "block", "block_size", "arm")
HEADER = ",".join(COLUMNS)
#: A site id: it is written into CSV files (no commas, quotes or spaces).
SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
#: A seed below this can be found by trying them all (see docs/randomization.md).
WEAK_SEED_BELOW = 2**32


class AllocationListError(ValueError):
    """An allocation list that cannot be made, read or trusted: the line (of the file, if any) and the reason."""

    def __init__(self, reason: str, line: int | None = None, *, field: str | None = None, source: str | None = None):
        self.reason = reason
        self.line = line
        self.field = field
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{where}{self.reason}"


class AllocationRow(NamedTuple):
    """One slot of the list: the ``sequence``-th allocation of ``site`` and ``stratum`` (immutable)."""

    site: str
    stratum: str
    sequence: int  # 1.. within site + stratum
    block: int  # 1.. within site + stratum
    block_size: int
    arm: str

    def line(self) -> str:
        """The row as written in the CSV file."""
        return f"{self.site},{self.stratum},{self.sequence},{self.block},{self.block_size},{self.arm}"


@dataclass(frozen=True)
class AllocationList:
    """A whole allocation list: every site's and stratum's slots, in order."""

    protocol_id: str | None
    seed: int
    sites: tuple[str, ...]
    rows: tuple[AllocationRow, ...]

    @property
    def digest(self) -> str:
        return list_digest(self)

    def cells(self) -> dict[tuple[str, str], list[AllocationRow]]:
        """(site, stratum) -> its rows in sequence order, in the order the cells first appear."""
        out: dict[tuple[str, str], list[AllocationRow]] = {}
        for row in self.rows:
            out.setdefault((row.site, row.stratum), []).append(row)
        return out

    def arms(self) -> list[str]:
        """The arms in the order they first appear."""
        return list(dict.fromkeys(row.arm for row in self.rows))

    def counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """(site, stratum) -> {arm: slots}, every arm of the list present (0 if none)."""
        arms = self.arms()
        return {cell: {arm: sum(r.arm == arm for r in rows) for arm in arms} for cell, rows in self.cells().items()}


def list_digest(alist: AllocationList) -> str:
    """SHA-256 (hex) of the header line and the data lines joined with "\\n", as written to the file."""
    text = "\n".join([HEADER, *(row.line() for row in alist.rows)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- generation ----------------------------------------------------------------------------------

def _below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n) from ``rng.random()`` (bias below n / 2**53, i.e. none that matters)."""
    return min(int(rng.random() * n), n - 1)


def _shuffle(rng: random.Random, items: list) -> None:
    """Fisher-Yates, on :func:`_below`."""
    for i in range(len(items) - 1, 0, -1):
        j = _below(rng, i + 1)
        items[i], items[j] = items[j], items[i]


def cell_generator(seed: int, site: str, stratum: str) -> random.Random:
    """The generator of one site and stratum (string seeding: stable across Python versions)."""
    return random.Random(f"hepatrial-allocation/{seed}/{site}/{stratum}")


def check_sites(sites: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The site ids, checked: at least one, each a valid id, none twice."""
    if not sites:
        raise AllocationListError("no sites: give at least one site id", field="sites")
    for i, site in enumerate(sites):
        if not isinstance(site, str) or not SITE_ID.match(site):
            raise AllocationListError(
                f"site {site!r}: a site id is 1-40 letters, digits, _ . - (starting with a letter or digit)", field="sites"
            )
        if site in sites[:i]:
            raise AllocationListError(f"site {site!r} is given twice", field="sites")
    return tuple(sites)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AllocationListError(f"seed {seed!r}: a whole number >= 0", field="seed")
    return seed


def make_list(spec: RandomizationSpec, *, sites: list[str], seed: int, protocol_id: str | None = None) -> AllocationList:
    """The allocation list of ``spec`` for ``sites`` (in that order; strata in the spec's order).

    Deterministic: the same spec, sites and seed give the same list.
    """
    sites_t = check_sites(list(sites))
    check_seed(seed)
    if spec.slots_per_stratum is None:
        raise AllocationListError(
            "the spec has no slots_per_stratum (a protocol fills in enrollment.planned_total)", field="slots_per_stratum"
        )
    contents = [(size, spec.block_contents(size)) for size in spec.block_sizes]
    rows: list[AllocationRow] = []
    for site in sites_t:
        for stratum in spec.strata:
            rows += _cell(contents, spec.slots_per_stratum, cell_generator(seed, site, stratum), site, stratum)
    return AllocationList(protocol_id=protocol_id, seed=seed, sites=sites_t, rows=tuple(rows))


def _cell(
    contents: list[tuple[int, list[str]]], slots: int, rng: random.Random, site: str, stratum: str
) -> list[AllocationRow]:
    """One site and stratum: blocks (size drawn uniformly, arms shuffled) until at least ``slots`` slots."""
    rows: list[AllocationRow] = []
    block = 0
    while len(rows) < slots:
        block += 1
        size, arms = contents[_below(rng, len(contents))]
        arms = list(arms)
        _shuffle(rng, arms)
        start = len(rows) + 1
        rows += [AllocationRow(site, stratum, start + k, block, size, arm) for k, arm in enumerate(arms)]
    return rows


def reproduces(alist: AllocationList, spec: RandomizationSpec) -> bool:
    """Whether ``spec`` with the list's seed and sites generates exactly this list."""
    try:
        again = make_list(spec, sites=list(alist.sites), seed=alist.seed, protocol_id=alist.protocol_id)
    except AllocationListError:
        return False
    return again.rows == alist.rows


# --- structure -----------------------------------------------------------------------------------

def check_structure(
    alist: AllocationList, spec: RandomizationSpec | None = None, lines: list[int] | None = None, sites_line: int | None = None
) -> None:
    """Raise :class:`AllocationListError` unless the list is well made.

    Every site has rows, and every site the same strata (with ``spec``: exactly
    its strata); within a site and stratum, sequences run 1, 2, 3 ... in order
    and blocks 1, 2, 3 ..., each block complete (``block_size`` rows, one size
    throughout) and balanced: its arms in the ratio (with ``spec``: the spec's
    arms, ratio and block sizes; without: the composition most blocks share).
    ``lines`` gives each row's line in a file, for the errors.
    """

    def at(index: int) -> int | None:
        return lines[index] if lines else None

    sites = set(alist.sites)
    cells: dict[tuple[str, str], list[int]] = {}
    open_block: dict[tuple[str, str], tuple[int, int, int]] = {}  # cell -> (block, rows so far, first row index)
    for i, row in enumerate(alist.rows):
        if row.site not in sites:
            raise AllocationListError(f"site {row.site!r} is not one of the list's sites ({', '.join(alist.sites)})", at(i), field="site")
        if spec is not None:
            if row.stratum not in spec.strata:
                raise AllocationListError(
                    f"stratum {row.stratum!r} is not a stratum of the protocol ({', '.join(spec.strata)})", at(i), field="stratum"
                )
            if row.arm not in spec.arms:
                raise AllocationListError(f"arm {row.arm!r} is not an arm of the protocol ({', '.join(spec.arms)})", at(i), field="arm")
            if row.block_size not in spec.block_sizes:
                raise AllocationListError(
                    f"block_size {row.block_size} is not one of the protocol's block sizes ({', '.join(map(str, spec.block_sizes))})",
                    at(i), field="block_size",
                )
        key = (row.site, row.stratum)
        cell = cells.setdefault(key, [])
        where = f"{row.site}/{row.stratum}"
        if row.sequence != len(cell) + 1:
            raise AllocationListError(
                f"sequence {row.sequence} of {where}: expected {len(cell) + 1} (a site and stratum's sequences run 1, 2, 3 ... in order)",
                at(i), field="sequence",
            )
        if cell:
            prev = alist.rows[cell[-1]]
            block, so_far, first = open_block[key]
            if so_far < prev.block_size:
                if row.block != prev.block or row.block_size != prev.block_size:
                    start = f" (from line {at(first)})" if lines else ""
                    raise AllocationListError(
                        f"block {prev.block} of {where}{start} has {so_far} row(s) but block_size {prev.block_size}: "
                        f"a row of block {row.block}, block_size {row.block_size} cannot follow before it is complete",
                        at(i), field="block",
                    )
                open_block[key] = (block, so_far + 1, first)
            elif row.block != prev.block + 1:
                raise AllocationListError(f"block {row.block} of {where}: expected {prev.block + 1} (blocks run 1, 2, 3 ...)", at(i), field="block")
            else:
                open_block[key] = (row.block, 1, i)
        elif row.block != 1:
            raise AllocationListError(f"block {row.block} of {where}: its first block is 1", at(i), field="block")
        else:
            open_block[key] = (1, 1, i)
        cell.append(i)

    # Every block complete; every site with the same strata.
    blocks: list[tuple[str, int, list[int]]] = []  # (where, block, row indexes)
    for (site, stratum), indexes in cells.items():
        by_block: dict[int, list[int]] = {}
        for j in indexes:
            by_block.setdefault(alist.rows[j].block, []).append(j)
        for number, members in by_block.items():
            size = alist.rows[members[0]].block_size
            if len(members) != size:
                raise AllocationListError(
                    f"the last block ({number}) of {site}/{stratum} has {len(members)} row(s) but block_size {size}: "
                    "a list never ends in an incomplete block",
                    at(members[-1]), field="block",
                )
            blocks.append((f"{site}/{stratum}", number, members))
    strata_by_site: dict[str, set[str]] = {site: set() for site in alist.sites}
    for site, stratum in cells:
        strata_by_site[site].add(stratum)
    expected_strata = list(spec.strata) if spec is not None else list(dict.fromkeys(s for _, s in cells))
    for site in alist.sites:
        if not strata_by_site[site]:
            raise AllocationListError(f"site {site!r} has no rows", sites_line, field="sites")
        for stratum in expected_strata:
            if stratum not in strata_by_site[site]:
                raise AllocationListError(f"site {site!r} has no rows for stratum {stratum!r}", sites_line, field="stratum")

    # Every block balanced.
    arms = list(spec.arms) if spec is not None else alist.arms()

    def composition(members: list[int]) -> tuple[Fraction, ...]:
        counted = Counter(alist.rows[j].arm for j in members)
        return tuple(Fraction(counted[arm], len(members)) for arm in arms)

    if spec is not None:
        expected = tuple(Fraction(r, spec.ratio_total) for r in spec.ratio)
        described = f"the protocol's ratio {', '.join(f'{a} {r}' for a, r in zip(spec.arms, spec.ratio))}"
    else:
        if not blocks:
            return
        common = Counter(composition(m) for _, _, m in blocks).most_common(1)[0][0]
        expected = common
        described = "the ratio of the list's other blocks (" + ", ".join(f"{a} {f}" for a, f in zip(arms, common)) + ")"
    for where, number, members in blocks:
        if composition(members) != expected:
            counted = Counter(alist.rows[j].arm for j in members)
            have = ", ".join(f"{arm} {counted[arm]}" for arm in arms)
            span = f" (lines {at(members[0])}-{at(members[-1])})" if lines else ""
            raise AllocationListError(
                f"block {number} of {where}{span} is unbalanced: {have} of {len(members)}, not in {described}",
                at(members[0]), field="arm",
            )
