"""A trial protocol as data: the frozen model, and the YAML loader with clear errors.

Every problem in a protocol file is reported with its YAML path, its line and
the reason (:class:`ProtocolError`). Besides the schema: duplicate keys are
refused (YAML would silently keep the last one), every rule must parse and
type-check against the candidate vocabulary, ids must be unique and
references must resolve.

Inside ``arms``, ``interventions`` and ``visits`` a scalar written ``${name}``
stands for the value of protocol parameter ``name``, so a resolved ambiguity
(dose, schedule, control infusion, dosing window) is written once, in
``parameters``, with its rationale.

The eCRF side of the trial is data too: ``consent_documents`` (the versions of
the consent form), ``forms`` (fields with types, units, hard and plausible
ranges), ``visits`` (the schedule, with windows and dosing visits, checked
against ``parameters.dosing_days``) and ``edit_checks`` (rule-language
conditions over one form's fields, checked at load).

``randomization`` says how allocation lists are made (arms, ratio, the
stratification field and its strata, block sizes); the lists themselves are
``hepatrial.core.randomization``.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hepatrial.core.criteria.ast import Node
from hepatrial.core.criteria.check import (
    BOOL,
    DATE,
    DATETIME,
    NUMBER,
    STRING,
    Type,
    Vocabulary,
    bind,
)
from hepatrial.core.criteria.parser import KEYWORDS, RuleError
from hepatrial.core.criteria.vocabulary import candidate_fields, candidate_vocabulary
from hepatrial.core.labs import LAB_TESTS, LabError, accepted_unit
from hepatrial.core.paths import dotted_path
from hepatrial.core.units import UnitError, convert, normalize_unit

Id = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)]
Text = Annotated[str, Field(min_length=1)]


class ProtocolError(ValueError):
    """Problems in a protocol file: (YAML path, line or None, reason) each."""

    def __init__(self, source: str, problems: list[tuple[str, int | None, str]]):
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        for path, line, reason in self.problems:
            where = f"line {line}: " if line else ""
            lines.append(f"  {where}{path}: {reason}")
        return "\n".join(lines)


def display_number(value: float) -> str:
    """1e10 rather than 10000000000.0; 17.1 and 100 as written."""
    if isinstance(value, float) and abs(value) >= 1e6:
        return f"{value:.6g}".replace("e+", "e")
    return f"{value:g}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identifiers(_Model):
    nct_id: Annotated[str, Field(pattern=r"^NCT\d{8}$")]
    org_study_id: Text | None = None
    secondary: list[Text] = []


class Sponsor(_Model):
    name: Text
    site: Text | None = None
    funder_type: Text | None = None


class Design(_Model):
    primary_purpose: Text
    allocation: Literal["Randomized", "Non-Randomized", "N/A"]
    intervention_model: Text
    masking: Text
    healthy_volunteers: bool


class Enrollment(_Model):
    planned_total: Annotated[int, Field(ge=1)]
    actual: Annotated[int, Field(ge=0)] | None = None
    note: Text | None = None


class Eligibility(_Model):
    sex: Literal["All", "Female", "Male"]
    min_age_years: Annotated[float, Field(ge=0, le=120)]
    max_age_years: Annotated[float, Field(ge=0, le=120)]

    @model_validator(mode="after")
    def _ages_in_order(self) -> Eligibility:
        if self.min_age_years > self.max_age_years:
            raise ValueError("min_age_years is above max_age_years")
        return self


class Component(_Model):
    id: Id
    text: Text


class Dose(_Model):
    product: Text
    particles: Annotated[float, Field(gt=0)] | None = None
    volume_ml: Annotated[float, Field(gt=0)]


class Schedule(_Model):
    days: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    description: Text

    @model_validator(mode="after")
    def _days_increase(self) -> Schedule:
        if any(b <= a for a, b in zip(self.days, self.days[1:])):
            raise ValueError("days must increase")
        return self


class Intervention(_Model):
    id: Id
    type: Literal["Biological", "Drug", "Device", "Procedure", "Other", "Standard of care"]
    name: Text
    description: Text
    dose: Dose | None = None
    route: Text | None = None
    schedule: Schedule | None = None
    setting: Text | None = None


class Arm(_Model):
    id: Id
    label: Text
    type: Literal["Experimental", "Active Comparator", "Placebo Comparator", "Sham Comparator", "No Intervention", "Other"]
    description: Text = Field(description="The registry's words, verbatim.")
    planned_enrollment: Annotated[int, Field(ge=1)]
    interventions: list[Id] = Field(min_length=1)
    note: Text | None = None


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


# Strict members: YAML has typed scalars, and a 1 must stay 1 (lax bool would make it True).
ParamValue = StrictBool | StrictInt | StrictFloat | StrictStr | list[StrictInt] | list[StrictFloat]


class Parameter(_Model):
    """A protocol setting; where the registry text is ambiguous or contradicts
    itself, the chosen value, the page's conflicting words, and why."""

    value: ParamValue
    unit: str | None = None
    rationale: Text
    registry_says: list[Text] = []

    @model_validator(mode="after")
    def _unit_known(self) -> Parameter:
        if isinstance(self.value, str) and _looks_numeric(self.value):
            raise ValueError(f"value: {self.value!r} is text that looks like a number; write it as a number")
        if self.unit is not None and isinstance(self.value, str):
            raise ValueError("unit: a text value has no unit")
        if self.unit is not None:
            try:
                normalize_unit(self.unit)
            except UnitError as err:
                raise ValueError(f"unit: {err.reason}") from None
        return self

    @property
    def display(self) -> str:
        values = self.value if isinstance(self.value, list) else [self.value]
        value = ", ".join(display_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for v in values)
        return f"{value} {self.unit}" if self.unit else value


