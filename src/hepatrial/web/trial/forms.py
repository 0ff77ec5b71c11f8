"""Django forms: they read and re-show what people type; they decide nothing clinical.

- :class:`ScreeningForm` + :class:`LabRowForm` rows: the candidate file's fields
  (``hepatrial.core.candidate``), turned into the candidate dict the core parses.
  The core's error paths (``labs[2].unit``, ``history.dic``) are mapped back
  onto the form fields with :func:`apply_candidate_errors`.
- :func:`crf_form_class`: the eCRF form class, generated at run time from a
  protocol ``FormSpec`` (no hand-written class per CRF).
- small forms for the decision, consent, withdrawal, query and filter POSTs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from hepatrial.core.candidate import History
from hepatrial.core.labs import LAB_TESTS
from hepatrial.services.accounts import locked_out_until, record_access
from hepatrial.web.trial.models import (
    Consent,
    DataQuery,
    Deviation,
    DsmbDecision,
    EligibilityDecision,
    SaeReport,
)

DATETIME_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
LAB_ROWS = 12


class DateTimeLocalInput(forms.DateTimeInput):
    """<input type="datetime-local">: read and shown in the active (site) time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def datetime_local_field(label, required=True, help_text="") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, help_text=help_text,
        input_formats=DATETIME_LOCAL_FORMATS, widget=DateTimeLocalInput(),
    )  # fmt: skip


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


YES_NO_UNKNOWN = [("", _("unknown")), ("yes", _("yes")), ("no", _("no"))]
TRI_STATE = {"": None, "yes": True, "no": False}


def yes_no_unknown(label, help_text="") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label, choices=YES_NO_UNKNOWN, required=False, help_text=help_text,
        coerce=lambda v: TRI_STATE[v], empty_value=None,
    )  # fmt: skip


def _choices(values, blank=_("unknown")):
    return [("", blank), *[(v, v) for v in values]]


#: History items in the order of the candidate file.
HISTORY_ITEMS = list(History.model_fields)
HISTORY_LABELS = {
    "liver_cancer": _("Liver cancer"),
    "active_bleeding": _("Active bleeding"),
    "dic": _("Diffuse intravascular coagulation (DIC)"),
    "allergy_plasma_heparin_protamine": _("Allergy to plasma, heparin or protamine"),
    "heart_disease": _("Heart disease"),
    "lung_disease": _("Lung disease"),
    "blood_disease": _("Blood disease"),
    "autoimmune_disease": _("Autoimmune disease"),
    "diabetes": _("Diabetes"),
    "uncontrolled_infection": _("Uncontrolled infection"),
}

#: Candidate fields the screening form reads, in the candidate file's names.
CANDIDATE_FIELDS = [
    "id", "assessed_at", "age", "sex", "presentation", "chronic_liver_disease",
    "weeks_insult_to_complication", "weeks_symptoms_to_encephalopathy", "encephalopathy_grade",
    "ascites", "dialysis_twice_past_week", "renal_replacement_therapy", "mean_arterial_pressure_mmhg",
    "vasopressors", "pao2_fio2", "spo2_fio2",
]  # fmt: skip
CLIF_FIELDS = ["renal_replacement_therapy", "mean_arterial_pressure_mmhg", "vasopressors", "pao2_fio2", "spo2_fio2"]
IDENTITY_FIELDS = ["name", "hospital_record_number", "phone"]


