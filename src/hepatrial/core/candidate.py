"""The candidate file: one patient's data at a screening assessment.

Other tools rely on these field names (issue #2); keep them. A field that is
absent or null is *unknown*, never a default. Anything malformed, impossible
or from the future is refused with the field's path and the problem
(:class:`ScreeningInputError`), and no verdict is given.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from hepatrial.core.labs import LabError, accepted_unit, lab_test, to_canonical
from hepatrial.core.paths import dotted_path

#: A number given as a JSON number (not "52", not true).
Number = Annotated[float, Field(strict=True)]
Grade = Annotated[int, Field(strict=True, ge=0, le=4)]
Weeks = Annotated[float, Field(strict=True, ge=0, le=520)]


#: Timestamps before this year are refused: no patient data predates it, and
#: date arithmetic near year 1 overflows.
EARLIEST_YEAR = 1900


def _require_iso_text(value: Any) -> Any:
    """A timestamp must be ISO 8601 text: a bare number would be read as Unix seconds."""
    if not isinstance(value, str):
        raise ValueError("write the time as ISO 8601 text, e.g. 2026-11-20T07:00:00+08:00")
    return value


class ScreeningInputError(ValueError):
    """Bad candidate input: each problem names the field path and the reason."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LabResult(_Strict):
    test: str = Field(description="Test name, e.g. total_bilirubin, inr, creatinine.")
    value: Number
    unit: str | None = Field(default=None, description="Required except for INR (a ratio).")
    at: AwareDatetime = Field(description="When the sample was drawn (ISO 8601 with a UTC offset).")

    @model_validator(mode="after")
    def _known_test_unit_and_possible_value(self) -> LabResult:
        try:
            test = lab_test(self.test)
            accepted_unit(test, self.unit)
            canonical = to_canonical(self.test, self.value, self.unit)
        except LabError as err:
            raise ValueError(f"{err.field}: {err.reason}") from None
        if not test.impossible_below <= canonical <= test.impossible_above:
            hint = ""
            if canonical < test.impossible_below and len(test.accepted_units) > 1:
                hint = f"; is the unit right ({' or '.join(test.accepted_units)})?"
            shown = f"{self.value:g} {self.unit}" if self.unit else f"{self.value:g}"
            raise ValueError(
                f"value: {shown} is impossible for {test.name} "
                f"(allowed {test.impossible_below:g}-{test.impossible_above:g} {test.canonical_unit}){hint}"
            )
        return self

    @field_validator("at", mode="before")
    @classmethod
    def _time_is_text(cls, value: Any) -> Any:
        return _require_iso_text(value)

    @property
    def unit_spelled(self) -> str | None:
        """The unit in its standard spelling ('umol/l' -> 'umol/L'); None for a ratio."""
        spelled = accepted_unit(lab_test(self.test), self.unit)
        return None if spelled == "ratio" else spelled

    @property
    def canonical_value(self) -> float:
        """The value in the test's canonical unit (umol/L for bilirubin, ...)."""
        return to_canonical(self.test, self.value, self.unit)

    @property
    def canonical_unit(self) -> str:
        return lab_test(self.test).canonical_unit


class History(_Strict):
    """Conditions asked at screening: true, false, or null when not known."""

    liver_cancer: StrictBool | None = None
    active_bleeding: StrictBool | None = None
    dic: StrictBool | None = Field(default=None, description="Diffuse intravascular coagulation.")
    allergy_plasma_heparin_protamine: StrictBool | None = None
    heart_disease: StrictBool | None = None
    lung_disease: StrictBool | None = None
    blood_disease: StrictBool | None = None
    autoimmune_disease: StrictBool | None = None
    diabetes: StrictBool | None = None
    uncontrolled_infection: StrictBool | None = None