class ScreeningSettings(_Model):
    """How screening reads a candidate's lab history (all times in hours)."""

    lookback_hours: Annotated[float, Field(strict=True, gt=0, le=24 * 90)] = Field(
        default=72, description="A result counts as 'latest' if drawn at most this long before the assessment."
    )
    daily_rise_min_hours: Annotated[float, Field(strict=True, gt=0)] = Field(
        default=12, description="daily_rise() compares with a previous result at least this much older..."
    )
    daily_rise_max_hours: Annotated[float, Field(strict=True, gt=0, le=24 * 90)] = Field(
        default=168, description="...and at most this much older, scaled to 24 h."
    )

    @model_validator(mode="after")
    def _window_in_order(self) -> ScreeningSettings:
        if self.daily_rise_min_hours >= self.daily_rise_max_hours:
            raise ValueError("daily_rise_min_hours must be below daily_rise_max_hours")
        return self


class Definition(_Model):
    rule: Text
    text: Text | None = Field(default=None, description="What it means, in words.")


class Criterion(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9_.-]*$", max_length=20)]
    text: Text = Field(description="The registry page's words, verbatim.")
    rule: Text
    note: Text | None = Field(default=None, description="How the rule reads the text, where it is not literal.")


class Criteria(_Model):
    inclusion: list[Criterion] = Field(min_length=1)
    exclusion: list[Criterion] = []


class Source(_Model):
    registry: Text
    retrieved: date | None = None
    file: Text | None = None


# --- consent, forms, visits, edit checks -----------------------------------------------------

class ConsentDocument(_Model):
    """One version of the informed-consent document."""

    version: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    title: Text
    effective: date
    current: StrictBool = Field(
        default=False, description="The version in use; without any flag, the last document is current."
    )
    note: Text | None = None


FieldType = Literal["number", "integer", "text", "choice", "boolean", "date", "datetime"]
NUMERIC_FIELD_TYPES = ("number", "integer")
#: Names every edit check may use besides the form's fields (see docs/rule-language.md).
FORM_CONTEXT: dict[str, Type] = {
    # The date of the visit the form belongs to.
    "visit_date": DATE,
    # Days from the anchor (randomization, day 0) to the visit; null before randomization.
    "visit_day": NUMBER,
}
_RESERVED_FIELD_IDS = set(FORM_CONTEXT) | KEYWORDS | {"params"}
FieldId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Choice(_Model):
    value: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    label: Text


class FieldSpec(_Model):
    """One field of an eCRF form.

    ``min``/``max`` are hard limits (a value outside is refused);
    ``plausible_min``/``plausible_max`` soft ones (the value is saved and a
    data query opened). Both in the field's ``unit``, both inclusive.
    """

    id: FieldId
    label: Text
    type: FieldType
    unit: str | None = None
    lab_test: str | None = Field(default=None, description="A test of hepatrial.core.labs.LAB_TESTS.")
    required: StrictBool = False
    min: Number | None = None
    max: Number | None = None
    plausible_min: Number | None = None
    plausible_max: Number | None = None
    choices: list[Choice] | None = None
    choices_from: Literal["ctcae_v5"] | None = Field(
        default=None, description="Take the choices from a catalogue: ctcae_v5 = the CTCAE v5.0 terms of hepatrial.core.safety."
    )
    help: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _catalogue_choices(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("choices_from") == "ctcae_v5":
            if data.get("choices") is not None:
                raise ValueError("choices: give choices or choices_from, not both")
            from hepatrial.core.safety.ctcae_terms import CTCAE_TERMS

            return {**data, "choices": [{"value": t.term, "label": f"{t.term} ({t.soc})"} for t in CTCAE_TERMS]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        numeric = self.type in NUMERIC_FIELD_TYPES
        if self.id in _RESERVED_FIELD_IDS:
            raise ValueError(f"id: {self.id!r} is reserved in edit-check rules; choose another id")
        if self.type == "choice":
            if not self.choices:
                raise ValueError("choices: a choice field needs at least one choice")
            values = [c.value for c in self.choices]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"choices: duplicate value {dupes[0]!r}")
        elif self.choices is not None:
            raise ValueError(f"choices: only a choice field has choices, not a {self.type} field")
        bounds = ("min", "max", "plausible_min", "plausible_max")
        if not numeric:
            given = [b for b in bounds if getattr(self, b) is not None]
            if given:
                raise ValueError(f"{given[0]}: only a number or integer field has a range, not a {self.type} field")
            if self.unit is not None:
                raise ValueError(f"unit: only a number or integer field has a unit, not a {self.type} field")
        if self.lab_test is not None:
            if self.type != "number":
                raise ValueError(f"lab_test: a lab result is a number field, not a {self.type} field")
            test = LAB_TESTS.get(self.lab_test)
            if test is None:
                raise ValueError(f"lab_test: unknown lab test {self.lab_test!r}; known: {', '.join(LAB_TESTS)}")
            try:
                accepted_unit(test, self.unit)
            except LabError as err:
                raise ValueError(f"unit: {err.reason}") from None
        elif self.unit is not None:
            try:
                normalize_unit(self.unit)
            except UnitError as err:
                raise ValueError(f"unit: {err.reason}") from None
        if self.type == "integer":
            for b in bounds:
                value = getattr(self, b)
                if value is not None and not float(value).is_integer():
                    raise ValueError(f"{b}: an integer field's limit must be a whole number, not {value:g}")
        for low, high in (("min", "max"), ("plausible_min", "plausible_max"), ("min", "plausible_min"),
                          ("plausible_max", "max"), ("min", "plausible_max"), ("plausible_min", "max")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} ({a:g}) is above {high} ({b:g})")
        if self.lab_test is not None:
            test = LAB_TESTS[self.lab_test]
            lo, hi = (convert(v, test.canonical_unit, self.canonical_unit, test.name) for v in (test.impossible_below, test.impossible_above))
            if self.min is not None and self.min < lo:
                raise ValueError(f"min: {self.min:g} is below what is possible for {test.name} ({lo:g} {self.unit_label})")
            if self.max is not None and self.max > hi:
                raise ValueError(f"max: {self.max:g} is above what is possible for {test.name} ({hi:g} {self.unit_label})")
        return self

    @property
    def canonical_unit(self) -> str | None:
        """The unit's canonical spelling ('ratio' for a dimensionless lab test without one)."""
        if self.lab_test is not None:
            return accepted_unit(LAB_TESTS[self.lab_test], self.unit)
        return normalize_unit(self.unit) if self.unit else None

    @property
    def unit_label(self) -> str:
        """The unit as shown after a value ('' for none or a ratio)."""
        unit = self.canonical_unit
        return "" if unit in (None, "ratio") else unit

    @property
    def hard_range(self) -> tuple[float | None, float | None]:
        """(min, max) refused outside; a lab field without limits gets the test's impossible bounds."""
        low, high = self.min, self.max
        if self.lab_test is not None:
            test = LAB_TESTS[self.lab_test]
            if low is None:
                low = convert(test.impossible_below, test.canonical_unit, self.canonical_unit, test.name)
            if high is None:
                high = convert(test.impossible_above, test.canonical_unit, self.canonical_unit, test.name)
        return low, high

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices or ())

    def rule_type(self) -> Type:
        """The field's type in an edit-check rule."""
        if self.type in NUMERIC_FIELD_TYPES:
            unit = self.canonical_unit
            if self.lab_test is not None:
                return Type("quantity", unit=unit, analyte=self.lab_test)
            if unit is not None and unit != "ratio":
                return Type("quantity", unit=unit)
            return NUMBER
        if self.type == "choice":
            return Type("string", enum=self.choice_values)
        return {"text": STRING, "boolean": BOOL, "date": DATE, "datetime": DATETIME}[self.type]


