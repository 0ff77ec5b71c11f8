"""A synthetic OMOP CDM v5.4 extract for pre-screening demos, tests and benchmarks
(``hepatrial prescreen synth``).

Seeded and reproducible (the same persons, seed and end date give the same files). Each
person has about 40 lab rows over the two years before ``end``: 8 routine draws of total
bilirubin, INR, creatinine, sodium and albumin. A small share has a liver-failure episode
of 5 daily draws with rising bilirubin, some with the kind of values the protocol excludes:

- ``aclf``: chronic liver disease (K74.6 cirrhosis or B18.1 chronic hepatitis B) and an
  episode within the protocol's windows (bilirubin rising to 180-450 umol/L, INR 1.6-2.5);
- ``alf``: the same episode without chronic liver disease;
- ``meld_over_30``: creatinine 200-350 umol/L and INR 2.3-2.6 on top of the episode;
- ``inr_out_of_window``: INR 2.8-3.5;
- ``liver_cancer``: an episode and a C22.0 diagnosis.

Routine draws are taken between 06:00 and 22:00; an episode's draws start at 07:00-08:00,
a day apart, or in a third of episodes twice a day (exactly 12 h apart, the shortest gap a
daily rise may use). As in real extracts, a few rows spell their unit another way
(``umol/l``, ``µmol/L``, ``MG/DL``: 2%) and a few values are typing errors beyond what is
possible (0.05%, which pre-screening leaves out as the candidate file refuses them).

Every code is real (LOINC for labs, ICD-10 for diagnoses; omop_vocabulary.yaml); the
concept ids are local (2,000,000,001 and up: the OMOP range for site-specific concepts), and
the extract's ``concept`` table maps each to its vocabulary and code, as a site's vocabulary
would. Units follow each person's laboratory: 30% report bilirubin and creatinine by mass
(mg/dL, LOINC 1975-2 and 2160-0), the others by substance (umol/L, 14631-6 and 14682-9).
``synth_truth.csv`` lists the seeded episodes (not OMOP: the answer key for tests).
The values are invented; no real person is in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from hepatrial.core.prescreen.vocabulary import Vocabulary, default_vocabulary
from hepatrial.core.units import BILIRUBIN_UMOL_L_PER_MG_DL, CREATININE_UMOL_L_PER_MG_DL

#: OMOP standard concepts (Athena): gender MALE / FEMALE; type concept "EHR".
MALE, FEMALE, EHR = 8507, 8532, 32817
LOCAL_CONCEPTS = 2_000_000_001
DRAWS, SPAN_DAYS, EPISODE_DAYS = 8, 730, 5
EPISODE_DRAWS = EPISODE_DAYS  # draws in an episode (a day apart, or 12 h apart)
TWICE_DAILY_SHARE = 1 / 3
#: Other spellings some laboratories send (pre-screening reads them as the candidate file does).
UNIT_VARIANTS = {"umol/L": ("umol/l", "µmol/L"), "mg/dL": ("MG/DL", "mg/dl"), "g/dL": ("g/dl",), "mmol/L": ("mmol/l",)}
VARIANT_SHARE, TYPO_SHARE = 0.02, 0.0005
EPISODE_SHARE = 0.02
KINDS = ("aclf", "alf", "meld_over_30", "inr_out_of_window", "liver_cancer")
KIND_SHARES = (0.50, 0.15, 0.15, 0.10, 0.10)
#: The lab codes used: by substance (most laboratories here) and by mass.
SUBSTANCE = {"total_bilirubin": "14631-6", "creatinine": "14682-9", "inr": "6301-6", "sodium": "2951-2", "albumin": "61151-7"}
MASS = {"total_bilirubin": "1975-2", "creatinine": "2160-0", "inr": "6301-6", "sodium": "2951-2", "albumin": "1751-7"}
TESTS = ("total_bilirubin", "inr", "creatinine", "sodium", "albumin")
CONDITIONS = {"K74.6": "Other and unspecified cirrhosis of liver", "B18.1": "Chronic viral hepatitis B without delta-agent",
              "C22.0": "Liver cell carcinoma"}  # fmt: skip
TABLES = ("person", "measurement", "condition_occurrence", "observation", "concept")
#: hepatrial's unit spelling -> the UCUM code an extract carries in unit_source_value.
UCUM = {"ratio": "{INR}"}


@dataclass(frozen=True)
class Extract:
    tables: dict[str, pa.Table]  # OMOP tables by name
    truth: pa.Table  # the seeded episodes


def _concepts(vocabulary: Vocabulary) -> tuple[dict[str, int], pa.Table]:
    """Local concept ids for every LOINC and ICD-10 code used, and the concept table."""
    codes = [("LOINC", c.loinc, "Measurement", f"{c.test} ({c.unit})") for c in vocabulary.labs]
    codes += [("ICD10", code, "Condition", name) for code, name in CONDITIONS.items()]
    ids = {code: LOCAL_CONCEPTS + i for i, (_v, code, _d, _n) in enumerate(codes)}
    table = pa.table({
        "concept_id": pa.array([ids[c[1]] for c in codes], pa.int64()), "concept_name": [c[3] for c in codes],
        "domain_id": [c[2] for c in codes], "vocabulary_id": [c[0] for c in codes],
        "concept_class_id": ["Lab Test" if c[0] == "LOINC" else "ICD10 code" for c in codes],
        "standard_concept": pa.array([None] * len(codes), pa.string()), "concept_code": [c[1] for c in codes],
    })  # fmt: skip
    return ids, table


def _routine(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Routine values (canonical units), n draws: mostly normal, a few mildly abnormal."""
    return {"total_bilirubin": rng.lognormal(np.log(12), 0.45, n), "inr": rng.normal(1.05, 0.08, n).clip(0.85, 1.6),
            "creatinine": rng.lognormal(np.log(75), 0.25, n), "sodium": rng.normal(139, 2.5, n).round(),
            "albumin": rng.normal(42, 4, n).clip(20, 55)}  # fmt: skip


