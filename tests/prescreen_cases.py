"""Pre-screening test data: synthetic OMOP extracts, a hand-made flat lab table whose rows sit
on every boundary the criteria have, and the differential check (SQL against the
one-candidate screening, every lab day and criterion)."""

from __future__ import annotations

import csv
from datetime import date, timezone
from pathlib import Path

from hepatrial.core.prescreen.facts import usable_labs
from hepatrial.core.prescreen.sources import Source
from hepatrial.core.prescreen.synth import synthesize, write_extract
from hepatrial.core.protocol import packaged_protocols, protocol_from_text
from hepatrial.prescreen.engine import (
    all_days,
    person_rows,
    python_statuses,
    sql_status,
)

END = date(2026, 11, 1)


def protocol_with(variant: str):
    """The trial's protocol with another MELD variant for E4 (meld_na, meld_3_0)."""
    text = packaged_protocols()["NCT05940610"].read_text(encoding="utf-8")
    text = text.replace("  meld_variant:\n    value: meld\n", f"  meld_variant:\n    value: {variant}\n")
    assert f"value: {variant}" in text
    return protocol_from_text(text, f"meld variant {variant}")


def synth_folder(tmp_path_factory, persons: int, seed: int, fmt: str = "parquet") -> Path:
    folder = tmp_path_factory.mktemp(f"omop{persons}")
    write_extract(synthesize(persons, seed=seed, end=END), folder, fmt)
    return folder


# --- the hand-made flat lab table --------------------------------------------------------
# (patient_id, test, value, unit, taken_at); each row's comment says which boundary it holds.
LABS = [
    # 1: born 29 Feb 2000; 17 on 28 Feb 2018, 18 on 1 Mar 2018. A rise of exactly 17.1 umol/L
    # per 24 h over exactly 12 h (108.55 - 100 is 8.549999999999997 in floating point).
    (1, "total_bilirubin", 100, "umol/L", "2018-02-28 08:00:00"),
    (1, "total_bilirubin", 108.55, "umol/L", "2018-02-28 20:00:00"),
    (1, "inr", 1.5, "{INR}", "2018-02-28 20:00:00"),  # the window's lower bound, inclusive
    (1, "creatinine", 1.2, "MG/DL", "2018-02-28 20:00:00"),  # upper case: as normalize_unit reads it
    (1, "total_bilirubin", 108.55, "umol/L", "2018-03-01 09:00:00"),
    (1, "inr", 1.6, None, "2018-03-01 09:00:00"),  # no unit: INR is a ratio
    # 2: bilirubin 10 mg/dL = 171 umol/L exactly; PTA 40% (bound); INR given twice at one
    # time with two values (neither counts); liver cancer diagnosed that very day.
    (2, "total_bilirubin", 10, "mg/dl", "2024-05-01 10:00:00"),
    (2, "prothrombin_activity", 40, "%", "2024-05-01 10:00:00"),
    (2, "inr", 1.8, None, "2024-05-01 10:00:00"),
    (2, "inr", 2.0, None, "2024-05-01 10:00:00"),
    (2, "creatinine", 80, "µmol/L", "2024-05-01 10:00:00"),
    # 3: a result exactly 72 h old is still the latest; a day later it is not.
    (3, "total_bilirubin", 200, "umol/L", "2024-01-01 08:00:00"),
    (3, "inr", 1.9, None, "2024-01-04 08:00:00"),
    (3, "creatinine", 70, "umol/L", "2024-01-04 08:00:00"),
    (3, "inr", 1.9, None, "2024-01-05 08:00:00"),
    # 4: an impossible value (left out), the same value twice (kept once), a unit bilirubin
    # is not reported in (left out), a test no criterion reads (ignored).
    (4, "total_bilirubin", 5000, "umol/L", "2024-02-01 08:00:00"),
    (4, "total_bilirubin", 180, "umol/L", "2024-02-02 08:00:00"),
    (4, "total_bilirubin", 180, "umol/L", "2024-02-02 08:00:00"),
    (4, "total_bilirubin", 3, "mmol/L", "2024-02-03 08:00:00"),
    (4, "inr", 2.1, None, "2024-02-03 08:00:00"),
    (4, "alt", 900, "U/L", "2024-02-03 08:00:00"),
    # 5: no birth date, no sex.
    (5, "total_bilirubin", 250, "umol/L", "2024-03-01 08:00:00"),
    (5, "inr", 2.0, None, "2024-03-01 08:00:00"),
    # 6: the previous result for a rise exactly 168 h back counts; 1 minute more does not.
    (6, "total_bilirubin", 100, "umol/L", "2024-04-01 08:00:00"),
    (6, "total_bilirubin", 240, "umol/L", "2024-04-08 08:00:00"),
    (6, "total_bilirubin", 100, "umol/L", "2024-06-01 07:59:00"),
    (6, "total_bilirubin", 240, "umol/L", "2024-06-08 08:00:00"),
    (6, "inr", 1.7, None, "2024-06-08 08:00:00"),
    # 7: MELD above 30 (bilirubin 20 mg/dL, creatinine 4.5 mg/dL, INR 2.5).
    (7, "total_bilirubin", 20, "mg/dL", "2024-07-01 08:00:00"),
    (7, "creatinine", 4.5, "mg/dL", "2024-07-01 08:00:00"),
    (7, "inr", 2.5, None, "2024-07-01 08:00:00"),
    (7, "sodium", 128, "mmol/L", "2024-07-01 08:00:00"),
    (7, "albumin", 2.6, "g/dL", "2024-07-01 08:00:00"),
    # 9: two draws the same day: the day is assessed at the later one.
    (9, "total_bilirubin", 300, "umol/L", "2024-08-01 06:00:00"),
    (9, "inr", 3.2, None, "2024-08-01 06:00:00"),
    (9, "inr", 2.2, None, "2024-08-01 23:30:00"),
    (9, "creatinine", 90, "umol/L", "2024-08-01 23:30:00"),
    (9, "sodium", 141, "mEq/L", "2024-08-01 23:30:00"),
    (9, "albumin", 31, "g/L", "2024-08-01 23:30:00"),
    # 10: five draws in the 12 h before the latest (every 2 h): the previous result for the rise
    # is the draw 24 h back, beyond the lag plan's reach, so the exact plan takes over.
    (10, "total_bilirubin", 100, "umol/L", "2024-09-01 08:00:00"),
    *[(10, "total_bilirubin", 150 + 10 * i, "umol/L", f"2024-09-02 0{2 * i}:00:00") for i in range(5)],
    (10, "inr", 1.9, None, "2024-09-02 08:00:00"),
]
PATIENTS = [(1, "2000-02-29", "female"), (2, "1970-06-15", "male"), (3, "1980-01-01", "female"), (4, "1990-12-31", "male"),
            (5, None, None), (6, "1975-05-05", "male"), (7, "1966-07-01", "female"), (8, "1960-01-01", "male"),
            (9, "1958-08-02", "female"), (10, "1970-01-01", "male")]  # fmt: skip