class FormSpec(_Model):
    """An eCRF form: its fields, in display order."""

    id: FieldId
    title: Text
    description: Text | None = None
    fields: list[FieldSpec] = Field(min_length=1)

    def field(self, field_id: str) -> FieldSpec:
        return next(f for f in self.fields if f.id == field_id)

    def has_field(self, field_id: str) -> bool:
        return any(f.id == field_id for f in self.fields)


class VisitSpec(_Model):
    """A visit of the schedule; ``day`` counts from the anchor (randomization = day 0).

    ``unscheduled`` visits and ``log`` forms (an adverse event log) repeat, with
    no day and no window; a log's date is the date an entry was recorded."""

    id: Id
    label: Text
    kind: Literal["screening", "scheduled", "unscheduled", "log"]
    day: StrictInt | None = None
    window_before_days: Annotated[StrictInt, Field(ge=0)] = 0
    window_after_days: Annotated[StrictInt, Field(ge=0)] = 0
    forms: list[FieldId] = Field(min_length=1)
    dose: StrictBool = Field(default=False, description="A dosing visit: the arm's infusion is given.")

    @model_validator(mode="after")
    def _by_kind(self) -> VisitSpec:
        if self.kind == "scheduled":
            if self.day is None:
                raise ValueError("day: a scheduled visit needs its day (days from randomization)")
            if self.day < 0:
                raise ValueError("day: a scheduled visit is on or after day 0 (randomization)")
            if self.window_before_days > self.day:
                raise ValueError(f"window_before_days: {self.window_before_days} would open the window before day 0")
        else:
            if self.day is not None:
                raise ValueError(f"day: a {self.kind} visit has no day (write it as a scheduled visit)")
            if self.window_before_days or self.window_after_days:
                raise ValueError(f"window_before_days: a {self.kind} visit has no window")
            if self.dose:
                raise ValueError(f"dose: a dosing visit must be a scheduled visit, not a {self.kind} one")
        return self


class EditCheck(_Model):
    """A condition over one form's values; a data query opens when it is definitely false."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
    form: FieldId
    field: FieldId = Field(description="The field the resulting query is attached to.")
    severity: Literal["hard", "soft"]
    rule: Text = Field(description="A rule-language condition that must hold, over the form's field ids.")
    message: Text


# --- dosing -------------------------------------------------------------------------------------

class DosingSpec(_Model):
    """Which form records a study infusion, and the product each arm receives.

    The form is collected at the dosing visits (``dose: true``) and only there;
    ``given_field`` is its boolean "infusion given", ``product_field`` a choice
    whose values include every product of ``products`` (arm id -> product
    value), ``start_field`` the date-time the infusion starts: its date is the
    dose's date, checked against the visit's window.
    """

    form: FieldId
    given_field: FieldId
    product_field: FieldId
    start_field: FieldId
    products: dict[Id, Annotated[StrictStr, Field(min_length=1, max_length=60)]] = Field(
        min_length=1, description="Arm id -> the product_field value that arm receives."
    )


# --- safety: metrics and the DSMB's stopping rules ---------------------------------------------

class SafetyMetric(_Model):
    """A number the stopping rules use, computed from the trial's records.

    ``adverse_events``: how many adverse events match (arm, minimum grade,
    terms, relationships, seriousness; an unset filter matches all).
    ``deaths``: how many randomized subjects (of ``arm``) died by ``by_day``.
    ``mortality_excess``: the proportion of ``arm``'s randomized subjects dead
    by ``by_day`` minus that of ``versus``'s (e.g. 0.25 = 25 points more).
    """

    label: Text
    kind: Literal["adverse_events", "deaths", "mortality_excess"]
    arm: Id | None = None
    versus: Id | None = None
    min_grade: Annotated[StrictInt, Field(ge=1, le=5)] | None = None
    terms: list[Text] = []
    relationships: list[Id] = []
    serious: StrictBool | None = None
    by_day: Annotated[StrictInt, Field(ge=0, le=3650)] | None = None

    @model_validator(mode="after")
    def _fits_kind(self) -> SafetyMetric:
        ae_only = ("min_grade", "terms", "relationships", "serious")
        if self.kind != "adverse_events":
            given = [f for f in ae_only if getattr(self, f) not in (None, [])]
            if given:
                raise ValueError(f"{given[0]}: only an adverse_events metric filters events, not a {self.kind} metric")
        elif self.by_day is not None:
            raise ValueError("by_day: an adverse_events metric counts every event (use deaths or mortality_excess)")
        if self.kind == "mortality_excess":
            if self.arm is None or self.versus is None or self.by_day is None:
                raise ValueError("a mortality_excess metric needs arm, versus and by_day")
            if self.arm == self.versus:
                raise ValueError("versus: compare two different arms")
        elif self.versus is not None:
            raise ValueError(f"versus: only a mortality_excess metric compares arms, not a {self.kind} metric")
        return self


class StoppingRule(_Model):
    """When ``rule`` (a condition over the metrics) is true, the rule trips:
    dosing pauses (``pause_dosing``) or stops (``stop_dosing``) for every
    subject until the DSMB records a decision."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
    label: Text
    rule: Text
    action: Literal["pause_dosing", "stop_dosing"]