def synthesize(persons: int, seed: int = 1, end: date | None = None, chunk: int = 20_000,
               progress: Callable[[int], None] | None = None, vocabulary: Vocabulary | None = None) -> Extract:  # fmt: skip
    """The extract of ``persons`` persons, the last lab draw on or before ``end`` (default today)."""
    if persons < 1:
        raise ValueError(f"persons: at least 1, got {persons}")
    vocabulary = vocabulary or default_vocabulary()
    end = end or date.today()
    rng = np.random.default_rng(seed)
    ids, concept = _concepts(vocabulary)
    units = {c.loinc: c.unit for c in vocabulary.labs}
    parts: dict[str, list[pa.Table]] = {"person": [], "measurement": [], "condition_occurrence": [], "truth": []}
    next_measurement, next_condition = 1, 1
    epoch = np.datetime64(end, "D")
    for first in range(1, persons + 1, chunk):
        n = min(chunk, persons - first + 1)
        person_id = np.arange(first, first + n, dtype=np.int64)
        male = rng.random(n) < 0.55
        age_days = rng.integers(16 * 365, 90 * 365, n)  # a few minors: the age criterion has work to do
        birth = epoch - age_days.astype("timedelta64[D]")
        parts["person"].append(pa.table({
            "person_id": person_id, "gender_concept_id": np.where(male, MALE, FEMALE).astype(np.int64),
            "year_of_birth": birth.astype("datetime64[Y]").astype(int) + 1970,
            "month_of_birth": birth.astype("datetime64[M]").astype(int) % 12 + 1,
            "day_of_birth": (birth - birth.astype("datetime64[M]")).astype(int) + 1,
            "race_concept_id": np.zeros(n, np.int64), "ethnicity_concept_id": np.zeros(n, np.int64),
            "person_source_value": [f"SYN{p:08d}" for p in person_id],
        }))  # fmt: skip
        mass = rng.random(n) < 0.30  # this person's laboratory reports by mass
        # routine draws: DRAWS dates over two years
        days = np.sort(rng.integers(0, SPAN_DAYS, (n, DRAWS)), axis=1)
        draw_person = np.repeat(person_id, DRAWS)
        draw_day = epoch - (SPAN_DAYS - 1 - days.ravel()).astype("timedelta64[D]")
        draw_time = draw_day.astype("datetime64[s]") + (6 * 3600 + 60 * rng.integers(0, 16 * 60, draw_day.size)).astype("timedelta64[s]")
        values = _routine(rng, n * DRAWS)
        # episodes
        episode = rng.random(n) < EPISODE_SHARE
        e_idx = np.flatnonzero(episode)
        kind = rng.choice(len(KINDS), size=e_idx.size, p=KIND_SHARES)
        start_back = rng.integers(EPISODE_DAYS, SPAN_DAYS, e_idx.size)
        e_rows = []
        for j, i in enumerate(e_idx):
            k = KINDS[kind[j]]
            start = epoch - np.timedelta64(int(start_back[j]), "D")
            peak = rng.uniform(180, 450)
            bili = np.geomspace(peak * 0.55, peak, EPISODE_DAYS)
            inr = np.linspace(1.6, rng.uniform(1.8, 2.5), EPISODE_DAYS)
            creat = rng.uniform(60, 130, EPISODE_DAYS)
            if k == "meld_over_30":
                inr, creat = np.linspace(2.3, 2.6, EPISODE_DAYS), rng.uniform(200, 350, EPISODE_DAYS)
            elif k == "inr_out_of_window":
                inr = np.linspace(2.8, 3.5, EPISODE_DAYS)
            first_draw = start.astype("datetime64[s]") + np.timedelta64(7 * 3600 + 60 * int(rng.integers(0, 60)), "s")
            gap = np.timedelta64(12 * 3600 if rng.random() < TWICE_DAILY_SHARE else 24 * 3600, "s")
            for d in range(EPISODE_DRAWS):
                e_rows.append((person_id[i], first_draw + d * gap, bili[d], round(float(inr[d]), 2), creat[d],
                               float(rng.integers(128, 139)), float(rng.uniform(25, 32))))  # fmt: skip
            parts["truth"].append(pa.table({
                "person_id": [int(person_id[i])], "kind": [k], "episode_start": [start.astype(datetime).isoformat()],
                "last_draw": [(first_draw + (EPISODE_DRAWS - 1) * gap).astype(datetime).isoformat()],
                "peak_bilirubin_umol_l": [round(float(peak), 1)], "chronic_liver_disease": [k != "alf"],
                "liver_cancer": [k == "liver_cancer"],
            }))  # fmt: skip
        if e_rows:
            e_person = np.array([r[0] for r in e_rows], np.int64)
            e_time = np.array([r[1] for r in e_rows], "datetime64[s]")
            draw_person = np.concatenate([draw_person, e_person])
            draw_time = np.concatenate([draw_time, e_time])
            for t, col in zip(TESTS, range(2, 7)):
                values[t] = np.concatenate([values[t], np.array([r[col] for r in e_rows], float)])
        # one row per draw and test, in the person's laboratory's units
        is_mass = mass[draw_person - first]  # person ids are contiguous within the chunk
        rows_person, rows_date, rows_code, rows_value = [], [], [], []
        for t in TESTS:
            code = np.where(is_mass, MASS[t], SUBSTANCE[t])
            v = values[t].astype(float)
            if t == "total_bilirubin":
                v = np.where(is_mass, v / BILIRUBIN_UMOL_L_PER_MG_DL, v)
            elif t == "creatinine":
                v = np.where(is_mass, v / CREATININE_UMOL_L_PER_MG_DL, v)
            elif t == "albumin":
                v = v / 10.0  # both albumin codes report g/dL
            decimals = {"inr": 2, "sodium": 0}.get(t, 2 if t in ("total_bilirubin", "creatinine") else 1)
            rows_person.append(draw_person)
            rows_date.append(draw_time)
            rows_code.append(code)
            rows_value.append(np.round(v, decimals))
        m_person, m_date = np.concatenate(rows_person), np.concatenate(rows_date)
        m_code, m_value = np.concatenate(rows_code), np.concatenate(rows_value)
        # a few typing errors: a value a thousand times too large
        typo = rng.random(m_value.size) < TYPO_SHARE
        m_value = np.where(typo, m_value * 1000, m_value)
        codes, code_index = np.unique(m_code, return_inverse=True)  # sorting integers, not strings
        order = np.lexsort((code_index, m_date, m_person))
        m_person, m_date, m_code, m_value, code_index = m_person[order], m_date[order], m_code[order], m_value[order], code_index[order]
        count = m_person.size
        code_ids = np.array([ids[c] for c in codes.tolist()], np.int64)
        code_units = np.array([UCUM.get(units[c], units[c]) for c in codes.tolist()], object)
        parts["measurement"].append(pa.table({
            "measurement_id": np.arange(next_measurement, next_measurement + count, dtype=np.int64), "person_id": m_person,
            "measurement_concept_id": code_ids[code_index],
            "measurement_date": pa.array(m_date.astype("datetime64[D]"), pa.date32()),
            "measurement_datetime": pa.array(m_date.astype("datetime64[s]"), pa.timestamp("s")),
            "measurement_type_concept_id": np.full(count, EHR, np.int64), "value_as_number": m_value,
            "unit_concept_id": np.zeros(count, np.int64), "unit_source_value": _spelled(rng, code_units[code_index]),
            "measurement_source_value": m_code,
        }))  # fmt: skip
        next_measurement += count
        # diagnoses: chronic liver disease for ACLF-type episodes (and 3% of the others), liver cancer
        chronic = np.zeros(n, bool)
        cancer = np.zeros(n, bool)
        for j, i in enumerate(e_idx):
            chronic[i] = KINDS[kind[j]] != "alf"
            cancer[i] = KINDS[kind[j]] == "liver_cancer"
        chronic |= (~episode) & (rng.random(n) < 0.03)
        c_rows = [(person_id[i], "K74.6" if rng.random() < 0.5 else "B18.1") for i in np.flatnonzero(chronic)]
        c_rows += [(person_id[i], "C22.0") for i in np.flatnonzero(cancer)]
        if c_rows:
            c_dates = epoch - rng.integers(SPAN_DAYS, 3 * SPAN_DAYS, len(c_rows)).astype("timedelta64[D]")
            parts["condition_occurrence"].append(pa.table({
                "condition_occurrence_id": np.arange(next_condition, next_condition + len(c_rows), dtype=np.int64),
                "person_id": np.array([r[0] for r in c_rows], np.int64),
                "condition_concept_id": np.array([ids[r[1]] for r in c_rows], np.int64),
                "condition_start_date": pa.array(c_dates, pa.date32()),
                "condition_type_concept_id": np.full(len(c_rows), EHR, np.int64),
                "condition_source_value": [r[1] for r in c_rows],
            }))  # fmt: skip
            next_condition += len(c_rows)
        if progress:
            progress(n)
    observation = pa.table({"observation_id": pa.array([], pa.int64()), "person_id": pa.array([], pa.int64()),
                            "observation_concept_id": pa.array([], pa.int64()), "observation_date": pa.array([], pa.date32()),
                            "value_as_number": pa.array([], pa.float64()), "value_as_string": pa.array([], pa.string()),
                            "observation_source_value": pa.array([], pa.string())})  # fmt: skip
    empty_truth = pa.table({"person_id": pa.array([], pa.int64()), "kind": pa.array([], pa.string()),
                            "episode_start": pa.array([], pa.string()), "last_draw": pa.array([], pa.string()),
                            "peak_bilirubin_umol_l": pa.array([], pa.float64()),
                            "chronic_liver_disease": pa.array([], pa.bool_()), "liver_cancer": pa.array([], pa.bool_())})  # fmt: skip
    conditions = parts["condition_occurrence"] or []
    return Extract(
        tables={"person": pa.concat_tables(parts["person"]), "measurement": pa.concat_tables(parts["measurement"]),
                "condition_occurrence": pa.concat_tables(conditions) if conditions else _empty_conditions(),
                "observation": observation, "concept": concept},
        truth=pa.concat_tables(parts["truth"]) if parts["truth"] else empty_truth,
    )  # fmt: skip


