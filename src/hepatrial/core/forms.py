"""Validate one eCRF form submission against the protocol: pure, no web framework.

:func:`validate_form` takes the raw values of one form (strings from an HTML
form, or typed values from JSON), and returns

- ``cleaned``: every field of the form, typed (``number`` -> float,
  ``integer`` -> int, ``date`` -> date, ``datetime`` -> aware datetime,
  ``boolean`` -> bool, ``choice``/``text`` -> str), ``None`` when empty;
- ``errors``: hard problems (unknown field, wrong type, required and empty,
  outside the hard ``min``/``max``, not one of the choices, a hard edit check
  that is definitely false, a form the visit does not have). A form with any
  error must not be saved;
- ``warnings``: soft problems (outside the plausible range, a soft edit check
  that is definitely false, a visit outside its window). The form is saved;
  each warning opens a data query unless confirmed with a reason.

Edit checks are evaluated in three-valued logic: a check whose data is missing
(an empty field, a field with an error, no ``visit_day`` before
randomization) is *unknown* and does not fire. Only a definite false fires.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal

from hepatrial.core.criteria.evaluate import Evidence, Fact, evaluate, fmt_number
from hepatrial.core.protocol import FieldSpec, FormSpec, Protocol
from hepatrial.core.schedule import ScheduleError, day_window_status

Severity = Literal["hard", "soft"]


class FormError(ValueError):
    """A call that cannot be validated at all (unknown form or visit, values not a mapping):
    a programming error of the caller, not a problem of the data entered."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class FieldIssue:
    """One problem found in a submission.

    ``field`` is a field id of the form, or ``None`` for the form as a whole
    (the visit's window, a form the visit does not have). ``code`` is
    ``unknown_field``, ``required``, ``type``, ``min``, ``max``, ``choice``,
    ``plausible``, ``visit_form``, ``visit_window`` or an edit check's id.
    ``detail`` (edit checks) gives the values that decided.
    """

    field: str | None
    code: str
    message: str
    severity: Severity
    detail: str = ""


@dataclass
class FormValidation:
    form_id: str
    cleaned: dict[str, Any]
    errors: list[FieldIssue] = field(default_factory=list)
    warnings: list[FieldIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No hard error: the form may be saved (warnings become data queries)."""
        return not self.errors

    def issues_for(self, field_id: str | None) -> list[FieldIssue]:
        return [i for i in self.errors + self.warnings if i.field == field_id]


# --- parsing one value ---------------------------------------------------------------------------

class _Invalid(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _shown(raw: Any) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return f"'{text}'" if len(text) <= 40 else f"'{text[:37]}...'"


def _with_unit(value: float, spec: FieldSpec) -> str:
    unit = spec.unit_label
    return f"{fmt_number(value)} {unit}" if unit else fmt_number(value)


def _parse_number(raw: Any, spec: FieldSpec) -> float:
    if isinstance(raw, bool):
        raise _Invalid("type", f"{spec.label}: {raw!r} is a yes/no value, not a number.")
    if isinstance(raw, (int, float, Decimal)):
        try:
            value = float(raw)
        except OverflowError:
            raise _Invalid("type", f"{spec.label}: {_shown(raw)} is too large to be a number here.") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if _DECIMAL_COMMA.fullmatch(text):
            raise _Invalid(
                "type",
                f"{spec.label}: write the decimal separator as a point: {text.replace(',', '.')}, not {text}.",
            )
        if not _NUMBER.fullmatch(text):
            hint = " Write it without thousands separators or spaces." if "," in text or " " in text else ""
            unit = f" Give the number only, in {spec.unit_label}." if spec.unit_label and re.search(r"[A-Za-z%]", text) else ""
            raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a number.{hint}{unit}")
        value = float(text)
    else:
        raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a number.")
    if not math.isfinite(value):
        raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a finite number.")
    return value


def _parse_integer(raw: Any, spec: FieldSpec) -> int:
    value = _parse_number(raw, spec)
    if not value.is_integer():
        raise _Invalid("type", f"{spec.label}: {fmt_number(value)} is not a whole number.")
    return int(value)


def _parse_boolean(raw: Any, spec: FieldSpec) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not yes or no.")


def _parse_date(raw: Any, spec: FieldSpec) -> date:
    if isinstance(raw, datetime):
        raise _Invalid("type", f"{spec.label}: give a date without a time.")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and _DATE.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a date that exists.") from None
    raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a date; write it as YYYY-MM-DD.")


def _parse_datetime(raw: Any, spec: FieldSpec, tz: tzinfo | None) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str) and _DATETIME.fullmatch(raw.strip()):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a date and time that exists.") from None
    else:
        raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not a date and time; write it as YYYY-MM-DDTHH:MM.")
    if value.tzinfo is None or value.utcoffset() is None:
        if tz is None:
            raise _Invalid(
                "type", f"{spec.label}: {_shown(raw)} has no time zone; give the UTC offset (e.g. +08:00)."
            )
        value = value.replace(tzinfo=tz)
    elif tz is not None:
        # the same instant, in site time: its date (compared with visit dates) is the site's date
        value = value.astimezone(tz)
    return value


def _parse_choice(raw: Any, spec: FieldSpec) -> str:
    values = spec.choice_values
    if isinstance(raw, str) and raw.strip() in values:
        return raw.strip()
    listed = ", ".join(values)
    raise _Invalid("choice", f"{spec.label}: {_shown(raw)} is not one of the choices ({listed}).")


def _parse_text(raw: Any, spec: FieldSpec) -> str:
    if not isinstance(raw, str):
        raise _Invalid("type", f"{spec.label}: {_shown(raw)} is not text.")
    return raw.strip()


def stored_date(value: Any) -> date | None:
    """A date field's stored value (ISO text in the form's JSON), or None if absent or unreadable."""
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def stored_datetime(value: Any) -> datetime | None:
    """A date-time field's stored value (aware ISO text), or None if absent or unreadable."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def parse_value(spec: FieldSpec, raw: Any, *, tz: tzinfo | None = None) -> Any:
    """``raw`` as the typed value of field ``spec`` (None when empty).

    Raises ValueError with a user-facing message for a value of the wrong type.
    Ranges and requiredness are not checked here (see :func:`validate_form`).
    """
    try:
        return _parse(spec, raw, tz)
    except _Invalid as err:
        raise ValueError(err.message) from None