class SafetySpec(_Model):
    """The adverse event form, the SAE reporting clock, the metrics and the stopping rules."""

    ae_form: FieldId
    term_field: FieldId
    grade_field: FieldId
    serious_field: FieldId
    relationship_field: FieldId
    awareness_field: FieldId
    onset_field: FieldId
    outcome_field: FieldId
    fatal_outcome: Annotated[StrictStr, Field(min_length=1, max_length=60)] = "fatal"
    sae_report_hours: Annotated[StrictInt, Field(ge=1, le=720)] = 24
    metrics: dict[Id, SafetyMetric] = {}
    stopping_rules: list[StoppingRule] = []


# --- randomization ----------------------------------------------------------------------------

#: A stratum value is written into allocation-list CSV files: no commas, quotes or spaces.
_STRATUM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class RandomizationSpec(_Model):
    """How allocation lists are made: stratified permuted blocks (see docs/randomization.md).

    Per site and stratum, blocks of a size drawn at random from ``block_sizes``,
    each holding the arms in ``ratio`` in a random order. Whether ``arms`` exist
    is checked against the protocol at load; ``slots_per_stratum`` defaults to
    ``enrollment.planned_total`` (filled in by :class:`Protocol`).
    """

    arms: list[Id] = Field(min_length=2, description="Arm ids of `arms`, in the order of `ratio`.")
    ratio: list[Annotated[StrictInt, Field(ge=1, le=100)]] = Field(
        min_length=2, description="The allocation ratio, one whole number per arm."
    )
    stratify_by: Annotated[str, Field(min_length=1, max_length=60)] = Field(
        description="A candidate field with a closed set of values (e.g. presentation)."
    )
    strata: list[Annotated[StrictStr, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, description="The values of stratify_by that are strata (a list each)."
    )
    block_sizes: list[Annotated[StrictInt, Field(ge=1, le=1000)]] = Field(
        min_length=1, description="Each a multiple of sum(ratio); a block's size is drawn uniformly from these."
    )
    slots_per_stratum: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="Slots per site and stratum (at least; the last block is never cut)."
    )

    @field_validator("arms")
    @classmethod
    def _arms_unique(cls, arms: list[str]) -> list[str]:
        dupes = sorted({a for a in arms if arms.count(a) > 1})
        if dupes:
            raise ValueError(f"arm {dupes[0]!r} is listed twice")
        return arms

    @field_validator("ratio")
    @classmethod
    def _one_ratio_per_arm(cls, ratio: list[int], info: ValidationInfo) -> list[int]:
        arms = info.data.get("arms")
        if arms is not None and len(ratio) != len(arms):
            raise ValueError(f"{len(ratio)} number(s) for {len(arms)} arms ({', '.join(arms)}): give one per arm, in that order")
        return ratio

    @field_validator("stratify_by")
    @classmethod
    def _a_closed_candidate_field(cls, name: str) -> str:
        fields = candidate_fields()
        closed = sorted(f for f, t in fields.items() if t.enum)
        if name not in fields:
            raise ValueError(f"{name!r} is not a candidate field; fields with a closed set of values: {', '.join(closed)}")
        if not fields[name].enum:
            raise ValueError(
                f"{name!r} is a {fields[name].kind} field, not one with a closed set of values: {', '.join(closed)}"
            )
        return name

    @field_validator("strata")
    @classmethod
    def _strata_are_values(cls, strata: list[str], info: ValidationInfo) -> list[str]:
        for i, value in enumerate(strata):
            if value in strata[:i]:
                raise ValueError(f"stratum {value!r} is listed twice")
            if not _STRATUM_VALUE.match(value):
                raise ValueError(f"stratum {value!r}: letters, digits and _ . + - only (it is written into CSV files)")
        name = info.data.get("stratify_by")
        if name is not None:
            values = candidate_fields()[name].enum or ()
            for value in strata:
                if value not in values:
                    raise ValueError(f"{value!r} is not a value of {name} ({', '.join(values)})")
        return strata

    @field_validator("block_sizes")
    @classmethod
    def _whole_blocks(cls, sizes: list[int], info: ValidationInfo) -> list[int]:
        for i, size in enumerate(sizes):
            if size in sizes[:i]:
                raise ValueError(f"block size {size} is listed twice")
        ratio = info.data.get("ratio")
        if ratio is not None:
            total = sum(ratio)
            for i, size in enumerate(sizes):
                if size % total:
                    raise ValueError(
                        f"[{i}]: {size} is not a multiple of {total} (the sum of ratio {':'.join(map(str, ratio))}): "
                        "a block must hold whole sets of the ratio"
                    )
        return sizes

    @property
    def ratio_total(self) -> int:
        return sum(self.ratio)

    def block_contents(self, size: int) -> list[str]:
        """The arms of one block of ``size``, unshuffled (``size`` a multiple of :attr:`ratio_total`)."""
        sets = size // self.ratio_total
        return [arm for arm, r in zip(self.arms, self.ratio) for _ in range(r * sets)]


