"""The synthetic OMOP extract (core.prescreen.synth) and the code mapping it uses
(core.prescreen.vocabulary): reproducible, shaped as documented, every code mapped, the
seeded episodes where synth_truth.csv says, readable by DuckDB."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest

from hepatrial.core.prescreen.synth import DRAWS, EPISODE_DAYS, TESTS, UCUM, synthesize, write_extract
from hepatrial.core.prescreen.vocabulary import VocabularyError, default_vocabulary, load_vocabulary
from hepatrial.core.units import BILIRUBIN_UMOL_L_PER_MG_DL, CREATININE_UMOL_L_PER_MG_DL, normalize_unit

END = date(2026, 11, 1)


@pytest.fixture(scope="module")
def extract():
    return synthesize(3000, seed=7, end=END, chunk=1000)


@pytest.fixture(scope="module")
def db(extract, tmp_path_factory):
    folder = tmp_path_factory.mktemp("omop")
    write_extract(extract, folder)
    con = duckdb.connect()
    for name in ("person", "measurement", "condition_occurrence", "concept"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder / (name + '.parquet')}')")
    con.execute(f"CREATE VIEW truth AS SELECT * FROM read_csv_auto('{folder / 'synth_truth.csv'}')")
    return con


def test_the_same_seed_gives_the_same_extract_and_another_seed_another(extract):
    again = synthesize(3000, seed=7, end=END, chunk=1000)
    assert all(again.tables[name].equals(extract.tables[name]) for name in extract.tables) and again.truth.equals(extract.truth)
    assert not synthesize(3000, seed=8, end=END, chunk=1000).tables["measurement"].equals(extract.tables["measurement"])


def test_shape_about_40_lab_rows_a_person_over_two_years(db, extract):
    episodes = extract.truth.num_rows
    rows, persons, first, last = db.execute(
        "SELECT count(*), count(DISTINCT person_id), min(measurement_date), max(measurement_date) FROM measurement").fetchone()
    assert persons == 3000 and rows == 3000 * DRAWS * len(TESTS) + episodes * EPISODE_DAYS * len(TESTS)
    assert last <= END and (END - first).days < 730 + 1
    assert 0.01 < episodes / 3000 < 0.03  # 2% seeded
    minors = db.execute("SELECT count(*) FROM person WHERE year_of_birth > 2008").fetchone()[0]
    assert minors > 0  # a few under 18: the age criterion has something to refuse


def test_every_code_is_mapped_and_the_concept_table_agrees(db):
    vocabulary = default_vocabulary()
    bad = db.execute("""SELECT count(*) FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
                        WHERE c.vocabulary_id <> 'LOINC' OR c.concept_code <> m.measurement_source_value""").fetchone()[0]
    assert bad == 0
    spellings = db.execute("SELECT measurement_source_value, unit_source_value, count(*) FROM measurement GROUP BY ALL").fetchall()
    total = sum(n for *_k, n in spellings)
    other = 0
    for code, unit, n in spellings:
        lab = vocabulary.lab(code)
        assert lab is not None and normalize_unit(UCUM.get(lab.unit, lab.unit)) == normalize_unit(unit), code
        other += n if unit != UCUM.get(lab.unit, lab.unit) else 0
    assert 0.005 < other / total < 0.04  # about 2% spelled another way (umol/l, MG/DL ...)


def test_the_seeded_episodes_are_in_the_labs(db):
    """The last draw of each episode: bilirubin >= 171 umol/L (either unit), INR as the kind says."""
    rows = db.execute(f"""
        WITH last_day AS (SELECT t.person_id, t.kind, CAST(t.last_draw AS TIMESTAMP) AS at FROM truth t)
        SELECT l.kind,
               max(CASE WHEN m.measurement_source_value = '1975-2' THEN m.value_as_number * {BILIRUBIN_UMOL_L_PER_MG_DL}
                        WHEN m.measurement_source_value = '14631-6' THEN m.value_as_number END) AS bili,
               max(CASE WHEN m.measurement_source_value = '6301-6' THEN m.value_as_number END) AS inr,
               max(CASE WHEN m.measurement_source_value = '2160-0' THEN m.value_as_number * {CREATININE_UMOL_L_PER_MG_DL}
                        WHEN m.measurement_source_value = '14682-9' THEN m.value_as_number END) AS creat
        FROM last_day l JOIN measurement m ON m.person_id = l.person_id AND m.measurement_datetime = l.at
        GROUP BY l.person_id, l.kind""").fetchall()  # fmt: skip
    assert len(rows) == db.execute("SELECT count(*) FROM truth").fetchone()[0]
    assert all(bili >= 171 for _k, bili, _i, _c in rows)
    for kind, _bili, inr, creat in rows:
        if kind in ("aclf", "alf", "liver_cancer"):
            assert 1.5 <= inr <= 2.6 and creat < 140
        elif kind == "meld_over_30":
            assert inr >= 2.3 and creat >= 200
        else:
            assert inr > 2.6


def test_diagnoses_follow_the_episode_kind(db):
    by_kind = dict(db.execute("""
        SELECT t.kind, list(DISTINCT substr(c.condition_source_value, 1, 3)) FROM truth t
        LEFT JOIN condition_occurrence c ON c.person_id = t.person_id GROUP BY t.kind""").fetchall())  # fmt: skip
    assert "C22" in by_kind["liver_cancer"] and not {"K74", "B18"} & set(x for x in by_kind["alf"] if x)
    assert {"K74", "B18"} & set(by_kind["aclf"])


def test_a_csv_extract_too(tmp_path):
    paths = write_extract(synthesize(50, seed=1, end=END), tmp_path, "csv")
    assert [p.name for p in paths][-1] == "synth_truth.csv"
    assert duckdb.connect().execute(f"SELECT count(DISTINCT person_id) FROM read_csv_auto('{tmp_path / 'person.csv'}')").fetchone()[0] == 50


@pytest.mark.parametrize(("text", "where"), [
    ("labs: [{loinc: '1975-2', test: bilirubin, unit: mg/dL}]\nconditions: []", "unknown lab test 'bilirubin'"),
    ("labs: [{loinc: '2160-0', test: total_bilirubin, unit: mg/dL}]\nconditions: []", "LOINC 2160-0 is not one of total_bilirubin"),
    ("labs: [{loinc: '1975-2', test: total_bilirubin, unit: g/L}]\nconditions: []", "labs[0]: total_bilirubin is not reported in g/L"),
    ("labs: []\nconditions: [{icd10: C22, field: history.cancer}]", "unknown field 'history.cancer'"),
    ("labs: {}", "needs the lists"),
])  # fmt: skip
def test_a_wrong_vocabulary_row_is_named(tmp_path, text, where):
    path = tmp_path / "v.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(where)):
        load_vocabulary(path)


def test_icd10_prefixes():
    v = default_vocabulary()
    assert v.condition_fields("c22.0") == {"history.liver_cancer"} and v.condition_fields("K74.60") == {"chronic_liver_disease"}
    assert v.condition_fields("K70.3") == set()
