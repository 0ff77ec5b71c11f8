"""Request and response shapes of the JSON API (see ``api.py`` and docs/api.md).

Request bodies forbid unknown keys: a misspelt key is a 422, never silently
ignored. Date-times must carry a UTC offset (``2026-11-20T09:30:00+08:00``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import AwareDatetime, ConfigDict, Field


class In(Schema):
    model_config = ConfigDict(extra="forbid")


# --- answers shared by every endpoint ------------------------------------------------------

class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, for a person to read.")
    errors: dict[str, list[str]] = Field(
        default_factory=dict, description="Field (dotted path) -> messages; empty when no one field is at fault."
    )


# --- who and where -------------------------------------------------------------------------

class MeOut(Schema):
    username: str
    role: str
    sites: list[str] = Field(description="Codes of the sites whose records you can read.")
    csrf_token: str | None = Field(description="With session authentication: send it as X-CSRFToken on unsafe methods.")


class SiteOut(Schema):
    code: str
    name: str
    time_zone: str


# --- screening -----------------------------------------------------------------------------

class IdentityIn(In):
    name: str = ""
    hospital_record_number: str = ""
    phone: str = ""


class IdentityOut(Schema):
    name: str
    hospital_record_number: str
    phone: str


class ScreeningIn(In):
    site: str = Field(description="Site code, e.g. SYSU3.")
    candidate: dict[str, Any] = Field(description="A candidate file (see examples/*.json); no identifying data.")
    identity: IdentityIn | None = None


class ScreeningRow(Schema):
    id: int
    site: str
    screened_at: datetime
    age: int | None
    sex: str
    verdict: str
    failing: list[str]
    decision: str | None
    subject_id: str | None


class DecisionOut(Schema):
    decision: str
    reason: str
    decided_by: str
    decided_at: datetime


class ConsentOut(Schema):
    id: int
    screening_id: int
    version: str
    obtained_at: datetime
    obtained_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None
    withdrawal_scope: str


class ScreeningOut(ScreeningRow):
    protocol_id: str
    assessed_at: datetime
    screened_by: str
    candidate: dict[str, Any]
    result: dict[str, Any] = Field(description="The screening result: verdict, criteria with evidence, scores.")
    identity: IdentityOut | None = Field(description="Only for the staff of the screening's own site.")
    consents: list[ConsentOut]
    consent_state: str
    decision_detail: DecisionOut | None


class DecisionIn(In):
    decision: Literal["confirmed", "overridden", "not_eligible"]
    reason: str = ""


class ConsentIn(In):
    version: str
    obtained_at: AwareDatetime


class WithdrawalIn(In):
    withdrawn_at: AwareDatetime
    scope: Literal["no_further_treatment", "no_further_data"]
    reason: str


# --- subjects and forms --------------------------------------------------------------------

class SubjectRow(Schema):
    subject_id: str
    site: str
    enrolled_at: datetime
    anchor_date: date | None
    consent_state: str


class FormCell(Schema):
    form_id: str
    title: str
    status: str = Field(description="missing | started | complete | queried")
    version: int | None


class VisitOut(Schema):
    visit_id: str
    label: str
    kind: str
    day: int | None
    target: date | None
    earliest: date | None
    latest: date | None
    forms: list[FormCell]


class AllocationOut(Schema):
    """The subject's own allocation: never a slot number or what remains of the list."""

    arm: str
    arm_label: str
    allocated_at: datetime
    allocated_by: str


class SubjectOut(SubjectRow):
    screening_id: int
    identity: IdentityOut | None = Field(description="Only for the staff of the subject's own site.")
    consents: list[ConsentOut]
    visits: list[VisitOut]
    allocation: AllocationOut | None = Field(default=None, description="Once randomized.")


class QueryBrief(Schema):
    id: int
    field: str
    check_id: str
    state: str
    text: str


class FormOut(Schema):
    subject_id: str
    visit_id: str
    form_id: str
    sequence: int
    status: str = Field(description="missing | started | complete | queried")
    version: int | None = Field(description="Send it back as expected_version; null before the first save.")
    visit_date: date | None
    data: dict[str, Any]
    queries: list[QueryBrief]


class DoseDeviationIn(In):
    description: str = Field(description="What happened, and why.")
    action: str = Field(description="The action taken (corrective and preventive).")


class FormIn(In):
    values: dict[str, Any] = Field(description="Field id -> value, as the form's fields define them.")
    expected_version: int | None = Field(description="The version you read (null to create the form).")
    visit_date: date | None
    reason: str = Field("", description="Required when a saved value changes.")
    confirmations: dict[str, str] = Field(
        default_factory=dict, description="'field:code' of a warning -> why the value is right as entered."
    )
    complete: bool = Field(True, description="false saves a partly filled form (required fields may be empty).")
    deviation: DoseDeviationIn | None = Field(
        None, description="Only for a dose (the dosing form) outside its window: the protocol deviation it is saved with."
    )


class WarningOut(Schema):
    field: str | None
    code: str
    message: str


class FormSaved(Schema):
    version: int
    status: str
    warnings: list[WarningOut]
    opened_queries: list[int]


# --- queries -------------------------------------------------------------------------------

QueryState = Literal["open", "answered", "closed", "closed_modified"]


class QueryRow(Schema):
    id: int
    site: str
    subject_id: str
    visit_id: str
    form_id: str
    sequence: int
    field: str
    check_id: str
    state: str
    text: str
    raised_by: str | None
    raised_at: datetime
    updated_at: datetime
    age_days: int


class MessageOut(Schema):
    at: datetime
    kind: str
    author: str | None
    text: str


class QueryOut(QueryRow):
    value: Any = Field(description="The field's current value.")
    messages: list[MessageOut]


class QueryIn(In):
    subject_id: str
    visit_id: str
    form_id: str
    sequence: int = Field(1, ge=1)
    field: str
    text: str


class QueryMessageIn(In):
    text: str = ""


# --- dosing and deviations ------------------------------------------------------------------

class DoseOut(Schema):
    number: int
    visit_id: str
    label: str
    target: date
    earliest: date
    latest: date
    status: Literal["upcoming", "due", "overdue", "given", "given_out_of_window", "not_given", "started", "stopped"]
    dose_date: date | None = Field(description="The date the infusion started (site time), once recorded.")
    window: Literal["early", "on_time", "late"] | None


DeviationType = Literal["dose_window", "missed_dose", "visit_window", "eligibility", "consent", "procedure", "other"]


class DeviationIn(In):
    type: DeviationType
    occurred_on: date
    description: str
    action: str


class DeviationOut(Schema):
    id: int
    subject_id: str
    site: str
    type: DeviationType
    type_label: str
    occurred_on: date
    description: str
    action: str
    form: str | None = Field(description="visit_id/form_id of the form it concerns (a dose's dosing form).")
    reported_by: str
    reported_at: datetime
