"""Where pre-screening reads a hospital's data: an OMOP CDM v5.4 extract or a flat lab table,
in a folder of Parquet/CSV files or in a database. Each source is turned into the same three
relations, which the compiled criteria read (:mod:`.compile`):

- ``raw_lab(person_id, test_id, taken_at, value, unit)``: one row per lab result of a test
  the criteria need, the value and unit as the source reports them (``test_id`` numbers the
  tests of :attr:`CompiledPlan.tests`);
- ``person(person_id, birth_year, birth_month, birth_day, sex)``;
- ``condition(person_id, field, start_date)``: a diagnosis that sets a candidate field
  (``history.liver_cancer`` ...), from the code mapping.

Times are the source's local clock times (OMOP's ``measurement_datetime`` has no time zone);
a day is a calendar day of that clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hepatrial.core.criteria.sql import quote
from hepatrial.core.prescreen.vocabulary import Vocabulary

OMOP_TABLES = ("person", "measurement", "condition_occurrence", "concept")
#: Tables a source may lack (its patients then have no diagnoses).
OPTIONAL_TABLES = ("condition_occurrence", "conditions")
FLAT_TABLES = ("labs", "patients")
#: OMOP standard concepts (Athena): gender MALE / FEMALE.
OMOP_MALE, OMOP_FEMALE = 8507, 8532


class SourceError(ValueError):
    """A source that cannot be read: names the file, table or column and the problem."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Source:
    """A source of pre-screening data.

    ``kind`` is ``omop`` or ``flat``. ``tables`` maps each table name to what the SQL reads
    (``read_parquet('...')`` for a file, a (schema-qualified) table name in a database).
    """

    kind: str
    tables: dict[str, str]
    label: str
    schema: str | None = None  # a database source's schema (None: the default one)

    @classmethod
    def folder(cls, path: str | Path) -> Source:
        """The tables of a folder: ``person.parquet`` or ``person.csv`` ... (OMOP), or
        ``labs`` and ``patients`` (flat). The kind is told by the files present."""
        folder = Path(path)
        if not folder.is_dir():
            raise SourceError(str(folder), "is not a folder")
        if set("*?[]{}'") & set(str(folder.resolve())):
            raise SourceError(str(folder), "a folder name with * ? [ ] { } or ' would be read as a pattern; rename it")
        found: dict[str, str] = {}
        for name in (*OMOP_TABLES, *FLAT_TABLES, "conditions"):
            for ext, reader in (("parquet", "read_parquet"), ("csv", "read_csv")):
                file = folder / f"{name}.{ext}"
                if file.is_file():
                    options = ", header = true, auto_detect = true" if ext == "csv" else ""
                    found[name] = f"{reader}({quote(str(file.resolve()))}{options})"
                    break
        if "measurement" in found or "person" in found:
            missing = [t for t in OMOP_TABLES if t not in found and t != "condition_occurrence"]
            if missing:
                raise SourceError(str(folder), f"an OMOP extract needs {', '.join(m + '.parquet or .csv' for m in missing)}")
            return cls("omop", found, f"OMOP extract {folder}")
        if "labs" in found:
            if "patients" not in found:
                raise SourceError(str(folder), "a flat lab table needs patients.parquet or patients.csv beside labs")
            return cls("flat", found, f"lab table {folder}")
        raise SourceError(str(folder), "holds neither an OMOP extract (person, measurement, concept) "
                                       "nor a flat lab table (labs, patients), as .parquet or .csv")  # fmt: skip

    @classmethod
    def database(cls, kind: str, schema: str | None = None) -> Source:
        """The tables of a database schema (``schema.measurement`` ...)."""
        if kind not in ("omop", "flat"):
            raise SourceError("--source-kind", f"omop or flat, got {kind!r}")
        if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", schema):
            raise SourceError("--schema", f"{schema!r} is not a plain schema name (letters, digits, _)")
        prefix = f'"{schema}".' if schema else ""
        names = OMOP_TABLES if kind == "omop" else (*FLAT_TABLES, "conditions")
        return cls(kind, {name: f"{prefix}{name}" for name in names}, f"{kind} tables in {schema or 'the default schema'}",
                   schema)  # fmt: skip

    # --- the three relations -------------------------------------------------------------
    @property
    def files(self) -> bool:
        """A folder of files (read by DuckDB), rather than a database's tables."""
        return any(table.startswith("read_") for table in self.tables.values())

    def without(self, *names: str) -> Source:
        """The same source without the (optional) tables ``names``."""
        return Source(self.kind, {k: v for k, v in self.tables.items() if k not in names}, self.label, self.schema)

    def _cast(self, column: str, type_: str) -> str:
        # a file's bad value (a censored "<10", a typed date) is left out, not the run stopped
        return f"{'TRY_CAST' if self.files else 'CAST'}({column} AS {type_})"

    def raw_lab(self, tests: tuple[str, ...], vocabulary: Vocabulary) -> str:
        ids = {test: i + 1 for i, test in enumerate(tests)}
        if self.kind == "flat":
            cases = " ".join(f"WHEN {quote(t)} THEN {i}" for t, i in ids.items())
            names = ", ".join(quote(t) for t in tests)
            rows = (f"SELECT patient_id AS person_id, CASE test {cases} END AS test_id, "
                    f"{self._cast('taken_at', 'TIMESTAMP')} AS taken_at, {self._cast('value', 'DOUBLE')} AS value, "
                    f"CAST(unit AS VARCHAR) AS unit FROM {self.tables['labs']} WHERE test IN ({names})")  # fmt: skip
            return (f"SELECT * FROM ({rows}) AS rows "
                    f"WHERE person_id IS NOT NULL AND value IS NOT NULL AND taken_at IS NOT NULL")  # fmt: skip
        codes = [c for c in vocabulary.labs if c.test in ids]
        if not codes:
            return ("SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS INTEGER) AS test_id, CAST(NULL AS TIMESTAMP) "
                    "AS taken_at, CAST(NULL AS DOUBLE) AS value, CAST(NULL AS VARCHAR) AS unit WHERE FALSE")  # fmt: skip
        test_case = " ".join(f"WHEN {quote(c.loinc)} THEN {ids[c.test]}" for c in codes)
        unit_case = " ".join(f"WHEN {quote(c.loinc)} THEN {quote(c.unit)}" for c in codes)
        loincs = ", ".join(quote(c.loinc) for c in codes)
        code = (f"SELECT concept_id, CASE concept_code {test_case} END AS test_id, CASE concept_code {unit_case} END AS code_unit "
                f"FROM {self.tables['concept']} WHERE vocabulary_id = 'LOINC' AND concept_code IN ({loincs})")  # fmt: skip
        taken_at = "COALESCE(m.measurement_datetime, CAST(m.measurement_date AS TIMESTAMP))"
        return (f"SELECT m.person_id AS person_id, c.test_id AS test_id, {taken_at} AS taken_at, "
                f"CAST(m.value_as_number AS DOUBLE) AS value, COALESCE(NULLIF(m.unit_source_value, ''), c.code_unit) AS unit "
                f"FROM {self.tables['measurement']} AS m JOIN ({code}) AS c ON c.concept_id = m.measurement_concept_id "
                f"WHERE m.value_as_number IS NOT NULL AND m.person_id IS NOT NULL AND {taken_at} IS NOT NULL")  # fmt: skip

    def person(self) -> str:
        if self.kind == "flat":
            return (f"SELECT patient_id AS person_id, CAST(EXTRACT(YEAR FROM CAST(birth_date AS DATE)) AS INTEGER) AS birth_year, "
                    f"CAST(EXTRACT(MONTH FROM CAST(birth_date AS DATE)) AS INTEGER) AS birth_month, "
                    f"CAST(EXTRACT(DAY FROM CAST(birth_date AS DATE)) AS INTEGER) AS birth_day, "
                    f"CASE lower(CAST(sex AS VARCHAR)) WHEN 'male' THEN 'male' WHEN 'female' THEN 'female' END AS sex "
                    f"FROM {self.tables['patients']} WHERE patient_id IS NOT NULL")  # fmt: skip
        return (f"SELECT person_id, CAST(year_of_birth AS INTEGER) AS birth_year, CAST(month_of_birth AS INTEGER) AS birth_month, "
                f"CAST(day_of_birth AS INTEGER) AS birth_day, "
                f"CASE gender_concept_id WHEN {OMOP_MALE} THEN 'male' WHEN {OMOP_FEMALE} THEN 'female' END AS sex "
                f"FROM {self.tables['person']} WHERE person_id IS NOT NULL")  # fmt: skip

    def condition(self, vocabulary: Vocabulary) -> str | None:
        """Diagnoses that set a candidate field, or None when the source has no diagnoses."""
        if not vocabulary.conditions:
            return None
        if self.kind == "flat":
            if "conditions" not in self.tables:
                return None
            table, person, code, start = self.tables["conditions"], "patient_id", "code", "start_date"
        else:
            if "condition_occurrence" not in self.tables:
                return None
            table, person, start = self.tables["condition_occurrence"], "person_id", "condition_start_date"
            code = "condition_source_value"
        arms = [
            f"SELECT {person} AS person_id, {quote(c.field)} AS field, CAST({start} AS DATE) AS start_date "
            f"FROM {table} WHERE {person} IS NOT NULL AND upper({code}) LIKE {quote(c.icd10.upper() + '%')}"
            for c in vocabulary.conditions
        ]
        return " UNION ALL ".join(arms)