def _parse(spec: FieldSpec, raw: Any, tz: tzinfo | None) -> Any:
    if _is_empty(raw):
        return None
    if spec.type == "number":
        return _parse_number(raw, spec)
    if spec.type == "integer":
        return _parse_integer(raw, spec)
    if spec.type == "boolean":
        return _parse_boolean(raw, spec)
    if spec.type == "date":
        return _parse_date(raw, spec)
    if spec.type == "datetime":
        return _parse_datetime(raw, spec, tz)
    if spec.type == "choice":
        return _parse_choice(raw, spec)
    return _parse_text(raw, spec)


def _range_issues(spec: FieldSpec, value: float) -> list[FieldIssue]:
    shown = f"{spec.label} {_with_unit(value, spec)}"
    low, high = spec.hard_range
    if low is not None and value < low:
        return [FieldIssue(spec.id, "min", f"{shown} is below the minimum of {_with_unit(low, spec)}.", "hard")]
    if high is not None and value > high:
        return [FieldIssue(spec.id, "max", f"{shown} is above the maximum of {_with_unit(high, spec)}.", "hard")]
    check = " Check the value and its unit."
    if spec.plausible_min is not None and value < spec.plausible_min:
        limit = _with_unit(spec.plausible_min, spec)
        return [FieldIssue(spec.id, "plausible", f"{shown} is below the plausible minimum of {limit}.{check}", "soft")]
    if spec.plausible_max is not None and value > spec.plausible_max:
        limit = _with_unit(spec.plausible_max, spec)
        return [FieldIssue(spec.id, "plausible", f"{shown} is above the plausible maximum of {limit}.{check}", "soft")]
    return []


# --- edit checks ---------------------------------------------------------------------------------

def _display(label: str, value: Any, unit: str = "") -> str:
    if value is None:
        return f"{label} (empty)"
    if isinstance(value, bool):
        return f"{label} {'yes' if value else 'no'}"
    if isinstance(value, (date, datetime)):
        return f"{label} {value.isoformat()}"
    if isinstance(value, str):
        return f'{label} "{value}"'
    return f"{label} {fmt_number(value)} {unit}".rstrip()


class _FormFacts:
    """The values of one form (and its visit) as the rule evaluator asks for them."""

    def __init__(self, form: FormSpec, values: dict[str, Any], context: dict[str, Any]):
        self.specs = {f.id: f for f in form.fields}
        self.values = values
        self.context = context

    def field(self, path: str) -> Fact:
        if path in self.specs:
            spec = self.specs[path]
            value, label, unit = self.values.get(path), spec.label, spec.unit_label
        else:
            value, label, unit = self.context.get(path), path.replace("_", " ").capitalize(), ""
        display = _display(label, value, unit)
        if value is None:
            return Fact(None, display, (), f"{label} not given")
        return Fact(value, display, (Evidence("field", path, value, unit or None),))

    def lab(self, func: str, test: str) -> Fact:  # not in a form's vocabulary (refused at load)
        raise FormError("rule", f"{func}({test}) is not available in a form's edit check")

    def score(self, name: str) -> Fact:  # idem
        raise FormError("rule", f"{name}() is not available in a form's edit check")


# --- the form ------------------------------------------------------------------------------------

