"""The report's tables from ADaM rows: the CONSORT flow, Table 1 (baseline by
arm), and adverse events by term and grade. Pure: dicts in, tables out.

Summaries follow what trial reports print for small samples: n (%), median
(IQR) and min-max for continuous values (with 10 per arm a mean +/- SD hides
skew), and every table names its population.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Consort:
    """CONSORT 2010 flow counts (Schulz et al., BMJ 2010;340:c332, figure 1)."""

    screened: int
    excluded: int  # screened, never enrolled
    excluded_reasons: list[tuple[str, int]]  # (reason, count), most frequent first
    enrolled: int
    not_randomized: int  # enrolled (consented, eligible), then not randomized
    not_randomized_reasons: list[tuple[str, int]]  # (ADSL DCSREAS, or "awaiting randomization", n)
    randomized: int
    allocated: dict[str, int]  # arm -> n
    received: dict[str, int]  # arm -> n given at least one infusion
    discontinued: dict[str, int]  # arm -> n whose infusions stopped before the last planned one (ADSL EOTSTT)
    discontinued_reasons: dict[str, list[tuple[str, int]]]  # arm -> (DCTREAS, n)
    left_study: dict[str, int]  # arm -> n whose follow-up ended early (EOSSTT DISCONTINUED), deaths included
    left_reasons: dict[str, list[tuple[str, int]]]  # arm -> (DCSREAS, n)
    ongoing: dict[str, int]  # arm -> n still in follow-up at the cut-off
    completed: dict[str, int]  # arm -> n who completed follow-up (EOSSTT COMPLETED)
    analysed: dict[str, int]  # arm -> n in the ITT analysis
    has_disposition: bool = True  # False: ADSL has no EOSSTT (e.g. another trial's ADaM files): no follow-up counts


def consort(screenings: list[dict[str, Any]], adsl: list[dict[str, Any]], arms: list[str],
            reason_labels: dict[str, str] | None = None) -> Consort:  # fmt: skip
    """``screenings``: the screening log's rows (``verdict``, ``failing``: the excluding
    criteria's ids, ``enrolled``: bool); ``adsl``: ADSL rows; ``arms``: arm labels in order;
    ``reason_labels``: criterion id -> how the diagram words it (default: the id).
    Discontinuation comes from ADSL's EOTSTT/DCTREAS; without them (an older ADSL), a
    subject with fewer infusions than planned (NDOSE < NDOSEPL) counts as discontinued."""
    labels = reason_labels or {}
    not_enrolled = [s for s in screenings if not s.get("enrolled")]
    reasons: Counter[str] = Counter()
    for s in not_enrolled:
        failing = s.get("failing") or []
        if failing:
            reasons.update(labels.get(f, f) for f in failing)
        elif s.get("verdict") == "incomplete":
            reasons["eligibility not established (data missing)"] += 1
        else:
            reasons["eligible, not enrolled (e.g. declined consent)"] += 1
    randomized = [r for r in adsl if r.get("RANDFL") == "Y"]

    def by_arm(rows) -> dict[str, int]:
        counts = Counter(r["TRT01P"] for r in rows)
        return {arm: counts.get(arm, 0) for arm in arms}

    def reasons_by_arm(rows, key: str) -> dict[str, list[tuple[str, int]]]:
        return {arm: sorted(Counter((r.get(key) or "not recorded").lower() for r in rows if r["TRT01P"] == arm).items(),
                            key=lambda kv: (-kv[1], kv[0])) for arm in arms}  # fmt: skip

    if any(r.get("EOTSTT") for r in randomized):
        stopped = [r for r in randomized if r.get("EOTSTT") == "DISCONTINUED"]
    else:
        stopped = [r for r in randomized if int(r.get("NDOSE") or 0) < int(r.get("NDOSEPL") or 4)]
    left = [r for r in randomized if r.get("EOSSTT") == "DISCONTINUED"]
    return Consort(
        screened=len(screenings),
        excluded=len(not_enrolled),
        excluded_reasons=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        enrolled=len(adsl),
        not_randomized=len(adsl) - len(randomized),
        not_randomized_reasons=sorted(Counter((r.get("DCSREAS") or "awaiting randomization").lower() for r in adsl
                                              if r.get("RANDFL") != "Y").items(), key=lambda kv: (-kv[1], kv[0])),
        randomized=len(randomized),
        allocated=by_arm(randomized),
        received=by_arm([r for r in randomized if r.get("SAFFL") == "Y"]),
        discontinued=by_arm(stopped),
        discontinued_reasons=reasons_by_arm(stopped, "DCTREAS"),
        left_study=by_arm(left),
        left_reasons=reasons_by_arm(left, "DCSREAS"),
        ongoing=by_arm([r for r in randomized if r.get("EOSSTT") == "ONGOING"]),
        completed=by_arm([r for r in randomized if r.get("EOSSTT") == "COMPLETED"]),
        has_disposition=any(r.get("EOSSTT") for r in randomized),
        analysed=by_arm([r for r in randomized if r.get("ITTFL") == "Y"]),
    )


@dataclass
class Table:
    """A table: a title, its population, column headers and rows of cells."""

    title: str
    population: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _num(values: list[float], decimals: int = 1) -> str:
    """median (IQR) [min-max], n, every number with the same decimals (a variable's precision)."""
    if not values:
        return "-"
    values = sorted(values)
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    f = f".{decimals}f"
    return f"{q[1]:{f}} ({q[0]:{f}}-{q[2]:{f}}) [{values[0]:{f}}-{values[-1]:{f}}], n={len(values)}"


def _pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f}%)" if n else "0"