class Protocol(_Model):
    schema_version: Literal[1]
    id: Id
    identifiers: Identifiers
    title: Text
    brief_title: Text | None = None
    sponsor: Sponsor
    conditions: list[Text] = Field(min_length=1)
    phases: list[Text]
    status: Text
    study_type: Literal["Interventional", "Observational"]
    design: Design
    enrollment: Enrollment
    eligibility: Eligibility
    summary: Text
    description: Text
    standard_medical_treatment: list[Component] = []
    interventions: list[Intervention] = Field(min_length=1)
    arms: list[Arm] = Field(min_length=1)
    parameters: dict[Id, Parameter] = {}
    screening: ScreeningSettings = ScreeningSettings()
    definitions: dict[Id, Definition] = {}
    criteria: Criteria
    consent_documents: list[ConsentDocument] = []
    forms: list[FormSpec] = []
    visits: list[VisitSpec] = []
    edit_checks: list[EditCheck] = []
    dosing: DosingSpec | None = None
    safety: SafetySpec | None = None
    randomization: RandomizationSpec | None = None
    source: Source | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_slots_per_stratum(cls, data: Any) -> Any:
        """randomization.slots_per_stratum defaults to enrollment.planned_total (a stratum cannot run out)."""
        if not isinstance(data, dict):
            return data
        spec, enrollment = data.get("randomization"), data.get("enrollment")
        total = enrollment.get("planned_total") if isinstance(enrollment, dict) else getattr(enrollment, "planned_total", None)
        if type(total) is not int or total < 1:
            return data
        if isinstance(spec, dict) and spec.get("slots_per_stratum") is None:
            return {**data, "randomization": {**spec, "slots_per_stratum": total}}
        if isinstance(spec, RandomizationSpec) and spec.slots_per_stratum is None:
            return {**data, "randomization": spec.model_copy(update={"slots_per_stratum": total})}
        return data

    # --- rules ------------------------------------------------------------------------
    def vocabulary(self) -> Vocabulary:
        return candidate_vocabulary(self._rule_params(), {name: d.rule for name, d in self.definitions.items()})

    @cached_property
    def bound_rules(self) -> dict[str, Node]:
        """Every criterion's rule, bound (checked at load by :func:`protocol_from_data`)."""
        vocab = self.vocabulary()
        return {c.id: bind(c.rule, vocab, where=c.id)[0] for _, c in self.all_criteria()}

    def all_criteria(self) -> list[tuple[str, Criterion]]:
        """(kind, criterion) for every inclusion, then every exclusion criterion."""
        return [("inclusion", c) for c in self.criteria.inclusion] + [("exclusion", c) for c in self.criteria.exclusion]

    def parameter(self, name: str, default: Any = None) -> Any:
        param = self.parameters.get(name)
        return default if param is None else param.value

    def arm(self, arm_id: str) -> Arm:
        return next(a for a in self.arms if a.id == arm_id)

    def intervention(self, intervention_id: str) -> Intervention:
        return next(i for i in self.interventions if i.id == intervention_id)

    # --- consent, forms, visits -------------------------------------------------------
    @property
    def current_consent(self) -> ConsentDocument | None:
        """The consent document in use: the one flagged ``current``, else the last one."""
        flagged = [c for c in self.consent_documents if c.current]
        if flagged:
            return flagged[0]
        return self.consent_documents[-1] if self.consent_documents else None

    @property
    def current_consent_version(self) -> str | None:
        doc = self.current_consent
        return doc.version if doc else None

    def form(self, form_id: str) -> FormSpec:
        """The form ``form_id``; KeyError if the protocol has none."""
        for form in self.forms:
            if form.id == form_id:
                return form
        raise KeyError(f"unknown form {form_id!r}")

    def visit(self, visit_id: str) -> VisitSpec:
        """The visit ``visit_id``; KeyError if the protocol has none."""
        for visit in self.visits:
            if visit.id == visit_id:
                return visit
        raise KeyError(f"unknown visit {visit_id!r}")

    def edit_checks_for(self, form_id: str) -> list[EditCheck]:
        return [c for c in self.edit_checks if c.form == form_id]

    def form_vocabulary(self, form_id: str) -> Vocabulary:
        """What an edit check on ``form_id`` may use: the form's fields (typed, see
        :meth:`FieldSpec.rule_type`), ``visit_date``, ``visit_day``, ``params.*`` and ``date()``."""
        form = self.form(form_id)
        fields = {**FORM_CONTEXT, **{f.id: f.rule_type() for f in form.fields}}
        return Vocabulary(fields=fields, params=self._rule_params(), functions=frozenset({"date"}))

    @cached_property
    def bound_edit_checks(self) -> dict[str, Node]:
        """Every edit check's rule, bound against its form's vocabulary (checked at load)."""
        vocabs = {f.id: self.form_vocabulary(f.id) for f in self.forms}
        return {c.id: bind(c.rule, vocabs[c.form], where=c.id)[0] for c in self.edit_checks}

    @cached_property
    def bound_stopping_rules(self) -> dict[str, Node]:
        """Every stopping rule, bound against the safety metrics (checked at load)."""
        from hepatrial.core.safety.stopping import metric_vocabulary

        if self.safety is None:
            return {}
        vocab = metric_vocabulary(self)
        return {r.id: bind(r.rule, vocab, where=r.id)[0] for r in self.safety.stopping_rules}

    def _rule_params(self) -> dict[str, tuple[Any, str | None]]:
        return {name: (p.value, normalize_unit(p.unit) if p.unit else None) for name, p in self.parameters.items()}


# --- loading --------------------------------------------------------------------------------

# libyaml's parser when the installed PyYAML has it (about 15x faster), else PyYAML's own.
_SafeLoaderBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_SafeLoaderBase):  # type: ignore[misc,valid-type]
    """SafeLoader reading numbers as YAML 1.2 does.

    PyYAML follows YAML 1.1, where ``1e10`` and ``1.0e10`` (no sign in the
    exponent) are *strings*: a dose written that way would silently become
    text. Here they are floats, as every reader of the file would expect.
    """


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _cross_check(protocol: Protocol) -> list[tuple[tuple, str]]:
    """References and sums the schema alone cannot check, each with its YAML path."""
    problems: list[tuple[tuple, str]] = []
    for section, items in (
        (("interventions",), protocol.interventions),
        (("arms",), protocol.arms),
        (("criteria", "inclusion"), protocol.criteria.inclusion),
        (("criteria", "exclusion"), protocol.criteria.exclusion),
    ):
        for i, item in enumerate(items):
            if any(other.id == item.id for other in items[:i]):
                problems.append((section + (i, "id"), f"duplicate id {item.id!r}"))
    ids = [c.id for _, c in protocol.all_criteria()]
    n_inclusion = len(protocol.criteria.inclusion)
    for i, criterion in enumerate(protocol.criteria.exclusion):
        if criterion.id in ids[:n_inclusion]:
            problems.append((("criteria", "exclusion", i, "id"), f"id {criterion.id!r} is also an inclusion criterion"))
    known = {iv.id for iv in protocol.interventions}
    for a, arm in enumerate(protocol.arms):
        for r, ref in enumerate(arm.interventions):
            if ref not in known:
                problems.append((("arms", a, "interventions", r), f"unknown intervention {ref!r}"))
    planned = sum(arm.planned_enrollment for arm in protocol.arms)
    if planned != protocol.enrollment.planned_total:
        problems.append(
            (("enrollment", "planned_total"), f"{protocol.enrollment.planned_total} is not the sum of the arms' planned_enrollment ({planned})")
        )
    problems += _check_consent(protocol)
    problems += _check_forms(protocol)
    problems += _check_visits(protocol)
    problems += _check_edit_checks(protocol)
    problems += _check_dosing(protocol)
    problems += _check_safety(protocol)
    problems += _check_randomization(protocol)
    return problems


