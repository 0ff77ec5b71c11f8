"""Validating one eCRF submission (core/forms.py) against the NCT05940610 forms.

Ranges checked here are the protocol file's: hard limits are the lab
catalogue's impossible bounds (core/labs.py LAB_TESTS; INR 0.5-20 from issue
#2), plausible limits the trial team's for adults with ACLF/ALF, vital signs
at or beyond the NEWS2 score-3 bands (Royal College of Physicians, 2017).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hepatrial.core.forms import FieldIssue, FormError, FormValidation, parse_value, validate_form
from hepatrial.core.protocol import load_protocol

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the site of NCT05940610 (Guangzhou) keeps China Standard Time
PLUS8 = timezone(timedelta(hours=8))
VISIT_DATE = date(2024, 3, 4)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


LAB = {
    "sample_datetime": "2024-03-04T07:30+08:00",
    "total_bilirubin": "250",
    "inr": "2.0",
    "prothrombin_activity": "30",
    "creatinine": "90",
    "sodium": "132",
    "albumin": "28",
    "alt": "120",
    "ast": "150",
    "alkaline_phosphatase": "140",
    "platelets": "85",
    "wbc": "6.2",
    "neutrophils": "4.1",
    "hemoglobin": "105",
    "urea": "6.5",
}
CLINICAL = {
    "west_haven_grade": "1",
    "ascites": "mild",
    "systolic_bp": "112",
    "diastolic_bp": "68",
    "heart_rate": "88",
    "temperature_c": "37.2",
    "respiratory_rate": "18",
    "spo2": "97",
    "weight_kg": "64.5",
}
SMT = {
    "albumin_infusion": "yes",
    "albumin_g": "40",
    "plasma_ml": "400",
    "antiviral": "entecavir",
    "nutrition_support": "yes",
    "liver_protective": "no",
    "liver_protective_which": "",
    "other_treatment": "",
}
OUTCOME = {"status": "alive", "status_date": "2024-03-04", "transplant_date": "", "death_date": "", "death_cause": ""}
DOSING = {
    "administered": "yes",
    "not_given_reason": "",
    "product": "msc_ev",
    "lot_number": "EV-2024-017",
    "particle_count": "1.0e10",
    "volume_ml": "100",
    "start_datetime": "2024-03-04T09:00+08:00",
    "stop_datetime": "2024-03-04T10:00+08:00",
    "rate_ml_h": "100",
    "interrupted": "no",
    "interruption_details": "",
    "reaction": "no",
    "reaction_details": "",
}
AE = {
    "term": "Infusion related reaction", "verbatim": "chills and rigors 20 minutes into the infusion",
    "onset_date": "2024-03-04", "resolution_date": "2024-03-04", "grade": "2", "serious": "no",
    "sae_death": "", "sae_life_threatening": "", "sae_hospitalization": "", "sae_disability": "",
    "sae_congenital_anomaly": "", "sae_important_medical_event": "", "awareness_datetime": "",
    "relationship": "probable", "expectedness": "expected", "action_taken": "interrupted", "outcome": "recovered",
}  # fmt: skip
SAE = {**AE, "grade": "3", "serious": "yes", "sae_hospitalization": "yes", "awareness_datetime": "2024-03-04T10:00+08:00"}
BASE = {"lab_panel": LAB, "clinical_status": CLINICAL, "smt_given": SMT, "outcome_status": OUTCOME, "dosing": DOSING,
        "adverse_event": AE}  # fmt: skip


def check(protocol, form_id, changes=None, *, visit_date=VISIT_DATE, visit_day=7, **kw) -> FormValidation:
    values = {**BASE[form_id], **(changes or {})}
    values = {k: v for k, v in values.items() if v is not ...}  # ... removes a key
    return validate_form(protocol, form_id, values, visit_date=visit_date, visit_day=visit_day, **kw)


def codes(issues: list[FieldIssue]) -> list[tuple[str | None, str]]:
    return [(i.field, i.code) for i in issues]


@pytest.mark.parametrize("form_id", sorted(BASE))
def test_a_good_submission_has_no_issue(protocol, form_id):
    result = check(protocol, form_id)
    assert result.errors == [] and result.warnings == []
    assert result.ok
    assert set(result.cleaned) == {f.id for f in protocol.form(form_id).fields}


# --- parsing: strings (HTML) and typed values (JSON) ----------------------------------------------
def test_cleaned_values_are_typed(protocol):
    lab = check(protocol, "lab_panel").cleaned
    assert lab["total_bilirubin"] == 250.0 and type(lab["total_bilirubin"]) is float
    assert lab["sample_datetime"] == datetime(2024, 3, 4, 7, 30, tzinfo=PLUS8)
    clinical = check(protocol, "clinical_status").cleaned
    assert clinical["west_haven_grade"] == 1 and type(clinical["west_haven_grade"]) is int
    assert clinical["ascites"] == "mild"
    smt = check(protocol, "smt_given").cleaned
    assert smt["albumin_infusion"] is True and smt["liver_protective"] is False
    assert smt["liver_protective_which"] is None  # "" is empty
    outcome = check(protocol, "outcome_status").cleaned
    assert outcome["status_date"] == date(2024, 3, 4) and outcome["death_date"] is None


def test_json_values_are_accepted(protocol):
    values = {
        "sample_datetime": datetime(2024, 3, 4, 7, 30, tzinfo=PLUS8),
        "total_bilirubin": 250,
        "inr": 2.0,
        "prothrombin_activity": Decimal("30.5"),
    }
    result = validate_form(protocol, "lab_panel", values, visit_date=VISIT_DATE, visit_day=7)
    assert result.errors == [] and result.warnings == []
    assert result.cleaned["total_bilirubin"] == 250.0 and type(result.cleaned["total_bilirubin"]) is float
    assert result.cleaned["prothrombin_activity"] == 30.5
    assert result.cleaned["creatinine"] is None  # absent: empty
    smt = validate_form(
        protocol, "smt_given", {"albumin_infusion": True, "albumin_g": 40, "antiviral": "none",
                                "nutrition_support": False, "liver_protective": False},
        visit_date=VISIT_DATE, visit_day=7,
    )  # fmt: skip
    assert smt.ok and smt.cleaned["albumin_infusion"] is True and smt.cleaned["nutrition_support"] is False
    outcome = validate_form(protocol, "outcome_status", {"status": "alive", "status_date": date(2024, 3, 1)},
                            visit_date=VISIT_DATE, visit_day=7)  # fmt: skip
    assert outcome.ok and outcome.cleaned["status_date"] == date(2024, 3, 1)
    clinical = validate_form(protocol, "clinical_status", {"west_haven_grade": 2.0, "ascites": "none"},
                             visit_date=VISIT_DATE, visit_day=7)  # fmt: skip
    assert clinical.ok and clinical.cleaned["west_haven_grade"] == 2 and type(clinical.cleaned["west_haven_grade"]) is int


@pytest.mark.parametrize(
    "field, raw, expected",
    [
        ("total_bilirubin", " 250.5 ", 250.5),
        ("total_bilirubin", "+250", 250.0),
        ("total_bilirubin", ".5e3", 500.0),
        ("inr", "1.", 1.0),
        ("west_haven_grade", "3", 3),
        ("west_haven_grade", "3.0", 3),
        ("albumin_infusion", "YES", True),
        ("albumin_infusion", "on", True),
        ("albumin_infusion", "1", True),
        ("albumin_infusion", "false", False),
        ("albumin_infusion", "No", False),
        ("albumin_infusion", "0", False),
        ("ascites", " severe ", "severe"),
        ("status_date", "2024-02-29", date(2024, 2, 29)),
        ("sample_datetime", "2024-03-04T07:30Z", datetime(2024, 3, 4, 7, 30, tzinfo=timezone.utc)),
        ("sample_datetime", "2024-03-04 07:30:15+08:00", datetime(2024, 3, 4, 7, 30, 15, tzinfo=PLUS8)),
        ("death_cause", "  sepsis ", "sepsis"),
    ],
)
def test_parse_value_from_strings(protocol, field, raw, expected):
    spec = next(f for form in protocol.forms for f in form.fields if f.id == field)
    value = parse_value(spec, raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_values_are_none(protocol, raw):
    for form in protocol.forms:
        for spec in form.fields:
            assert parse_value(spec, raw) is None


@pytest.mark.parametrize(
    "form_id, field, raw, words",
    [
        ("lab_panel", "total_bilirubin", "abc", "'abc' is not a number"),
        ("lab_panel", "total_bilirubin", "250 umol/L", "Give the number only, in umol/L"),
        ("lab_panel", "total_bilirubin", "1,250", "write the decimal separator as a point: 1.250, not 1,250"),
        ("lab_panel", "inr", "2,5", "INR: write the decimal separator as a point: 2.5, not 2,5."),
        ("lab_panel", "total_bilirubin", "1,250.5", "without thousands separators"),
        ("lab_panel", "total_bilirubin", "1_000", "is not a number"),
        ("lab_panel", "total_bilirubin", "nan", "is not a number"),
        ("lab_panel", "total_bilirubin", float("inf"), "not a finite number"),
        ("lab_panel", "total_bilirubin", True, "is a yes/no value, not a number"),
        ("lab_panel", "total_bilirubin", [250], "is not a number"),
        ("clinical_status", "west_haven_grade", "2.5", "Hepatic encephalopathy (West Haven grade): 2.5 is not a whole number."),
        ("clinical_status", "west_haven_grade", "II", "'II' is not a number"),
        ("smt_given", "albumin_infusion", "maybe", "Human serum albumin given: 'maybe' is not yes or no."),
        ("smt_given", "albumin_infusion", 1, "is not yes or no"),
        ("outcome_status", "status_date", "04/03/2024", "is not a date; write it as YYYY-MM-DD"),
        ("outcome_status", "status_date", "2023-02-29", "is not a date that exists"),
        ("outcome_status", "status_date", "20240304", "write it as YYYY-MM-DD"),
        ("outcome_status", "status_date", datetime(2024, 3, 4, 8, 0, tzinfo=PLUS8), "give a date without a time"),
        ("lab_panel", "sample_datetime", "2024-03-04", "is not a date and time; write it as YYYY-MM-DDTHH:MM"),
        ("lab_panel", "sample_datetime", "2024-03-04T25:00+08:00", "is not a date and time that exists"),
        ("lab_panel", "sample_datetime", "2024-03-04T07:30", "has no time zone; give the UTC offset"),
        ("lab_panel", "sample_datetime", datetime(2024, 3, 4, 7, 30), "has no time zone"),
        ("outcome_status", "death_cause", 42, "Cause of death: '42' is not text."),
    ],
)
def test_type_errors_are_hard_and_name_the_field(protocol, form_id, field, raw, words):
    result = check(protocol, form_id, {field: raw})
    [issue] = [i for i in result.errors if i.field == field]
    assert issue.code == "type" and issue.severity == "hard"
    assert words in issue.message
    assert result.cleaned[field] is None
    assert not result.ok


def test_a_choice_outside_the_list(protocol):
    result = check(protocol, "clinical_status", {"ascites": "massive"})
    [issue] = result.errors
    assert (issue.field, issue.code, issue.severity) == ("ascites", "choice", "hard")
    assert issue.message == "Ascites: 'massive' is not one of the choices (none, mild, moderate, severe)."
    # values are matched exactly (the label is not a value)
    assert codes(check(protocol, "clinical_status", {"ascites": "Mild"}).errors) == [("ascites", "choice")]


def test_a_naive_datetime_takes_the_site_time_zone(protocol):
    result = check(protocol, "lab_panel", {"sample_datetime": "2024-03-04T07:30"}, tz=SHANGHAI)
    assert result.ok
    value = result.cleaned["sample_datetime"]
    assert value.utcoffset() == timedelta(hours=8)
    assert value.astimezone(timezone.utc) == datetime(2024, 3, 3, 23, 30, tzinfo=timezone.utc)
    # an explicit offset keeps its instant (not re-read as site time), expressed in site time
    kept = check(protocol, "lab_panel", {"sample_datetime": "2024-03-04T07:30+01:00"}, tz=SHANGHAI)
    assert kept.cleaned["sample_datetime"] == datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)
    assert kept.cleaned["sample_datetime"].utcoffset() == timedelta(hours=8)


def test_an_edit_check_compares_a_datetime_with_the_visit_date_at_the_site(protocol):
    """23:30 UTC on 3 March is 07:30 on 4 March in Guangzhou: the sample is on the visit date there."""
    utc = check(protocol, "lab_panel", {"sample_datetime": "2024-03-03T23:30+00:00"}, visit_date=date(2024, 3, 3), tz=SHANGHAI)
    assert "sample_after_visit" in [w.code for w in utc.warnings]
    same_day = check(protocol, "lab_panel", {"sample_datetime": "2024-03-03T23:30+00:00"}, visit_date=date(2024, 3, 4), tz=SHANGHAI)
    assert "sample_after_visit" not in [w.code for w in same_day.warnings]


# --- required, unknown fields -------------------------------------------------------------------
@pytest.mark.parametrize(
    "form_id, field",
    [
        ("lab_panel", "sample_datetime"),
        ("clinical_status", "west_haven_grade"),
        ("clinical_status", "ascites"),
        ("smt_given", "albumin_infusion"),
        ("smt_given", "antiviral"),
        ("outcome_status", "status"),
        ("outcome_status", "status_date"),
    ],
)
@pytest.mark.parametrize("empty", ["", None, ...])
def test_required_fields(protocol, form_id, field, empty):
    result = check(protocol, form_id, {field: empty})
    issues = [i for i in result.errors if i.field == field]
    assert [(i.code, i.severity) for i in issues] == [("required", "hard")]
    assert issues[0].message == f"{protocol.form(form_id).field(field).label} is required."


def test_optional_fields_may_be_empty(protocol):
    result = validate_form(protocol, "lab_panel", {"sample_datetime": LAB["sample_datetime"]}, visit_date=VISIT_DATE, visit_day=7)
    assert result.ok and result.warnings == []
    assert all(v is None for k, v in result.cleaned.items() if k != "sample_datetime")


def test_unknown_fields_are_hard_errors(protocol):
    result = check(protocol, "lab_panel", {"bilirubin": "250", "csrfmiddlewaretoken": "x"})
    assert codes(result.errors) == [("bilirubin", "unknown_field"), ("csrfmiddlewaretoken", "unknown_field")]
    assert result.errors[0].message == "'bilirubin' is not a field of the form 'Laboratory panel'."
    assert "bilirubin" not in result.cleaned


# --- hard and plausible limits, at the boundary ---------------------------------------------------
@pytest.mark.parametrize(
    "form_id, field, ok_values, refused",
    [
        # labs.LAB_TESTS impossible bounds
        ("lab_panel", "total_bilirubin", ["0", "2000"], [("-0.1", "min"), ("2000.1", "max")]),
        ("lab_panel", "inr", ["0.5", "20"], [("0.49", "min"), ("20.01", "max")]),
        ("lab_panel", "creatinine", ["10", "3000"], [("9.9", "min"), ("3001", "max")]),
        ("lab_panel", "sodium", ["80", "220"], [("79", "min"), ("221", "max")]),
        ("lab_panel", "albumin", ["5", "100"], [("4.9", "min"), ("101", "max")]),
        ("lab_panel", "hemoglobin", ["10", "300"], [("9", "min"), ("301", "max")]),
        ("clinical_status", "west_haven_grade", ["0", "4"], [("-1", "min"), ("5", "max")]),
        ("clinical_status", "spo2", ["30", "100"], [("29", "min"), ("101", "max")]),
        ("clinical_status", "temperature_c", ["30", "45"], [("29.9", "min"), ("45.1", "max")]),
        ("smt_given", "albumin_g", ["0"], [("-1", "min"), ("2001", "max")]),
    ],
)
def test_hard_limits_are_inclusive(protocol, form_id, field, ok_values, refused):
    for raw in ok_values:
        assert not [i for i in check(protocol, form_id, {field: raw}).errors if i.field == field], raw
    for raw, code in refused:
        result = check(protocol, form_id, {field: raw})
        assert codes(result.errors) == [(field, code)], raw
        assert result.cleaned[field] is None


def test_hard_limit_messages_name_label_value_limit_and_unit(protocol):
    [issue] = check(protocol, "lab_panel", {"total_bilirubin": "2500"}).errors
    assert issue.message == "Total bilirubin 2500 umol/L is above the maximum of 2000 umol/L."
    [issue] = check(protocol, "lab_panel", {"inr": "0.3"}).errors
    assert issue.message == "INR 0.3 is below the minimum of 0.5."  # a ratio has no unit
    [issue] = check(protocol, "clinical_status", {"spo2": "101"}).errors
    assert issue.message == "SpO2 (pulse oximetry) 101 % is above the maximum of 100 %."


@pytest.mark.parametrize(
    "form_id, field, low, high, step",
    [
        ("lab_panel", "total_bilirubin", 3, 1000, 0.1),
        ("lab_panel", "inr", 0.8, 10, 0.01),
        ("lab_panel", "prothrombin_activity", 5, 130, 1),
        ("lab_panel", "sodium", 110, 160, 1),
        ("lab_panel", "platelets", 5, 1000, 1),
        ("clinical_status", "systolic_bp", 70, 220, 1),
        ("clinical_status", "heart_rate", 40, 150, 1),
        ("clinical_status", "respiratory_rate", 8, 40, 1),
        ("clinical_status", "spo2", 80, 100, None),
    ],
)
def test_plausible_limits_warn_outside_and_not_at_the_boundary(protocol, form_id, field, low, high, step):
    def warned(raw):
        return [i for i in check(protocol, form_id, {field: raw}).warnings if i.code == "plausible"]

    assert warned(str(low)) == [] and warned(str(high)) == []
    below = warned(f"{low - step:g}") if step else []
    if step:
        [issue] = below
        assert (issue.field, issue.severity) == (field, "soft")
        assert "below the plausible minimum" in issue.message
        [issue] = warned(f"{high + step:g}")
        assert "above the plausible maximum" in issue.message
    result = check(protocol, form_id, {field: f"{high + (step or 0):g}"})
    assert result.ok  # a soft warning never stops the save
    assert result.cleaned[field] == pytest.approx(high + (step or 0))


def test_plausible_message_names_label_value_limit_and_unit(protocol):
    [issue] = check(protocol, "lab_panel", {"total_bilirubin": "1200"}).warnings
    assert issue.message == (
        "Total bilirubin 1200 umol/L is above the plausible maximum of 1000 umol/L. Check the value and its unit."
    )


# --- edit checks, each both ways -----------------------------------------------------------------
# (form, check id, changes that make it fire, visit_day, changes that keep it silent)
FIRES = [
    ("lab_panel", "bilirubin_looks_like_mg_dl", {"total_bilirubin": "15"}, 7, {"total_bilirubin": "20"}),
    ("lab_panel", "sample_after_visit", {"sample_datetime": "2024-03-05T00:10+08:00"}, 7,
     {"sample_datetime": "2024-03-04T23:59+08:00"}),
    ("lab_panel", "inr_pta_inconsistent", {"inr": "2.4", "prothrombin_activity": "75"}, 7,
     {"inr": "2.4", "prothrombin_activity": "25"}),
    ("lab_panel", "inr_pta_inconsistent", {"inr": "1.1", "prothrombin_activity": "35"}, 7,
     {"inr": "1.1", "prothrombin_activity": "85"}),
    ("lab_panel", "neutrophils_above_wbc", {"neutrophils": "7", "wbc": "6.2"}, 7, {"neutrophils": "6.2", "wbc": "6.2"}),
    ("clinical_status", "diastolic_not_below_systolic", {"diastolic_bp": "112"}, 7, {"diastolic_bp": "111"}),
    ("smt_given", "albumin_amount_missing", {"albumin_g": ""}, 7, {"albumin_g": "20"}),
    ("smt_given", "albumin_amount_without_infusion", {"albumin_infusion": "no", "albumin_g": "20"}, 7,
     {"albumin_infusion": "no", "albumin_g": "0"}),
    ("smt_given", "liver_protective_which_missing", {"liver_protective": "yes"}, 7,
     {"liver_protective": "yes", "liver_protective_which": "glycyrrhizin"}),
    ("outcome_status", "death_date_required", {"status": "died", "death_cause": "sepsis"}, 28,
     {"status": "died", "death_date": "2024-03-02", "death_cause": "sepsis"}),
    ("outcome_status", "transplant_date_required", {"status": "transplanted"}, 28,
     {"status": "transplanted", "transplant_date": "2024-02-20"}),
    ("outcome_status", "death_date_only_if_died", {"death_date": "2024-03-01"}, 28,
     {"status": "died", "death_date": "2024-03-01", "death_cause": "sepsis"}),
    ("outcome_status", "death_cause_missing", {"status": "died", "death_date": "2024-03-01"}, 28,
     {"status": "died", "death_date": "2024-03-01", "death_cause": "variceal bleeding"}),
    ("outcome_status", "death_after_status_date",
     {"status": "died", "death_date": "2024-03-03", "status_date": "2024-03-02", "death_cause": "x"}, 28,
     {"status": "died", "death_date": "2024-03-02", "status_date": "2024-03-02", "death_cause": "x"}),
    ("outcome_status", "transplant_after_status_date",
     {"status": "transplanted", "transplant_date": "2024-03-03", "status_date": "2024-03-02"}, 28,
     {"status": "transplanted", "transplant_date": "2024-03-02", "status_date": "2024-03-02"}),
    ("outcome_status", "status_date_after_visit", {"status_date": "2024-03-05"}, 28, {"status_date": "2024-03-04"}),
    ("dosing", "dose_reason_not_given", {"administered": "no", "product": "", "lot_number": "", "particle_count": "",
     "volume_ml": "", "start_datetime": "", "stop_datetime": "", "rate_ml_h": ""}, 7,
     {"administered": "no", "not_given_reason": "hepatorenal syndrome, on dialysis", "product": "", "lot_number": "",
      "particle_count": "", "volume_ml": "", "start_datetime": "", "stop_datetime": "", "rate_ml_h": ""}),
    ("dosing", "dose_product_required", {"product": "", "particle_count": ""}, 7, {"product": "saline", "particle_count": ""}),
    ("dosing", "dose_lot_required", {"lot_number": ""}, 7, {"lot_number": "S-1"}),
    ("dosing", "dose_volume_required", {"volume_ml": ""}, 7, {"volume_ml": "100"}),
    ("dosing", "dose_start_required", {"start_datetime": ""}, 7, {"start_datetime": "2024-03-04T09:00+08:00"}),
    ("dosing", "dose_particles_required", {"particle_count": ""}, 7, {"particle_count": "1e10"}),
    ("dosing", "dose_particles_for_saline", {"product": "saline"}, 7, {"product": "saline", "particle_count": ""}),
    ("dosing", "dose_stop_after_start", {"stop_datetime": "2024-03-04T09:00+08:00"}, 7,
     {"stop_datetime": "2024-03-04T09:01+08:00"}),
    ("dosing", "dose_start_on_visit_date", {"start_datetime": "2024-03-03T23:00+08:00", "stop_datetime": ""}, 7,
     {"start_datetime": "2024-03-04T00:00+08:00", "stop_datetime": ""}),
    ("dosing", "dose_interruption_details", {"interrupted": "yes"}, 7,
     {"interrupted": "yes", "interruption_details": "paused 10 min at 09:20 for a blood pressure check"}),
    ("dosing", "dose_reaction_details", {"reaction": "yes"}, 7, {"reaction": "yes", "reaction_details": "chills at 09:30, resolved"}),
    ("adverse_event", "ae_serious_needs_criterion", {"serious": "yes", "awareness_datetime": "2024-03-04T10:00+08:00"}, None,
     {"serious": "yes", "sae_important_medical_event": "yes", "awareness_datetime": "2024-03-04T10:00+08:00"}),
    ("adverse_event", "ae_criterion_means_serious", {"sae_hospitalization": "yes"}, None, {"sae_hospitalization": "no"}),
    ("adverse_event", "ae_serious_needs_awareness", {**SAE, "awareness_datetime": ""}, None, SAE),
    ("adverse_event", "ae_awareness_after_onset", {**SAE, "awareness_datetime": "2024-03-03T23:00+08:00"}, None,
     {**SAE, "awareness_datetime": "2024-03-04T00:00+08:00"}),
    ("adverse_event", "ae_resolution_after_onset", {"resolution_date": "2024-03-03"}, None, {"resolution_date": "2024-03-04"}),
    ("adverse_event", "ae_grade5_is_fatal", {"grade": "5"}, None, {"grade": "4"}),
    ("adverse_event", "ae_death_is_serious", {"grade": "5", "outcome": "fatal"}, None,
     {**SAE, "grade": "5", "outcome": "fatal", "sae_death": "yes", "resolution_date": ""}),
    ("adverse_event", "ae_onset_not_after_record", {"onset_date": "2024-03-05", "resolution_date": ""}, None,
     {"onset_date": "2024-03-04"}),
]


@pytest.mark.parametrize("form_id, check_id, fire, day, silent", FIRES, ids=[f"{f[1]}-{i}" for i, f in enumerate(FIRES)])
def test_each_edit_check_fires_and_stays_silent(protocol, form_id, check_id, fire, day, silent):
    declared = next(c for c in protocol.edit_checks if c.id == check_id)
    fired = check(protocol, form_id, fire, visit_day=day)
    issues = [i for i in fired.errors + fired.warnings if i.code == check_id]
    assert len(issues) == 1, codes(fired.errors + fired.warnings)
    [issue] = issues
    assert (issue.field, issue.severity) == (declared.field, declared.severity)
    assert issue.message.startswith(declared.message.strip())
    assert issue.detail and issue.detail in issue.message
    assert (issue in fired.errors) == (declared.severity == "hard")
    assert fired.ok == (declared.severity == "soft")  # only this check differs from a good form
    quiet = check(protocol, form_id, silent, visit_day=day)
    assert quiet.errors == [] and quiet.warnings == [], codes(quiet.errors + quiet.warnings)


def test_every_declared_edit_check_is_tested_both_ways(protocol):
    assert {c.id for c in protocol.edit_checks} == {f[1] for f in FIRES}


def test_the_bilirubin_check_explains_with_the_values(protocol):
    [issue] = check(protocol, "lab_panel", {"total_bilirubin": "15"}, visit_day=10).warnings
    assert issue.detail == "Visit day 10 <= 28; Total bilirubin 15 umol/L < 20 umol/L"
    assert "mg/dL" in issue.message


@pytest.mark.parametrize(
    "visit_day, fires",
    [(None, True), (-3, True), (0, True), (28, True), (29, False), (84, False)],
)
def test_the_bilirubin_check_applies_in_the_first_four_weeks_and_at_screening(protocol, visit_day, fires):
    # A normal bilirubin is expected in survivors after day 28; at screening
    # (no visit_day yet) an ACLF/ALF candidate below 20 umol/L is a likely unit slip.
    result = check(protocol, "lab_panel", {"total_bilirubin": "15"}, visit_day=visit_day)
    assert [i.code for i in result.warnings] == (["bilirubin_looks_like_mg_dl"] if fires else [])


def test_the_sample_date_is_compared_by_its_own_date(protocol):
    # 23:30 on the visit day at the site (+08:00) is 15:30 UTC the same day; 00:30 the next
    # day at the site is still 16:30 UTC on the visit day, but it is the next day where it was taken.
    on_the_day = check(protocol, "lab_panel", {"sample_datetime": "2024-03-04T23:30+08:00"})
    assert on_the_day.warnings == []
    next_day = check(protocol, "lab_panel", {"sample_datetime": "2024-03-05T00:30+08:00"})
    [issue] = next_day.warnings
    assert issue.code == "sample_after_visit"
    assert issue.detail == "Sample date and time 2024-03-05T00:30:00+08:00 (date 2024-03-05) > Visit date 2024-03-04"
    # earlier samples are not this check's concern
    assert check(protocol, "lab_panel", {"sample_datetime": "2024-02-20T08:00+08:00"}).warnings == []


def test_checks_with_missing_data_do_not_fire(protocol):
    # Three-valued: an empty value makes the rule unknown, and only a definite false fires.
    result = check(protocol, "lab_panel", {"total_bilirubin": "", "inr": "", "neutrophils": ""})
    assert result.warnings == [] and result.errors == []
    # no visit_date: the sample-after-visit check is unknown
    late = check(protocol, "lab_panel", {"sample_datetime": "2024-03-09T08:00+08:00"}, visit_date=None)
    assert late.warnings == []
    # only one of the two blood pressures: the plausible range speaks, the comparison cannot
    result = check(protocol, "clinical_status", {"diastolic_bp": "150", "systolic_bp": ""})
    assert codes(result.warnings) == [("diastolic_bp", "plausible")]
    # status unknown (a required field missing): the required error, no edit check
    outcome = check(protocol, "outcome_status", {"status": "", "death_date": ""}, visit_day=28)
    assert codes(outcome.errors) == [("status", "required")]


def test_a_value_with_an_error_is_unknown_to_the_checks(protocol):
    # 2,5 is refused as a type error; the INR/PTA check must not also fire on it.
    result = check(protocol, "lab_panel", {"inr": "2,5", "prothrombin_activity": "90"})
    assert codes(result.errors) == [("inr", "type")] and result.warnings == []
    # a bilirubin above the hard maximum is refused, not also queried
    result = check(protocol, "lab_panel", {"total_bilirubin": "-5"})
    assert codes(result.errors) == [("total_bilirubin", "min")] and result.warnings == []


def test_hard_and_soft_together(protocol):
    result = check(protocol, "outcome_status", {"status": "died", "death_date": "", "death_cause": ""}, visit_day=28)
    assert codes(result.errors) == [("death_date", "death_date_required")]
    assert codes(result.warnings) == [("death_cause", "death_cause_missing")]
    assert not result.ok


# --- the visit ---------------------------------------------------------------------------------
def test_a_form_the_visit_does_not_collect(protocol):
    result = check(protocol, "outcome_status", visit_id="day_7")
    [issue] = result.errors
    assert (issue.field, issue.code, issue.severity) == (None, "visit_form", "hard")
    assert issue.message == "The form 'Outcome status' is not collected at Day 7 (dose 2)."
    assert check(protocol, "outcome_status", visit_id="day_28", visit_day=28).ok


@pytest.mark.parametrize("visit_day, status", [(5, "early"), (6, None), (8, None), (9, "late")])
def test_a_visit_outside_its_window_is_a_soft_warning(protocol, visit_day, status):
    visit_date = date(2024, 2, 26) + timedelta(days=visit_day)
    result = check(
        protocol, "clinical_status", visit_id="day_7", visit_day=visit_day, visit_date=visit_date
    )
    assert result.ok
    if status is None:
        assert result.warnings == []
    else:
        [issue] = result.warnings
        assert (issue.field, issue.code, issue.severity) == (None, "visit_window", "soft")
        side = "before" if status == "early" else "after"
        assert issue.message == (
            f"Day 7 (dose 2): the visit on {visit_date.isoformat()} (day {visit_day}) is {status}, "
            f"{side} its window (days 6 to 8 from randomization)."
        )


def test_no_window_for_screening_unscheduled_or_before_randomization(protocol):
    assert check(protocol, "lab_panel", visit_id="screening", visit_day=None, visit_date=VISIT_DATE).warnings == []
    assert check(protocol, "lab_panel", visit_id="unscheduled", visit_day=40).warnings == []
    assert check(protocol, "lab_panel", visit_id="day_7", visit_day=None).warnings == []


def test_day_0_has_no_window(protocol):
    [issue] = check(protocol, "clinical_status", visit_id="day_0", visit_day=1).warnings
    assert issue.code == "visit_window" and "(day 0 from randomization)" in issue.message


# --- caller mistakes ---------------------------------------------------------------------------
def test_an_unknown_form_or_visit_is_a_form_error(protocol):
    with pytest.raises(FormError, match="unknown form 'labs'") as info:
        validate_form(protocol, "labs", {}, visit_date=None, visit_day=None)
    assert info.value.field == "form" and "lab_panel" in info.value.reason
    with pytest.raises(FormError, match="unknown visit 'day_8'"):
        check(protocol, "lab_panel", visit_id="day_8")


def test_values_must_be_a_mapping_and_visit_context_typed(protocol):
    with pytest.raises(FormError, match="mapping"):
        validate_form(protocol, "lab_panel", [("inr", "2")], visit_date=None, visit_day=None)  # type: ignore[arg-type]
    with pytest.raises(FormError, match="visit_date must be a date"):
        check(protocol, "lab_panel", visit_date=datetime(2024, 3, 4, 8, 0))
    with pytest.raises(FormError, match="visit_day must be a whole number"):
        check(protocol, "lab_panel", visit_day=7.5)


# --- properties --------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROTOCOL = load_protocol()  # loaded once: hypothesis calls the tests hundreds of times


@settings(max_examples=300, deadline=None)
@given(value=st.floats(min_value=-5000, max_value=5000, allow_nan=False), as_text=st.booleans())
def test_a_number_is_refused_exactly_outside_the_hard_limits(value, as_text):
    protocol = PROTOCOL
    raw = repr(value) if as_text else value
    result = validate_form(protocol, "lab_panel", {"total_bilirubin": raw}, visit_date=None, visit_day=None)
    hard = [i.code for i in result.errors if i.field == "total_bilirubin"]
    if value < 0:
        assert hard == ["min"] and result.cleaned["total_bilirubin"] is None
    elif value > 2000:
        assert hard == ["max"] and result.cleaned["total_bilirubin"] is None
    else:
        assert hard == [] and result.cleaned["total_bilirubin"] == value
        plausible = [i for i in result.warnings if i.code == "plausible"]
        assert bool(plausible) == (value < 3 or value > 1000)


@settings(max_examples=200, deadline=None)
@given(day=st.integers(min_value=-30, max_value=400))
def test_window_warning_agrees_with_the_schedule(day):
    from hepatrial.core.schedule import day_window_status

    protocol = PROTOCOL
    for visit_id in ("day_7", "day_84"):
        result = validate_form(protocol, "clinical_status", {}, visit_date=None, visit_day=day, visit_id=visit_id)
        warned = [i for i in result.warnings if i.code == "visit_window"]
        assert bool(warned) == (day_window_status(protocol.visit(visit_id), day) != "on_time")