def validate_form(
    protocol: Protocol,
    form_id: str,
    values: Mapping[str, Any],
    *,
    visit_date: date | None,
    visit_day: int | None,
    visit_id: str | None = None,
    tz: tzinfo | None = None,
) -> FormValidation:
    """Check one submission of form ``form_id``.

    ``visit_date`` and ``visit_day`` (days since the anchor, randomization =
    day 0; None before randomization) are what edit checks see as
    ``visit_date`` and ``visit_day``. With ``visit_id``, the form must be one
    of that visit's forms (hard error otherwise) and a scheduled visit whose
    ``visit_day`` is outside its window gets a soft ``visit_window`` warning.
    ``tz`` is the site's time zone, given to a date and time entered without a
    UTC offset (an HTML ``datetime-local`` input); without ``tz`` such a value
    is refused. With ``tz``, a date and time given with an offset is converted
    to site time, so an edit check comparing it with a date uses the site's date.
    """
    try:
        form = protocol.form(form_id)
    except KeyError:
        known = ", ".join(f.id for f in protocol.forms) or "none"
        raise FormError("form", f"unknown form {form_id!r}; the protocol's forms: {known}") from None
    if not isinstance(values, Mapping):
        raise FormError("values", "the submitted values must be a mapping of field id to value")
    if visit_date is not None and (isinstance(visit_date, datetime) or not isinstance(visit_date, date)):
        raise FormError("visit_date", "visit_date must be a date (not a date and time)")
    if visit_day is not None and (isinstance(visit_day, bool) or not isinstance(visit_day, int)):
        raise FormError("visit_day", "visit_day must be a whole number of days")

    result = FormValidation(form_id=form.id, cleaned={})
    specs = {f.id: f for f in form.fields}
    for key in values:
        if key not in specs:
            result.errors.append(
                FieldIssue(
                    str(key), "unknown_field", f"{str(key)!r} is not a field of the form '{form.title}'.", "hard"
                )
            )

    usable: dict[str, Any] = {}  # values edit checks may see: parsed and within the hard limits
    for spec in form.fields:
        raw = values.get(spec.id)
        try:
            value = _parse(spec, raw, tz)
        except _Invalid as err:
            result.errors.append(FieldIssue(spec.id, err.code, err.message, "hard"))
            result.cleaned[spec.id] = None
            continue
        if value is None and spec.required:
            result.errors.append(FieldIssue(spec.id, "required", f"{spec.label} is required.", "hard"))
        issues = _range_issues(spec, value) if value is not None and spec.type in ("number", "integer") else []
        for issue in issues:
            (result.errors if issue.severity == "hard" else result.warnings).append(issue)
        hard = any(i.severity == "hard" for i in issues)
        result.cleaned[spec.id] = None if hard else value
        if not hard:
            usable[spec.id] = value

    context = {"visit_date": visit_date, "visit_day": visit_day}
    facts = _FormFacts(form, usable, context)
    bound = protocol.bound_edit_checks
    for check in protocol.edit_checks_for(form.id):
        outcome = evaluate(bound[check.id], facts)
        if outcome.value is False:  # unknown (None) never fires
            detail = "; ".join(outcome.phrases)
            message = f"{check.message.strip()} ({detail})" if detail else check.message.strip()
            issue = FieldIssue(check.field, check.id, message, check.severity, detail)
            (result.errors if check.severity == "hard" else result.warnings).append(issue)

    if visit_id is not None:
        _visit_issues(protocol, form, visit_id, visit_date, visit_day, result)
    return result


def _visit_issues(
    protocol: Protocol, form: FormSpec, visit_id: str, visit_date: date | None, visit_day: int | None, result: FormValidation
) -> None:
    try:
        visit = protocol.visit(visit_id)
    except KeyError:
        known = ", ".join(v.id for v in protocol.visits) or "none"
        raise FormError("visit", f"unknown visit {visit_id!r}; the protocol's visits: {known}") from None
    if form.id not in visit.forms:
        result.errors.append(
            FieldIssue(None, "visit_form", f"The form '{form.title}' is not collected at {visit.label}.", "hard")
        )
    if visit.kind != "scheduled" or visit_day is None:
        return
    try:
        status = day_window_status(visit, visit_day)
    except ScheduleError:  # pragma: no cover - kind checked above
        return
    if status == "on_time":
        return
    assert visit.day is not None
    first, last = visit.day - visit.window_before_days, visit.day + visit.window_after_days
    when = f"{visit_date.isoformat()} (day {visit_day})" if visit_date else f"day {visit_day}"
    window = f"day {first}" if first == last else f"days {first} to {last}"
    side = "before" if status == "early" else "after"
    result.warnings.append(
        FieldIssue(
            None,
            "visit_window",
            f"{visit.label}: the visit on {when} is {status}, {side} its window ({window} from randomization).",
            "soft",
        )
    )