def _duplicates(items, key, section: tuple, what: str = "id") -> list[tuple[tuple, str]]:
    seen: set = set()
    out = []
    for i, item in enumerate(items):
        value = key(item)
        if value in seen:
            out.append((section + (i, what), f"duplicate {what} {value!r}"))
        seen.add(value)
    return out


def _check_consent(protocol: Protocol) -> list[tuple[tuple, str]]:
    docs = protocol.consent_documents
    problems = _duplicates(docs, lambda d: d.version, ("consent_documents",), "version")
    flagged = [i for i, d in enumerate(docs) if d.current]
    for i in flagged[1:]:
        problems.append(
            (("consent_documents", i, "current"), f"only one document can be current (version {docs[flagged[0]].version!r} already is)")
        )
    for i in range(1, len(docs)):
        if docs[i].effective <= docs[i - 1].effective:
            problems.append(
                (("consent_documents", i, "effective"),
                 f"{docs[i].effective} is not after version {docs[i - 1].version!r} ({docs[i - 1].effective}); list versions oldest first")
            )
    return problems


def _check_forms(protocol: Protocol) -> list[tuple[tuple, str]]:
    problems = _duplicates(protocol.forms, lambda f: f.id, ("forms",))
    for i, form in enumerate(protocol.forms):
        problems += _duplicates(form.fields, lambda f: f.id, ("forms", i, "fields"))
    return problems


def _check_visits(protocol: Protocol) -> list[tuple[tuple, str]]:
    visits = protocol.visits
    problems = _duplicates(visits, lambda v: v.id, ("visits",))
    forms = {f.id for f in protocol.forms}
    for i, visit in enumerate(visits):
        for j, form_id in enumerate(visit.forms):
            if form_id not in forms:
                problems.append((("visits", i, "forms", j), f"unknown form {form_id!r}"))
            elif form_id in visit.forms[:j]:
                problems.append((("visits", i, "forms", j), f"form {form_id!r} is listed twice"))
    screenings = [i for i, v in enumerate(visits) if v.kind == "screening"]
    for i in screenings[1:]:
        problems.append((("visits", i, "kind"), "only one screening visit"))
    scheduled = sorted(
        ((v.day, i, v) for i, v in enumerate(visits) if v.kind == "scheduled"), key=lambda t: (t[0], t[1])
    )
    for (day_a, _, a), (day_b, j, b) in zip(scheduled, scheduled[1:]):
        if day_a == day_b:
            problems.append((("visits", j, "day"), f"day {day_b} is already the day of visit {a.id!r}"))
        elif day_a + a.window_after_days >= day_b - b.window_before_days:
            problems.append(
                (("visits", j, "window_before_days"),
                 f"the window of {b.id!r} (from day {day_b - b.window_before_days}) overlaps the window of {a.id!r} "
                 f"(to day {day_a + a.window_after_days}): a visit date must belong to one visit")
            )
    if not visits:
        return problems
    dose_days = {v.day: i for i, v in enumerate(visits) if v.dose}
    param = protocol.parameters.get("dosing_days")
    expected: dict[int, str] = {}
    if param is not None and isinstance(param.value, list):
        expected.update({int(d): "parameters.dosing_days" for d in param.value})
    for iv in protocol.interventions:
        if iv.schedule is not None:
            for d in iv.schedule.days:
                expected.setdefault(d, f"interventions {iv.id!r} schedule")
    by_day = {v.day: i for i, v in enumerate(visits) if v.kind == "scheduled"}
    for day, source in sorted(expected.items()):
        if day in dose_days:
            continue
        if day in by_day:
            problems.append(
                (("visits", by_day[day], "dose"), f"day {day} is a dosing day ({source}): this visit needs dose: true")
            )
        else:
            problems.append((("visits",), f"dosing day {day} ({source}) has no visit: add a scheduled visit with day: {day} and dose: true"))
    for day, i in dose_days.items():
        if expected and day not in expected:
            days = ", ".join(str(d) for d in sorted(expected))
            problems.append((("visits", i, "dose"), f"day {day} is not a dosing day (dosing days: {days})"))
    return problems


def _check_edit_checks(protocol: Protocol) -> list[tuple[tuple, str]]:
    problems = _duplicates(protocol.edit_checks, lambda c: c.id, ("edit_checks",))
    forms = {f.id: f for f in protocol.forms}
    for i, check in enumerate(protocol.edit_checks):
        form = forms.get(check.form)
        if form is None:
            problems.append((("edit_checks", i, "form"), f"unknown form {check.form!r}"))
        elif not form.has_field(check.field):
            known = ", ".join(f.id for f in form.fields)
            problems.append((("edit_checks", i, "field"), f"form {check.form!r} has no field {check.field!r} (its fields: {known})"))
    return problems


