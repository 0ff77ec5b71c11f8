"""The OMOP code mapping of pre-screening (omop_vocabulary.yaml): LOINC codes to hepatrial's
lab tests and units, ICD-10 code prefixes to candidate fields. Loaded and checked against
hepatrial's lab catalogue (core.labs) and candidate model (core.candidate), so a wrong row
is an error naming it, not a silently unmatched code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from hepatrial.core.candidate import Candidate, History
from hepatrial.core.criteria.vocabulary import candidate_fields
from hepatrial.core.labs import LAB_TESTS, LabError, accepted_unit

DEFAULT_FILE = Path(__file__).with_name("omop_vocabulary.yaml")


class VocabularyError(ValueError):
    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class LabCode:
    loinc: str
    test: str  # a key of core.labs.LAB_TESTS
    unit: str  # the unit the code reports in (hepatrial's spelling)


@dataclass(frozen=True)
class ConditionCode:
    icd10: str  # a code or a prefix: C22 matches C22.0 and C22.9
    field: str  # history.<name> or chronic_liver_disease


@dataclass(frozen=True)
class Assumption:
    """A value pre-screening takes for a field the data cannot hold, and why it is safe."""

    field: str
    value: bool
    why: str


@dataclass(frozen=True)
class Vocabulary:
    labs: tuple[LabCode, ...]
    conditions: tuple[ConditionCode, ...]
    assumptions: tuple[Assumption, ...] = ()

    def lab(self, loinc: str) -> LabCode | None:
        return next((c for c in self.labs if c.loinc == loinc), None)

    def condition_fields(self, icd10: str) -> set[str]:
        """The candidate fields an ICD-10 code sets (every matching prefix)."""
        code = icd10.strip().upper()
        return {c.field for c in self.conditions if code.startswith(c.icd10.upper())}


def load_vocabulary(path: str | Path = DEFAULT_FILE) -> Vocabulary:
    where = Path(path).name
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise VocabularyError(where, f"cannot be read: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("labs"), list) or not isinstance(data.get("conditions"), list):
        raise VocabularyError(where, "needs the lists 'labs' and 'conditions'")
    unknown = set(data) - {"labs", "conditions", "assume"}
    if unknown:
        raise VocabularyError(where, f"unknown section {', '.join(sorted(unknown))}; known: labs, conditions, assume")
    labs = []
    for i, row in enumerate(data["labs"]):
        at = f"{where} labs[{i}]"
        if not isinstance(row, dict) or set(row) != {"loinc", "test", "unit"}:
            raise VocabularyError(at, "needs exactly loinc, test and unit")
        if row["test"] not in LAB_TESTS:
            raise VocabularyError(at, f"unknown lab test {row['test']!r}; known: {', '.join(LAB_TESTS)}")
        try:
            unit = accepted_unit(LAB_TESTS[row["test"]], str(row["unit"]))
        except LabError as err:
            raise VocabularyError(at, err.reason) from None
        if str(row["loinc"]) not in LAB_TESTS[row["test"]].loinc:
            raise VocabularyError(at, f"LOINC {row['loinc']} is not one of {row['test']}'s codes in core.labs "
                                      f"({', '.join(LAB_TESTS[row['test']].loinc)})")  # fmt: skip
        labs.append(LabCode(str(row["loinc"]), row["test"], unit))
    if len({c.loinc for c in labs}) != len(labs):
        raise VocabularyError(where, "a LOINC code is listed twice")
    fields = {f"history.{name}" for name in History.model_fields} | {n for n in Candidate.model_fields if n == "chronic_liver_disease"}
    conditions = []
    for i, row in enumerate(data["conditions"]):
        at = f"{where} conditions[{i}]"
        if not isinstance(row, dict) or set(row) != {"icd10", "field"}:
            raise VocabularyError(at, "needs exactly icd10 and field")
        if row["field"] not in fields:
            raise VocabularyError(at, f"unknown field {row['field']!r}; known: {', '.join(sorted(fields))}")
        conditions.append(ConditionCode(str(row["icd10"]), row["field"]))
    assumptions = []
    boolean_fields = {name for name, type_ in candidate_fields().items() if type_.kind == "bool"}
    for i, row in enumerate(data.get("assume") or []):
        at = f"{where} assume[{i}]"
        if not isinstance(row, dict) or set(row) != {"field", "value", "why"}:
            raise VocabularyError(at, "needs exactly field, value and why")
        if row["field"] not in boolean_fields:
            raise VocabularyError(at, f"{row['field']!r} is not a yes/no field of the candidate file; "
                                      f"known: {', '.join(sorted(boolean_fields))}")  # fmt: skip
        if not isinstance(row["value"], bool) or not str(row["why"]).strip():
            raise VocabularyError(at, "value must be true or false, and why must say why the value is safe")
        if row["field"] in {c.field for c in conditions}:
            raise VocabularyError(at, f"{row['field']} is set by diagnoses (conditions); it cannot also be assumed")
        assumptions.append(Assumption(row["field"], row["value"], " ".join(str(row["why"]).split())))
    return Vocabulary(tuple(labs), tuple(conditions), tuple(assumptions))


@cache
def default_vocabulary() -> Vocabulary:
    return load_vocabulary()