class ScreeningForm(forms.Form):
    """The candidate's bedside fields and identity (labs are :class:`LabRowForm` rows)."""

    site = forms.ChoiceField(label=_("Site"))
    id = forms.CharField(
        label=_("Screening id"), max_length=64,
        help_text=_("Letters, digits and . _ : / - (no spaces); no names or record numbers."),
    )  # fmt: skip
    assessed_at = datetime_local_field(_("Assessed at"), help_text=_("Site time; labs count up to this time."))
    age = forms.IntegerField(label=_("Age (completed years)"), required=False)
    sex = forms.TypedChoiceField(
        label=_("Sex"), required=False, empty_value=None,
        choices=[("", _("unknown")), ("male", _("male")), ("female", _("female"))],
    )  # fmt: skip
    presentation = forms.TypedChoiceField(
        label=_("Presentation"), required=False, empty_value=None,
        choices=[("", _("unknown")), ("ACLF", "ACLF"), ("ALF", "ALF")],
    )  # fmt: skip
    chronic_liver_disease = yes_no_unknown(_("Chronic liver disease"))
    weeks_insult_to_complication = forms.FloatField(
        label=_("Weeks from acute insult to ascites/encephalopathy (ACLF)"), required=False
    )
    weeks_symptoms_to_encephalopathy = forms.FloatField(
        label=_("Weeks from first symptoms to encephalopathy (ALF)"), required=False
    )
    encephalopathy_grade = forms.TypedChoiceField(
        label=_("Hepatic encephalopathy, West Haven grade"), required=False, coerce=int, empty_value=None,
        choices=[("", _("unknown")), *[(str(g), str(g)) for g in range(5)]],
    )  # fmt: skip
    ascites = forms.TypedChoiceField(
        label=_("Ascites"), required=False, empty_value=None,
        choices=[("", _("unknown")), ("none", _("none")), ("mild", _("mild")),
                 ("moderate", _("moderate")), ("severe", _("severe"))],
    )  # fmt: skip
    dialysis_twice_past_week = yes_no_unknown(
        _("Dialysis twice in the past week"), _("At least twice in the past 7 days, or 24 h of CVVHD.")
    )
    renal_replacement_therapy = yes_no_unknown(_("Renal replacement therapy"))
    mean_arterial_pressure_mmhg = forms.FloatField(label=_("Mean arterial pressure (mmHg)"), required=False)
    vasopressors = yes_no_unknown(_("Vasopressors"))
    pao2_fio2 = forms.FloatField(label=_("PaO2/FiO2"), required=False, help_text=_("PaO2 (mmHg) / FiO2 (fraction)."))
    spo2_fio2 = forms.FloatField(label=_("SpO2/FiO2"), required=False, help_text=_("SpO2 (%) / FiO2 (fraction)."))
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    hospital_record_number = forms.CharField(label=_("Hospital record number"), max_length=64, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        for item in HISTORY_ITEMS:
            self.fields[f"history_{item}"] = yes_no_unknown(HISTORY_LABELS.get(item, item))
        self.fields["site"].choices = [(str(s.pk), str(s)) for s in sites]
        if len(sites) == 1:
            self.fields["site"].initial = str(sites[0].pk)
            self.fields["site"].widget = forms.HiddenInput()

    # groups for the template
    def main_fields(self):
        return [self[f] for f in CANDIDATE_FIELDS if f not in CLIF_FIELDS]

    def clif_fields(self):
        return [self[f] for f in CLIF_FIELDS]

    def history_fields(self):
        return [self[f"history_{item}"] for item in HISTORY_ITEMS]

    def identity_fields(self):
        return [self[f] for f in IDENTITY_FIELDS]

    def candidate_base(self) -> dict[str, Any]:
        """The candidate dict without labs (after is_valid); unknown fields left out."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in CANDIDATE_FIELDS:
            value = data.get(name)
            if isinstance(value, datetime):
                value = value.isoformat()
            if value is not None and value != "":
                out[name] = value
        history = {item: data.get(f"history_{item}") for item in HISTORY_ITEMS}
        out["history"] = {k: v for k, v in history.items() if v is not None}
        return out

    def identity(self) -> dict[str, str]:
        return {f: self.cleaned_data.get(f, "") for f in IDENTITY_FIELDS}


LAB_UNITS = list(dict.fromkeys(u for t in LAB_TESTS.values() for u in t.accepted_units if u != "ratio"))


class LabRowForm(forms.Form):
    """One lab result row; a row with no test and no value is empty and ignored."""

    test = forms.ChoiceField(
        label=_("Test"), required=False, choices=[("", "—"), *[(t.name, t.label) for t in LAB_TESTS.values()]]
    )
    value = forms.FloatField(label=_("Value"), required=False)
    unit = forms.ChoiceField(
        label=_("Unit"), required=False, choices=[("", _("(none: ratio)")), *[(u, u) for u in LAB_UNITS]]
    )
    at = datetime_local_field(_("Drawn at"), required=False)

    def is_empty(self) -> bool:
        data = self.cleaned_data
        return not data.get("test") and data.get("value") is None and data.get("at") is None

    def lab(self) -> dict[str, Any]:
        """The row as the candidate file writes a lab (missing parts left out: the core names them)."""
        data = self.cleaned_data
        out: dict[str, Any] = {"test": data.get("test") or ""}
        if data.get("value") is not None:
            out["value"] = data["value"]
        if data.get("unit"):
            out["unit"] = data["unit"]
        if data.get("at") is not None:
            out["at"] = data["at"].isoformat()
        return out


def lab_rows(data=None, n: int = LAB_ROWS, initial: list[dict] | None = None) -> list[LabRowForm]:
    initial = initial or []
    return [
        LabRowForm(data, prefix=f"lab-{i}", initial=initial[i] if i < len(initial) else None) for i in range(n)
    ]


_LAB_PATH = re.compile(r"^labs\[(\d+)\](?:\.(\w+))?$")


def apply_candidate_errors(form: ScreeningForm, rows: list[LabRowForm], row_of_lab: list[int], errors: dict) -> None:
    """Put the core's errors (keyed by candidate paths) on the form fields they concern."""
    for path, messages in errors.items():
        for message in messages:
            match = _LAB_PATH.match(path)
            if match:
                i, part = int(match.group(1)), match.group(2)
                if i < len(row_of_lab):
                    row = rows[row_of_lab[i]]
                    row.add_error(part if part in row.fields else None, message)
                    continue
            if path.startswith("history.") and f"history_{path[8:]}" in form.fields:
                form.add_error(f"history_{path[8:]}", message)
            elif path in form.fields and path != "site":
                form.add_error(path, message)
            else:
                form.add_error(None, f"{path}: {message}")


# --- investigator decision, consent, enrollment ---------------------------------------------

class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=EligibilityDecision.Decision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Required for an override or a change."))  # fmt: skip


class ConsentForm(forms.Form):
    version = forms.ChoiceField(label=_("Consent document version"))
    obtained_at = datetime_local_field(_("Obtained at"), help_text=_("Site time."))

    def __init__(self, *args, documents=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [
            (d.version, f"{d.version} — {d.title} ({d.effective.isoformat()})") for d in documents
        ]
        if current:
            self.fields["version"].initial = current


class WithdrawForm(forms.Form):
    withdrawn_at = datetime_local_field(_("Withdrawn at"), help_text=_("Site time."))
    scope = forms.ChoiceField(label=_("What the withdrawal covers"), choices=Consent.Scope.choices, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class DeviationForm(forms.Form):
    # a dose outside its window is reported with the dose, from its dosing form
    type = forms.ChoiceField(label=_("Type"), choices=[("", "—"), *(c for c in Deviation.Type.choices if c[0] != Deviation.Type.DOSE_WINDOW)])
    occurred_on = forms.DateField(label=_("Date it happened"), widget=DateInput())
    description = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 3}))
    action = forms.CharField(label=_("Action taken"), widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Corrective and preventive action."))  # fmt: skip


class SaeReportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report"), choices=SaeReport.Kind.choices)
    narrative = forms.CharField(label=_("Narrative"), widget=forms.Textarea(attrs={"rows": 4}),
                                help_text=_("What happened, when, treatment, current status (CIOMS-I section 7)."))  # fmt: skip


class ReferenceRangeForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"))
    lab_test = forms.ChoiceField(label=_("Test"))
    sex = forms.ChoiceField(label=_("Sex"), choices=[("any", _("any")), ("male", _("male")), ("female", _("female"))])
    lln = forms.FloatField(label=_("Lower limit (LLN)"), required=False, min_value=0)
    uln = forms.FloatField(label=_("Upper limit (ULN)"), required=False, min_value=0)
    source = forms.CharField(label=_("Source"), help_text=_("The site laboratory's document and edition."))

    def __init__(self, *args, sites=(), tests=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [(s.code, s.code) for s in sites]
        self.fields["lab_test"].choices = [(t, f"{LAB_TESTS[t].label} ({LAB_TESTS[t].canonical_unit})") for t in tests]


class DsmbDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=DsmbDecision.Decision.choices)
    decided_on = forms.DateField(label=_("Decided on"), widget=DateInput())
    reason = forms.CharField(label=_("The DSMB's reason"), widget=forms.Textarea(attrs={"rows": 2}))


class ManualAllocationForm(forms.Form):
    randomized_at = datetime_local_field(_("Randomized at"), help_text=_("Site time: when the envelope was opened."))


# --- eCRF forms generated from the protocol --------------------------------------------------

def _crf_field(spec) -> forms.Field:
    """One Django field for a protocol FieldSpec.

    Parsing, ranges and required-ness are the core's (``core.forms.validate_form``,
    called by ``do_save_form``): numbers, dates and yes/no go through as the text
    typed, so the core's messages are the ones shown. Only a date and time is
    read here, in the site's time zone (the datetime-local input has no offset)."""
    common = {"label": spec.label, "required": False, "help_text": spec.help or ""}
    if spec.type == "number":
        field = forms.CharField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
    elif spec.type == "integer":
        field = forms.CharField(**common, widget=forms.NumberInput(attrs={"step": "1"}))
    elif spec.type == "text":
        field = forms.CharField(**common, widget=forms.Textarea(attrs={"rows": 2}))
    elif spec.type == "choice":
        field = forms.ChoiceField(**common, choices=[("", "—"), *[(c.value, c.label) for c in spec.choices or ()]])
    elif spec.type == "boolean":
        field = forms.ChoiceField(**common, choices=YES_NO_UNKNOWN)
    elif spec.type == "date":
        field = forms.CharField(**common, widget=DateInput())
    elif spec.type == "datetime":
        field = forms.DateTimeField(**common, input_formats=DATETIME_LOCAL_FORMATS, widget=DateTimeLocalInput())
    else:  # pragma: no cover - the protocol loader refuses other types
        raise ValueError(f"unknown field type {spec.type!r}")
    field.unit = spec.unit_label
    field.required_by_protocol = bool(spec.required)
    return field


def crf_form_class(form_spec) -> type[forms.Form]:
    """A Django form class for ``form_spec`` (a protocol FormSpec): one field per
    FieldSpec, plus the hidden ``version``, the visit date and the reason for change."""
    attrs: dict[str, Any] = {spec.id: _crf_field(spec) for spec in form_spec.fields}
    attrs["version"] = forms.IntegerField(required=False, widget=forms.HiddenInput())
    attrs["visit_date"] = forms.DateField(label=_("Visit date"), required=False, widget=DateInput())
    attrs["reason"] = forms.CharField(
        label=_("Reason for change"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when a saved value is changed."),
    )  # fmt: skip
    attrs["spec_field_ids"] = [spec.id for spec in form_spec.fields]

    def data_fields(self):
        return [self[name] for name in self.spec_field_ids]

    def values(self) -> dict[str, Any]:
        """The entered values by field id, for ``do_save_form`` (empty as None)."""
        out = {}
        for name in self.spec_field_ids:
            value = self.cleaned_data.get(name)
            out[name] = None if value == "" else value
        return out

    attrs["data_fields"] = data_fields
    attrs["values"] = values
    return type(f"{form_spec.id.title().replace('_', '')}Form", (forms.Form,), attrs)


def crf_initial(form_spec, stored: dict[str, Any]) -> dict[str, Any]:
    """Stored (JSON) values as a form's initial data."""
    initial = {}
    for spec in form_spec.fields:
        value = stored.get(spec.id)
        if value is None:
            continue
        if spec.type == "boolean":
            value = "yes" if value else "no"
        elif spec.type == "datetime" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif spec.type in ("number", "integer") and isinstance(value, float):
            value = str(int(value)) if value.is_integer() else repr(value)  # 15, not 15.0
        initial[spec.id] = value
    return initial


# --- queries and filters ---------------------------------------------------------------------

class QueryMessageForm(forms.Form):
    text = forms.CharField(label=_("Message"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class RaiseQueryForm(forms.Form):
    field = forms.ChoiceField(label=_("Field"))
    text = forms.CharField(label=_("Query"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = list(field_choices)


class QueryFilterForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"), required=False)
    subject = forms.CharField(label=_("Subject"), required=False)
    form = forms.ChoiceField(label=_("Form"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("any")), *DataQuery.State.choices])
    min_age_days = forms.IntegerField(label=_("Open at least (days)"), required=False, min_value=0, max_value=36500)

    def __init__(self, *args, sites=(), form_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", _("any")), *[(s.code, s.code) for s in sites]]
        self.fields["form"].choices = [("", _("any")), *form_choices]


class AuditFilterForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), required=False)
    form = forms.ChoiceField(label=_("Form"), required=False)
    field = forms.CharField(label=_("Field"), required=False)

    def __init__(self, *args, form_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [("", _("any")), *form_choices]


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, refusing a user locked out by repeated failed attempts
    (services.accounts.locked_out_until) before the password is even checked."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and (until := locked_out_until(username)) is not None:
            record_access("login_locked_out", username=username, detail=f"refused until {until:%Y-%m-%d %H:%M} UTC")
            raise forms.ValidationError(
                _("Too many failed attempts: this account is locked until %(until)s UTC. Ask an administrator if it was not you."),
                code="locked_out", params={"until": f"{until:%H:%M}"})  # fmt: skip
        return super().clean()