def _floats(rows, key) -> list[float]:
    out = []
    for r in rows:
        try:
            out.append(float(r[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def table1(adsl: list[dict[str, Any]], arms: list[str]) -> Table:
    """Baseline characteristics by arm (ITT population)."""
    itt = [r for r in adsl if r.get("ITTFL") == "Y"]
    groups = {arm: [r for r in itt if r.get("TRT01P") == arm] for arm in arms}
    table = Table("Table 1. Baseline characteristics", "ITT (all randomized)", ["", *[f"{a} (n={len(g)})" for a, g in groups.items()], f"All (n={len(itt)})"])
    everyone = [*groups.values(), itt]

    def count_row(label: str, key: str, value: str) -> None:
        table.rows.append([label, *[_pct(sum(1 for r in g if r.get(key) == value), len(g)) for g in everyone]])

    table.rows.append(["Age, years", *[_num(_floats(g, "AGE"), 1) for g in everyone]])
    for code, label in (("M", "Male"), ("F", "Female"), ("U", "Unknown")):
        if code != "U" or any(r.get("SEX") not in ("M", "F") for r in itt):
            table.rows.append([f"Sex: {label}", *[_pct(sum(1 for r in g if (r.get("SEX") if r.get("SEX") in ("M", "F") else "U") == code), len(g))
                                                  for g in everyone]])  # fmt: skip
    for stratum in sorted({r.get("STRAT1R") for r in itt if r.get("STRAT1R")}):
        count_row(f"Presentation: {stratum}", "STRAT1R", stratum)
    sites = sorted({r.get("SITEID") for r in itt if r.get("SITEID")})
    if len(sites) > 1:
        for site in sites:
            count_row(f"Site: {site}", "SITEID", site)
    for label, key, decimals in (("MELD", "BMELD", 1), ("Total bilirubin, umol/L", "BBILI", 0), ("INR", "BINR", 2)):
        if _floats(itt, key):  # a variable no subject has (e.g. INR in the PBC replay) is left out, not shown as "-"
            table.rows.append([label, *[_num(_floats(g, key), decimals) for g in everyone]])
    table.notes.append("Continuous values: median (IQR) [min-max], n. Baseline: the last value on or before randomization. "
                       "No p-values: differences at baseline in a randomized trial are chance by design (CONSORT 2010, item 15).")  # fmt: skip
    return table


def ae_table(adae: list[dict[str, Any]], adsl: list[dict[str, Any]], arms: list[str], *, serious_only: bool = False,
             terms: set[str] | None = None, title: str = "Adverse events by CTCAE v5.0 term and worst grade") -> Table:  # fmt: skip
    """Subjects with each AE term by arm, as n (%) any grade and n with grade >= 3
    (treatment-emergent events, safety population)."""
    safety = [r for r in adsl if r.get("SAFFL") == "Y"]
    n = {arm: sum(1 for r in safety if r.get("TRT01A") == arm) for arm in arms}
    subjects_arm = {r["USUBJID"]: r.get("TRT01A") for r in safety}
    events = [e for e in adae if e.get("TRTEMFL") == "Y" and e.get("USUBJID") in subjects_arm
              and (not serious_only or e.get("AESER") == "Y") and (terms is None or e.get("AEDECOD") in terms)]  # fmt: skip
    table = Table(title, "Safety (given at least one infusion); treatment-emergent events",
                  ["CTCAE term (SOC)", *[f"{a} (n={n[a]}): any / grade >= 3" for a in arms]])  # fmt: skip
    by_term: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for e in events:
        key = (e.get("AEDECOD", ""), e.get("AEBODSYS", ""))
        worst = by_term.setdefault(key, {}).setdefault(subjects_arm[e["USUBJID"]], {})
        grade = int(e.get("AETOXGR") or 0)
        worst[e["USUBJID"]] = max(grade, worst.get(e["USUBJID"], 0))
    for (term, soc), per_arm in sorted(by_term.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for arm in arms:
            subjects = per_arm.get(arm, {})
            severe = sum(1 for g in subjects.values() if g >= 3)
            cells.append(f"{_pct(len(subjects), n[arm])} / {_pct(severe, n[arm])}")
        table.rows.append([f"{term} ({soc})", *cells])
    if not table.rows:
        table.rows.append(["None", *["0" for _ in arms]])
    table.notes.append("A subject is counted once per term, at the worst grade.")
    return table