class Candidate(_Strict):
    """One candidate's screening data (the candidate file)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$", max_length=64)] = Field(
        description="Screening identifier: letters, digits and . _ : / - (no spaces or control characters)."
    )
    assessed_at: AwareDatetime = Field(description="Time of the screening assessment; labs count up to it.")
    age: Annotated[int, Field(strict=True, ge=0, le=120)] | None = Field(
        default=None, description="Age in completed years (a whole number)."
    )
    sex: Literal["male", "female"] | None = None
    presentation: Literal["ACLF", "ALF"] | None = None
    chronic_liver_disease: StrictBool | None = None
    weeks_insult_to_complication: Weeks | None = Field(
        default=None, description="ACLF: weeks from the acute insult to ascites and/or encephalopathy."
    )
    weeks_symptoms_to_encephalopathy: Weeks | None = Field(
        default=None, description="ALF: weeks from the first symptoms to the onset of encephalopathy."
    )
    encephalopathy_grade: Grade | None = Field(default=None, description="West Haven grade 0-4.")
    ascites: Literal["none", "mild", "moderate", "severe"] | None = None
    dialysis_twice_past_week: StrictBool | None = Field(
        default=None, description="Dialysis at least twice in the past 7 days, or 24 h of CVVHD (MELD rule)."
    )
    # Optional inputs of the EASL-CLIF organ failure score (not needed for eligibility).
    renal_replacement_therapy: StrictBool | None = None
    mean_arterial_pressure_mmhg: Annotated[float, Field(strict=True, gt=0, le=300)] | None = None
    vasopressors: StrictBool | None = None
    pao2_fio2: Annotated[float, Field(strict=True, gt=0, le=700)] | None = Field(
        default=None, description="PaO2 (mmHg) / FiO2 (fraction)."
    )
    spo2_fio2: Annotated[float, Field(strict=True, gt=0, le=500)] | None = Field(
        default=None, description="SpO2 (%) / FiO2 (fraction)."
    )
    labs: list[LabResult] = Field(default_factory=list)
    history: History = Field(default_factory=History)

    @field_validator("assessed_at", mode="before")
    @classmethod
    def _time_is_text(cls, value: Any) -> Any:
        return _require_iso_text(value)

    @field_validator("history", mode="before")
    @classmethod
    def _null_history_is_unknown(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("labs", mode="before")
    @classmethod
    def _null_labs_is_none(cls, value: Any) -> Any:
        return [] if value is None else value

    def labs_of(self, test: str) -> list[LabResult]:
        """This candidate's results of ``test``, oldest first."""
        return sorted((lab for lab in self.labs if lab.test == test), key=lambda lab: lab.at)


def _problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in err.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = item["msg"].removeprefix("Value error, ")
        # A model validator's message may name a sub-field ("unit: ..."): attach it to the path.
        head, sep, tail = message.partition(": ")
        if sep and head in ("test", "unit", "value", "at"):
            loc, message = loc + (head,), tail
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append((dotted_path(loc, empty="(file)"), message))
    return problems


def parse_candidate(data: Any, *, now: datetime | None = None) -> Candidate:
    """Validate ``data`` (a dict from JSON) as a candidate.

    Besides the field checks: no timestamp in the future (after ``now``), and
    no lab drawn after ``assessed_at``. Raises :class:`ScreeningInputError`.
    """
    try:
        candidate = Candidate.model_validate(data)
    except ValidationError as err:
        raise ScreeningInputError(_problems(err)) from None
    now = now or datetime.now(timezone.utc)
    problems: list[tuple[str, str]] = []
    if candidate.assessed_at > now:
        problems.append(("assessed_at", f"{candidate.assessed_at.isoformat()} is in the future"))
    if candidate.assessed_at.year < EARLIEST_YEAR:
        problems.append(("assessed_at", f"{candidate.assessed_at.isoformat()} is before {EARLIEST_YEAR}"))
    first_at: dict[tuple[str, datetime], int] = {}
    for i, lab in enumerate(candidate.labs):
        if lab.at > candidate.assessed_at:
            problems.append(
                (f"labs[{i}].at", f"{lab.at.isoformat()} is after assessed_at {candidate.assessed_at.isoformat()}")
            )
        if lab.at.year < EARLIEST_YEAR:
            problems.append((f"labs[{i}].at", f"{lab.at.isoformat()} is before {EARLIEST_YEAR}"))
        j = first_at.setdefault((lab.test, lab.at), i)
        other = candidate.labs[j]
        if j != i and other.canonical_value != lab.canonical_value:
            problems.append(
                (f"labs[{i}]", f"{lab.test} at {lab.at.isoformat()} is also labs[{j}] with another value; "
                 "which one is right cannot be told")
            )
    if problems:
        raise ScreeningInputError(problems)
    return candidate


def load_candidate(path: str | Path, *, now: datetime | None = None) -> Candidate:
    """Read and validate a candidate JSON file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not an error
    except OSError as err:
        raise ScreeningInputError([("(file)", f"cannot read {path}: {err.strerror}")]) from None
    except UnicodeDecodeError as err:
        raise ScreeningInputError([("(file)", f"not UTF-8 text: {err.reason} at byte {err.start}")]) from None
    return parse_candidate(parse_json(text), now=now)


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str) -> Any:
    """JSON text -> data, refusing what ``json.loads`` would silently accept:
    a key given twice (it keeps the last) and NaN / Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except RecursionError:
        raise ScreeningInputError([("(file)", "not valid JSON: nested too deeply")]) from None
    except _DuplicateKey as err:
        raise ScreeningInputError([(str(err), "duplicate key: given more than once in the file")]) from None
    except json.JSONDecodeError as err:
        raise ScreeningInputError([("(file)", f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}")]) from None
    except ValueError as err:
        raise ScreeningInputError([("(file)", f"not valid JSON: {err}")]) from None