def _check_dosing(protocol: Protocol) -> list[tuple[tuple, str]]:
    spec = protocol.dosing
    if spec is None:
        return []
    forms = {f.id: f for f in protocol.forms}
    form = forms.get(spec.form)
    if form is None:
        return [(("dosing", "form"), f"unknown form {spec.form!r}")]
    problems: list[tuple[tuple, str]] = []
    for key, wanted in (("given_field", ("boolean",)), ("product_field", ("choice",)), ("start_field", ("datetime",))):
        field_id = getattr(spec, key)
        if not form.has_field(field_id):
            problems.append((("dosing", key), f"form {spec.form!r} has no field {field_id!r}"))
        elif form.field(field_id).type not in wanted:
            problems.append((("dosing", key), f"{field_id!r} is a {form.field(field_id).type} field; it must be a {wanted[0]} field"))
    arms = [a.id for a in protocol.arms]
    choices = form.field(spec.product_field).choice_values if form.has_field(spec.product_field) and form.field(spec.product_field).type == "choice" else None
    for arm, product in spec.products.items():
        if arm not in arms:
            problems.append((("dosing", "products", arm), f"unknown arm {arm!r} (arms: {', '.join(arms)})"))
        if choices is not None and product not in choices:
            problems.append((("dosing", "products", arm), f"{product!r} is not a choice of {spec.product_field!r} ({', '.join(choices)})"))
    randomized = protocol.randomization.arms if protocol.randomization else arms
    for arm in randomized:
        if arm not in spec.products and arm in arms:
            problems.append((("dosing", "products"), f"arm {arm!r} has no product: give every arm its product"))
    for i, visit in enumerate(protocol.visits):
        if visit.dose and spec.form not in visit.forms:
            problems.append((("visits", i, "forms"), f"{visit.id!r} is a dosing visit: it must collect the dosing form {spec.form!r}"))
        if not visit.dose and spec.form in visit.forms:
            problems.append((("visits", i, "forms"), f"{visit.id!r} is not a dosing visit (dose: false): it cannot collect the dosing form {spec.form!r}"))
    return problems


def _check_safety(protocol: Protocol) -> list[tuple[tuple, str]]:
    spec = protocol.safety
    if spec is None:
        return []
    form = next((f for f in protocol.forms if f.id == spec.ae_form), None)
    if form is None:
        return [(("safety", "ae_form"), f"unknown form {spec.ae_form!r}")]
    problems: list[tuple[tuple, str]] = []
    wanted = {"term_field": ("choice", "text"), "grade_field": ("choice",), "serious_field": ("boolean",),
              "relationship_field": ("choice",), "awareness_field": ("datetime",), "onset_field": ("date",),
              "outcome_field": ("choice",)}  # fmt: skip
    for key, types in wanted.items():
        field_id = getattr(spec, key)
        if not form.has_field(field_id):
            problems.append((("safety", key), f"form {spec.ae_form!r} has no field {field_id!r}"))
        elif form.field(field_id).type not in types:
            problems.append((("safety", key), f"{field_id!r} is a {form.field(field_id).type} field; it must be a {' or '.join(types)} field"))
    if form.has_field(spec.grade_field) and form.field(spec.grade_field).type == "choice":
        grades = form.field(spec.grade_field).choice_values
        if not set(grades) <= {"1", "2", "3", "4", "5"}:
            problems.append((("safety", "grade_field"), f"the grades of {spec.grade_field!r} must be \"1\" to \"5\" (CTCAE), not {', '.join(grades)}"))
    if form.has_field(spec.outcome_field) and form.field(spec.outcome_field).type == "choice":
        if spec.fatal_outcome not in form.field(spec.outcome_field).choice_values:
            problems.append((("safety", "fatal_outcome"), f"{spec.fatal_outcome!r} is not a choice of {spec.outcome_field!r}"))
    arms = [a.id for a in protocol.arms]
    relationships = (form.field(spec.relationship_field).choice_values
                     if form.has_field(spec.relationship_field) and form.field(spec.relationship_field).type == "choice" else None)  # fmt: skip
    terms = (form.field(spec.term_field).choice_values
             if form.has_field(spec.term_field) and form.field(spec.term_field).type == "choice" else None)  # fmt: skip
    for name, metric in spec.metrics.items():
        for key in ("arm", "versus"):
            value = getattr(metric, key)
            if value is not None and value not in arms:
                problems.append((("safety", "metrics", name, key), f"unknown arm {value!r} (arms: {', '.join(arms)})"))
        for i, rel in enumerate(metric.relationships):
            if relationships is not None and rel not in relationships:
                problems.append((("safety", "metrics", name, "relationships", i), f"{rel!r} is not a choice of {spec.relationship_field!r}"))
        for i, term in enumerate(metric.terms):
            if terms is not None and term not in terms:
                problems.append((("safety", "metrics", name, "terms", i), f"{term!r} is not a term of {spec.term_field!r}"))
    problems += _duplicates(spec.stopping_rules, lambda r: r.id, ("safety", "stopping_rules"))
    from hepatrial.core.safety.stopping import metric_vocabulary

    vocab = metric_vocabulary(protocol)
    for i, rule in enumerate(spec.stopping_rules):
        try:
            bind(rule.rule, vocab, where=rule.id)
        except RuleError as err:
            problems.append((("safety", "stopping_rules", i, "rule"), str(err)))
    for i, visit in enumerate(protocol.visits):
        if spec.ae_form in visit.forms and visit.kind != "log":
            problems.append((("visits", i, "forms"), f"the adverse event form {spec.ae_form!r} belongs to a log visit (kind: log), not a {visit.kind} one"))
    return problems


def _check_randomization(protocol: Protocol) -> list[tuple[tuple, str]]:
    spec = protocol.randomization
    if spec is None:
        return []
    problems: list[tuple[tuple, str]] = []
    if protocol.design.allocation != "Randomized":
        problems.append(
            (("randomization",), f"design.allocation is {protocol.design.allocation!r}: only a randomized trial has a randomization section")
        )
    known = [a.id for a in protocol.arms]
    for i, arm in enumerate(spec.arms):
        if arm not in known:
            problems.append((("randomization", "arms", i), f"unknown arm {arm!r} (arms: {', '.join(known)})"))
    return problems