CONDITIONS = [(2, "C22.9", "2024-05-01"), (3, "K74.6", "2010-01-01"), (6, "B18.1", "2024-06-08"), (9, "D65", "2024-08-02")]


def write_flat(folder: Path, labs=LABS, patients=PATIENTS, conditions=CONDITIONS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, header, rows in (("labs", ["patient_id", "test", "value", "unit", "taken_at"], labs),
                               ("patients", ["patient_id", "birth_date", "sex"], patients),
                               ("conditions", ["patient_id", "code", "start_date"], conditions)):  # fmt: skip
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(["" if v is None else v for v in row] for row in rows)
    return folder


def disagreements(protocol, source: Source, database: str | None = None, person_ids=None,
                  tz=timezone.utc) -> tuple[int, list[str], list[dict]]:  # fmt: skip
    """Every lab day, every criterion: the SQL status against the one-candidate screening's.
    Returns (statuses compared, disagreements, the SQL's days)."""
    plan, days = all_days(protocol, source, database=database, tz=tz)
    if person_ids is not None:
        days = [d for d in days if d["person_id"] in person_ids]
    people = person_rows(protocol, source, f"SELECT person_id FROM ({plan.person_sql}) AS q", database=database, tz=tz)
    compared, problems, cache = 0, [], {}
    for day in days:
        person = people[day["person_id"]]
        if person.person_id not in cache:
            cache = {person.person_id: usable_labs(person.labs, tz)}
        _candidate, statuses, reasons = python_statuses(plan, protocol, person, day["t"], tz, cache[person.person_id])
        for criterion in plan.criteria:
            compared += 1
            mine = sql_status(criterion, day[criterion.column])
            if mine != statuses[criterion.id]:
                problems.append(f"person {day['person_id']} at {day['taken_at']}: {criterion.id} SQL {mine}, "
                                f"Python {statuses[criterion.id]} ({reasons[criterion.id]})")  # fmt: skip
    return compared, problems, days