def _spelled(rng: np.random.Generator, units: np.ndarray) -> np.ndarray:
    """``units`` with VARIANT_SHARE of them spelled another way."""
    out = units.copy()
    pick = rng.random(units.size) < VARIANT_SHARE
    choice = rng.integers(0, 2, units.size)
    for unit, variants in UNIT_VARIANTS.items():
        for j, variant in enumerate(variants):
            out[pick & (units == unit) & (choice % len(variants) == j)] = variant
    return out


def _empty_conditions() -> pa.Table:
    return pa.table({"condition_occurrence_id": pa.array([], pa.int64()), "person_id": pa.array([], pa.int64()),
                     "condition_concept_id": pa.array([], pa.int64()), "condition_start_date": pa.array([], pa.date32()),
                     "condition_type_concept_id": pa.array([], pa.int64()), "condition_source_value": pa.array([], pa.string())})  # fmt: skip


def write_extract(extract: Extract, out: str | Path, fmt: str = "parquet") -> list[Path]:
    """One file per OMOP table (Parquet or CSV) and synth_truth.csv into ``out`` (created if needed)."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format: parquet or csv, got {fmt!r}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(extract.tables[name], path)
        else:
            pa_csv.write_csv(extract.tables[name], path)
        written.append(path)
    truth = folder / "synth_truth.csv"
    pa_csv.write_csv(extract.truth, truth)
    return [*written, truth]