def _first_alias_line(text: str) -> int | None:
    """The line of the first YAML alias (``*name``), if any.

    Aliases are refused: a protocol has no use for them, and nested aliases
    can expand a small file into billions of nodes."""
    for event in yaml.parse(text, Loader=_Yaml12Loader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1
    return None


def _line_map(node: yaml.Node, path: tuple = (), lines: dict | None = None, dupes: list | None = None):
    """Map each YAML path (tuple of keys/indexes) to its 1-based line; list duplicate keys."""
    lines = {} if lines is None else lines
    dupes = [] if dupes is None else dupes
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dupes.append((path + (key,), key_node.start_mark.line + 1))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), lines, dupes)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), lines, dupes)
    return lines, dupes


def _line_for(lines: dict, path: tuple) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


#: The sections in which a scalar ``${name}`` stands for the value of parameter ``name``.
_SUBSTITUTED_SECTIONS = ("arms", "interventions", "visits")
_PARAM_REF = re.compile(r"^\$\{([A-Za-z][A-Za-z0-9_]*)\}$")


def _substitute(data: Any, params: dict[str, Any], path: tuple, problems: list) -> Any:
    if isinstance(data, dict):
        return {k: _substitute(v, params, path + (k,), problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, params, path + (i,), problems) for i, v in enumerate(data)]
    if isinstance(data, str) and (m := _PARAM_REF.match(data)):
        name = m.group(1)
        param = params.get(name)
        if not isinstance(param, dict) or "value" not in param:
            problems.append((path, f"unknown parameter {name!r}"))
            return data
        return param["value"]
    return data


def protocol_from_text(text: str, source: str = "<protocol>") -> Protocol:
    """Parse, validate and check a protocol from YAML text."""
    try:
        root = yaml.compose(text, Loader=_Yaml12Loader)
    except RecursionError:
        raise ProtocolError(source, [("(file)", None, "nested too deeply")]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = f"not valid YAML: {getattr(err, 'problem', None) or err}"
        context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context and context_mark is not None:
            reason += f" ({context} at line {context_mark.line + 1})"
        raise ProtocolError(source, [("(file)", line, reason)]) from None
    if root is None:
        raise ProtocolError(source, [("(file)", None, "the file is empty")])
    alias_line = _first_alias_line(text)
    if alias_line is not None:
        raise ProtocolError(source, [("(file)", alias_line, "YAML aliases (*name) are not allowed in a protocol file")])
    try:
        lines, dupes = _line_map(root)
    except RecursionError:
        raise ProtocolError(source, [("(file)", None, "nested too deeply")]) from None
    if dupes:
        raise ProtocolError(source, [(dotted_path(p), line, "duplicate key") for p, line in dupes])
    data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ProtocolError(source, [("(top)", 1, "a protocol is a mapping of keys to values")])
    return protocol_from_data(data, source, lines)


def protocol_from_data(data: dict[str, Any], source: str = "<protocol>", lines: dict | None = None) -> Protocol:
    """Validate protocol ``data`` (already parsed) and check its rules."""
    lines = lines or {}
    problems: list[tuple[tuple, str]] = []
    params = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    for section in _SUBSTITUTED_SECTIONS:
        if section in data:
            data = {**data, section: _substitute(data[section], params, (section,), problems)}
    if problems:
        raise ProtocolError(source, [(dotted_path(p), _line_for(lines, p), r) for p, r in problems])
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as err:
        out = []
        for item in err.errors(include_url=False):
            path = tuple(item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            out.append((dotted_path(path), _line_for(lines, path), message))
        raise ProtocolError(source, out) from None
    located = _cross_check(protocol)
    if located:
        raise ProtocolError(source, [(dotted_path(p), _line_for(lines, p), r) for p, r in located])
    rule_problems = []
    vocab = protocol.vocabulary()
    for name, definition in protocol.definitions.items():
        path = ("definitions", name, "rule")
        try:
            bind(definition.rule, vocab, where=f"definitions.{name}")
        except RuleError as err:
            rule_problems.append((dotted_path(path), _line_for(lines, path), str(err)))
    for kind in ("inclusion", "exclusion"):
        for i, criterion in enumerate(getattr(protocol.criteria, kind)):
            path = ("criteria", kind, i, "rule")
            try:
                bind(criterion.rule, vocab, where=criterion.id)
            except RuleError as err:
                rule_problems.append((dotted_path(path), _line_for(lines, path), str(err)))
    for i, check in enumerate(protocol.edit_checks):
        path = ("edit_checks", i, "rule")
        try:
            bind(check.rule, protocol.form_vocabulary(check.form), where=check.id)
        except RuleError as err:
            rule_problems.append((dotted_path(path), _line_for(lines, path), str(err)))
    if rule_problems:
        raise ProtocolError(source, rule_problems)
    return protocol


def load_protocol_file(path: str | Path) -> Protocol:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ProtocolError(str(path), [("(file)", None, f"cannot read: {err.strerror}")]) from None
    except UnicodeDecodeError as err:
        raise ProtocolError(str(path), [("(file)", None, f"not UTF-8 text: {err.reason} at byte {err.start}")]) from None
    return protocol_from_text(text, str(path))


def packaged_protocols() -> dict[str, Path]:
    """The protocols shipped with hepatrial: id (upper case) -> file."""
    folder = resources.files("hepatrial") / "protocols"
    return {Path(str(f)).stem.upper(): Path(str(f)) for f in folder.iterdir() if str(f).endswith(".yaml")}


def load_protocol(ref: str | Path | None = None) -> Protocol:
    """A packaged protocol by id (``NCT05940610``), or a protocol file by path.

    With no ``ref``: the only packaged protocol (an error if there are several).
    """
    shipped = packaged_protocols()
    if ref is None:
        if len(shipped) != 1:
            raise ProtocolError("--protocol", [("(protocol)", None, f"name one of: {', '.join(sorted(shipped))}")])
        ref = next(iter(shipped))
    key = str(ref).upper()
    if key in shipped:
        return load_protocol_file(shipped[key])
    if Path(ref).exists():
        return load_protocol_file(ref)
    raise ProtocolError(str(ref), [("(protocol)", None, f"no such file, and not a packaged protocol ({', '.join(sorted(shipped))})")])
