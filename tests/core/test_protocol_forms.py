"""The protocol's consent documents, forms, visits and edit checks: the packaged
declarations, the loader's errors (YAML path and line, like tests/core/test_protocol.py),
and the rule language's date comparisons that edit checks need."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hepatrial.core.criteria.ast import Call, Compare, Field, Literal
from hepatrial.core.criteria.check import BOOL, DATE, DATETIME, NUMBER, STRING, Type, Vocabulary, bind
from hepatrial.core.criteria.evaluate import Fact, evaluate
from hepatrial.core.criteria.parser import RuleError
from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.protocol import ConsentDocument, FieldSpec, ProtocolError, load_protocol_file

ROOT = Path(__file__).resolve().parents[2]
YAML_FILE = ROOT / "src" / "hepatrial" / "protocols" / "nct05940610.yaml"
YAML_TEXT = YAML_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def packaged():
    return load_protocol_file(YAML_FILE)


# --- the packaged declarations -----------------------------------------------------------------
def test_consent_version_1_0_is_current(packaged):
    [doc] = packaged.consent_documents
    assert (doc.version, doc.effective) == ("1.0", date(2023, 7, 1))
    assert packaged.current_consent_version == "1.0"
    assert "not from the registry" in YAML_TEXT or "team's own" in (doc.note or "")


def test_the_six_forms(packaged):
    assert [f.id for f in packaged.forms] == ["lab_panel", "clinical_status", "smt_given", "outcome_status", "dosing",
                                              "adverse_event"]  # fmt: skip
    # the adverse event form offers every CTCAE v5.0 term of hepatrial.core.safety
    from hepatrial.core.safety.ctcae_terms import CTCAE_TERMS

    assert packaged.form("adverse_event").field("term").choice_values == tuple(t.term for t in CTCAE_TERMS)
    assert "Infusion related reaction" in packaged.form("adverse_event").field("term").choice_values
    assert len(CTCAE_TERMS) == 110  # docs/safety.md says so
    assert [f.id for f in packaged.form("outcome_status").fields] == [
        "status", "status_date", "transplant_date", "death_date", "death_cause",
    ]  # fmt: skip
    assert packaged.form("outcome_status").field("status").choice_values == ("alive", "transplanted", "died")
    assert packaged.form("smt_given").field("antiviral").choice_values == ("none", "entecavir", "tenofovir", "other")
    # The ascites grades are the candidate file's, so screening and follow-up speak alike.
    assert packaged.form("clinical_status").field("ascites").choice_values == ("none", "mild", "moderate", "severe")


LAB_FIELDS = [
    ("total_bilirubin", "umol/L"), ("inr", "ratio"), ("prothrombin_activity", "%"), ("creatinine", "umol/L"),
    ("sodium", "mmol/L"), ("albumin", "g/L"), ("alt", "U/L"), ("ast", "U/L"), ("alkaline_phosphatase", "U/L"),
    ("platelets", "10^9/L"), ("wbc", "10^9/L"), ("neutrophils", "10^9/L"), ("hemoglobin", "g/L"), ("urea", "mmol/L"),
]  # fmt: skip


@pytest.mark.parametrize("field_id, unit", LAB_FIELDS)
def test_lab_fields_have_the_catalogue_bounds_as_hard_limits(packaged, field_id, unit):
    spec = packaged.form("lab_panel").field(field_id)
    test = LAB_TESTS[field_id]
    assert spec.type == "number" and spec.lab_test == field_id and spec.canonical_unit == unit
    # Every lab field is in its test's canonical unit, so the catalogue bounds apply as written.
    assert unit == test.canonical_unit
    assert (spec.min, spec.max) == (test.impossible_below, test.impossible_above)
    assert spec.min <= spec.plausible_min < spec.plausible_max <= spec.max


def test_sample_datetime_is_required(packaged):
    spec = packaged.form("lab_panel").field("sample_datetime")
    assert (spec.type, spec.required) == ("datetime", True)


def test_the_visits(packaged):
    got = [(v.id, v.kind, v.day, v.window_before_days, v.window_after_days, v.dose) for v in packaged.visits]
    assert got == [
        ("screening", "screening", None, 0, 0, False),
        ("day_0", "scheduled", 0, 0, 0, True),
        ("day_7", "scheduled", 7, 1, 1, True),
        ("day_14", "scheduled", 14, 1, 1, True),
        ("day_21", "scheduled", 21, 1, 1, True),
        ("day_28", "scheduled", 28, 2, 2, False),
        ("day_84", "scheduled", 84, 7, 7, False),
        ("day_168", "scheduled", 168, 14, 14, False),
        ("unscheduled", "unscheduled", None, 0, 0, False),
        ("adverse_events", "log", None, 0, 0, False),
    ]
    assert packaged.parameter("dosing_window_days") == 1
    assert "window_before_days: ${dosing_window_days}" in YAML_TEXT
    for visit in packaged.visits:
        if visit.kind == "log":
            assert visit.forms == ["adverse_event"]
            continue
        assert {"lab_panel", "clinical_status"} <= set(visit.forms)
        assert ("smt_given" in visit.forms) == visit.dose
        assert ("outcome_status" in visit.forms) == (visit.day is not None and visit.day >= 28)


def test_every_edit_check_is_bound(packaged):
    assert set(packaged.bound_edit_checks) == {c.id for c in packaged.edit_checks}
    assert len(packaged.edit_checks) >= 6
    bound = packaged.bound_edit_checks["sample_after_visit"]
    # the datetime is compared by its date part
    assert bound == Compare(("<=",), (Call("date", (Field("sample_datetime"),)), Field("visit_date")))


def test_form_vocabulary_types(packaged):
    fields = packaged.form_vocabulary("lab_panel").fields
    assert fields["total_bilirubin"] == Type("quantity", unit="umol/L", analyte="total_bilirubin")
    assert fields["inr"] == Type("quantity", unit="ratio", analyte="inr")
    assert fields["sample_datetime"] == DATETIME
    assert fields["visit_date"] == DATE and fields["visit_day"] == NUMBER
    clinical = packaged.form_vocabulary("clinical_status").fields
    assert clinical["systolic_bp"] == Type("quantity", unit="mmHg")
    assert clinical["heart_rate"] == NUMBER and clinical["west_haven_grade"] == NUMBER
    assert clinical["ascites"] == Type("string", enum=("none", "mild", "moderate", "severe"))
    smt = packaged.form_vocabulary("smt_given").fields
    assert smt["albumin_infusion"] == BOOL and smt["liver_protective_which"] == STRING


def test_unit_literals_convert_for_the_field_analyte(packaged):
    vocab = packaged.form_vocabulary("lab_panel")
    node, _ = bind("total_bilirubin >= 1.2 mg/dL", vocab)
    assert node.operands[1] == Literal(20.52, "umol/L", origin="1.2 mg/dL")
    node, _ = bind("inr >= 1.5", vocab)  # a ratio takes a plain number
    assert node.operands[1].value == 1.5


@pytest.mark.parametrize(
    "form_id, rule, words",
    [
        ("lab_panel", "total_bilirubin >= 20", "give the unit: total_bilirubin in umol/L is compared with a plain number"),
        ("clinical_status", "systolic_bp >= 90", "give the unit: a quantity in mmHg"),
        ("lab_panel", "latest(total_bilirubin) >= 20 umol/L", "latest() cannot be used here (available: date())"),
        ("lab_panel", "meld() > 30", "meld() cannot be used here"),
        ("outcome_status", 'status == "dead"', "'dead' is not a possible value; expected one of 'alive', 'transplanted', 'died'"),
        ("outcome_status", "death_date > 3", "cannot compare a date with a number"),
        ("outcome_status", 'death_date > "2024-01-01"', "cannot compare a date with text"),
        ("lab_panel", "sample_datetime > total_bilirubin", "cannot compare a date and time with total_bilirubin in umol/L"),
        ("outcome_status", "age > 3", "unknown name 'age'"),
        ("clinical_status", "temperature_c > 38 mmHg", "has a unit, but"),
    ],
)
def test_form_rules_refused(packaged, form_id, rule, words):
    with pytest.raises(RuleError) as info:
        bind(rule, packaged.form_vocabulary(form_id))
    assert words in str(info.value)


# --- consent documents -------------------------------------------------------------------------
def test_the_flagged_consent_is_current_else_the_last(packaged):
    v1 = ConsentDocument(version="1.0", title="ICF", effective=date(2023, 7, 1))
    v2 = ConsentDocument(version="2.0", title="ICF", effective=date(2024, 1, 1))
    assert packaged.model_copy(update={"consent_documents": [v1, v2]}).current_consent_version == "2.0"
    flagged = v1.model_copy(update={"current": True})
    assert packaged.model_copy(update={"consent_documents": [flagged, v2]}).current_consent_version == "1.0"
    assert packaged.model_copy(update={"consent_documents": []}).current_consent_version is None


# --- load errors: break a copy of the packaged file in one place -----------------------------------
def line_of(text: str, needle: str, start: int = 1) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text after line {start}")


def broken(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in YAML_TEXT, f"the packaged protocol no longer contains {old!r}"
    text = YAML_TEXT.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def problems_of(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    return info.value.problems


def index_of(section: list, item_id: str) -> int:
    return [x.id for x in section].index(item_id)


@pytest.fixture(scope="module")
def ids(packaged):
    return {
        "forms": {f.id: i for i, f in enumerate(packaged.forms)},
        "visits": {v.id: i for i, v in enumerate(packaged.visits)},
        "checks": {c.id: i for i, c in enumerate(packaged.edit_checks)},
        "lab": {f.id: i for i, f in enumerate(packaged.form("lab_panel").fields)},
        "clinical": {f.id: i for i, f in enumerate(packaged.form("clinical_status").fields)},
    }


def test_consent_version_written_as_a_number(tmp_path):
    path, text = broken(tmp_path, 'version: "1.0"', "version: 1.0")
    [(where, line, reason)] = problems_of(path)
    assert where == "consent_documents[0].version"
    assert line == line_of(text, "version: 1.0")
    assert "valid string" in reason


def test_two_current_consent_documents(tmp_path):
    doc = '''  - version: "1.0"
    title: Informed consent form, MSC-EVs in ACLF/ALF
    effective: 2023-07-01
'''
    assert doc in YAML_TEXT
    new = doc.replace("effective: 2023-07-01", "effective: 2023-07-01\n    current: true")
    new += new.replace('"1.0"', '"1.1"').replace("2023-07-01", "2023-06-01")
    path, text = broken(tmp_path, doc, new)
    problems = problems_of(path)
    assert ("consent_documents[1].current", line_of(text, "current: true", line_of(text, '"1.1"')),
            "only one document can be current (version '1.0' already is)") in problems  # fmt: skip
    where = {p[0]: p for p in problems}
    assert "is not after version '1.0'" in where["consent_documents[1].effective"][2]


def test_a_visit_naming_an_unknown_form(tmp_path, ids):
    path, text = broken(tmp_path, "    forms: [lab_panel, clinical_status, smt_given, dosing]\n  - id: day_14",
                        "    forms: [lab_panel, clinical_status, smt_givn, dosing]\n  - id: day_14")  # fmt: skip
    [(where, line, reason)] = problems_of(path)
    assert where == f"visits[{ids['visits']['day_7']}].forms[2]"
    assert line == line_of(text, "smt_givn")
    assert reason == "unknown form 'smt_givn'"


def test_a_dosing_day_visit_without_dose(tmp_path, ids):
    block = "    day: 21\n    window_before_days: ${dosing_window_days}\n    window_after_days: ${dosing_window_days}\n    dose: true\n"
    path, text = broken(tmp_path, block, block.replace("    dose: true\n", ""))
    [(where, line, reason), also] = problems_of(path)
    assert also[0] == f"visits[{ids['visits']['day_21']}].forms"
    assert also[2] == "'day_21' is not a dosing visit (dose: false): it cannot collect the dosing form 'dosing'"
    assert where == f"visits[{ids['visits']['day_21']}].dose"
    # No 'dose' key any more: the line of the visit's mapping (its first key).
    assert line == line_of(text, "- id: day_21")
    assert reason == "day 21 is a dosing day (parameters.dosing_days): this visit needs dose: true"


def test_a_dose_on_a_day_that_is_not_a_dosing_day(tmp_path, ids):
    path, text = broken(tmp_path, "    day: 28\n    window_before_days: 2\n", "    day: 28\n    dose: true\n    window_before_days: 2\n")
    (where, line, reason), also = problems_of(path)
    assert also[2] == "'day_28' is a dosing visit: it must collect the dosing form 'dosing'"
    assert where == f"visits[{ids['visits']['day_28']}].dose"
    assert line == line_of(text, "dose: true", line_of(text, "- id: day_28"))
    assert reason == "day 28 is not a dosing day (dosing days: 0, 7, 14, 21)"


def test_a_missing_dosing_visit(tmp_path):
    start = YAML_TEXT.index("  - id: day_14\n")
    end = YAML_TEXT.index("  - id: day_21\n")
    path, text = broken(tmp_path, YAML_TEXT[start:end], "")
    [(where, line, reason)] = problems_of(path)
    assert where == "visits"
    assert line == line_of(text, "visits:")
    assert reason.startswith("dosing day 14 (parameters.dosing_days) has no visit")


def test_dosing_days_parameter_changed_without_the_visits(tmp_path):
    path, text = broken(tmp_path, "value: [0, 7, 14, 21]", "value: [0, 7, 14, 28]")
    problems = problems_of(path)
    reasons = [r for _, _, r in problems]
    assert "day 21 is not a dosing day (dosing days: 0, 7, 14, 28)" in reasons
    assert "day 28 is a dosing day (parameters.dosing_days): this visit needs dose: true" in reasons


def test_overlapping_windows(tmp_path, ids):
    path, text = broken(tmp_path, "    day: 28\n    window_before_days: 2\n", "    day: 28\n    window_before_days: 7\n")
    [(where, line, reason)] = problems_of(path)
    assert where == f"visits[{ids['visits']['day_28']}].window_before_days"
    assert line == line_of(text, "window_before_days: 7")
    assert reason == (
        "the window of 'day_28' (from day 21) overlaps the window of 'day_21' (to day 22): "
        "a visit date must belong to one visit"
    )


@pytest.mark.parametrize(
    "old, new, where_visit, key, words",
    [
        ("    day: 84\n", "", "day_84", "day", "a scheduled visit needs its day"),
        ("    kind: screening\n", "    kind: screening\n    day: -3\n", "screening", "day", "a screening visit has no day"),
        ("    kind: unscheduled\n", "    kind: unscheduled\n    dose: true\n", "unscheduled", "dose", "a dosing visit must be a scheduled visit"),
        ("    kind: scheduled\n    day: 0\n    window_before_days: 0\n", "    kind: scheduled\n    day: 0\n    window_before_days: 1\n",
         "day_0", "window_before_days", "would open the window before day 0"),
        ("    day: 168\n    window_before_days: 14\n", "    day: 168\n    window_before_days: -1\n", "day_168",
         "window_before_days", "greater than or equal to 0"),
        ("    kind: unscheduled\n", "    kind: adhoc\n", "unscheduled", "kind", "'screening', 'scheduled', 'unscheduled' or 'log'"),
    ],
)
def test_visit_fields_checked(tmp_path, ids, old, new, where_visit, key, words):
    path, text = broken(tmp_path, old, new)
    problems = problems_of(path)
    index = ids["visits"][where_visit]
    matching = [p for p in problems if p[0] in (f"visits[{index}]", f"visits[{index}].{key}")]
    assert matching, problems
    where, line, reason = matching[0]
    assert words in reason
    visit_line = line_of(text, f"- id: {where_visit}")
    assert visit_line <= line <= visit_line + 12


def test_a_second_screening_visit(tmp_path, ids):
    path, text = broken(tmp_path, "    kind: unscheduled\n", "    kind: screening\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == (f"visits[{ids['visits']['unscheduled']}].kind", "only one screening visit")
    assert line == line_of(text, "kind: screening", line_of(text, "- id: unscheduled"))


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ("        unit: umol/L\n        lab_test: total_bilirubin\n", "        unit: mmol/L\n        lab_test: total_bilirubin\n",
         "total_bilirubin", "unit: total_bilirubin is not reported in mmol/L; use umol/L or mg/dL"),
        ("        lab_test: total_bilirubin\n", "        lab_test: bilirubin\n", "total_bilirubin", "lab_test: unknown lab test 'bilirubin'"),
        ("        lab_test: total_bilirubin\n        min: 0\n        max: 2000\n",
         "        lab_test: total_bilirubin\n        min: 0\n        max: 3000\n",
         "total_bilirubin", "max: 3000 is above what is possible for total_bilirubin (2000 umol/L)"),
        ("        lab_test: creatinine\n        min: 10\n", "        lab_test: creatinine\n        min: 5\n",
         "creatinine", "min: 5 is below what is possible for creatinine (10 umol/L)"),
        ("        plausible_min: 3\n        plausible_max: 1000\n", "        plausible_min: 3\n        plausible_max: 2500\n",
         "total_bilirubin", "plausible_max (2500) is above max (2000)"),
        ("        plausible_min: 3\n        plausible_max: 1000\n", "        plausible_min: 1001\n        plausible_max: 1000\n",
         "total_bilirubin", "plausible_min (1001) is above plausible_max (1000)"),
        ("        type: datetime\n", "        type: timestamp\n", "sample_datetime", "Input should be 'number', 'integer'"),
        ("        type: datetime\n        required: true\n", "        type: datetime\n        required: true\n        min: 0\n",
         "sample_datetime", "min: only a number or integer field has a range, not a datetime field"),
        ("        type: datetime\n        required: true\n", "        type: datetime\n        required: 'yes'\n",
         "sample_datetime", "valid boolean"),
        ("      - id: inr\n", "      - id: INR\n", "inr", "String should match pattern"),
        ("      - id: inr\n", "      - id: visit_date\n", "inr", "id: 'visit_date' is reserved in edit-check rules"),
    ],
)
def test_lab_panel_field_problems(tmp_path, ids, old, new, field, words):
    path, text = broken(tmp_path, old, new)
    problems = problems_of(path)
    prefix = f"forms[0].fields[{ids['lab'][field]}]"
    mine = [p for p in problems if p[0].startswith(prefix)]
    assert mine, problems
    where, line, reason = mine[0]
    assert words in reason, reason
    field_line = line_of(text, "- id: ", line_of(text, "      - id: ", line_of(text, "  - id: lab_panel")) + 0)
    assert line is not None and line >= field_line


def test_field_errors_point_at_the_field_line(tmp_path, ids):
    path, text = broken(tmp_path, "        unit: umol/L\n        lab_test: creatinine\n", "        unit: mmol/L\n        lab_test: creatinine\n")
    [(where, line, reason)] = problems_of(path)
    assert where == f"forms[0].fields[{ids['lab']['creatinine']}]"
    assert line == line_of(text, "- id: creatinine")
    assert reason == "unit: creatinine is not reported in mmol/L; use umol/L or mg/dL"


def test_a_misspelt_field_key(tmp_path, ids):
    path, text = broken(tmp_path, "        plausible_min: 110\n", "        plausable_min: 110\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == (f"forms[0].fields[{ids['lab']['sodium']}].plausable_min", "unknown key")
    assert line == line_of(text, "plausable_min")


def test_choices_problems(tmp_path, ids):
    path, text = broken(tmp_path, "          - {value: severe, label:", "          - {value: mild, label:")
    [(where, line, reason)] = problems_of(path)
    assert where == f"forms[1].fields[{ids['clinical']['ascites']}]"
    assert reason == "choices: duplicate value 'mild'"
    assert line == line_of(text, "- id: ascites")
    path, text = broken(tmp_path, "        type: integer\n        required: true\n        min: 0\n        max: 4\n",
                        "        type: integer\n        required: true\n        min: 0\n        max: 4\n        choices: [{value: '0', label: none}]\n")  # fmt: skip
    [(where, line, reason)] = problems_of(path)
    assert reason == "choices: only a choice field has choices, not a integer field"


def test_a_unit_hepatrial_does_not_know(tmp_path, ids):
    path, text = broken(tmp_path, "        label: Weight (kg)\n        type: number\n", "        label: Weight\n        type: number\n        unit: kg\n")
    [(where, line, reason)] = problems_of(path)
    assert where == f"forms[1].fields[{ids['clinical']['weight_kg']}]"
    assert reason == "unit: unknown unit 'kg'"


def test_duplicate_form_and_field_ids(tmp_path, ids):
    path, text = broken(tmp_path, "      - id: wbc\n", "      - id: platelets\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == (f"forms[0].fields[{ids['lab']['wbc']}].id", "duplicate id 'platelets'")
    assert line == line_of(text, "- id: platelets", line_of(text, "- id: platelets") + 1)
    path, text = broken(tmp_path, "  - id: smt_given\n", "  - id: clinical_status\n")
    problems = problems_of(path)
    assert (f"forms[{ids['forms']['smt_given']}].id", line_of(text, "- id: clinical_status", line_of(text, "- id: clinical_status") + 1),
            "duplicate id 'clinical_status'") in problems  # fmt: skip


def test_an_edit_check_on_an_unknown_form_or_field(tmp_path, ids):
    path, text = broken(tmp_path, "    form: clinical_status\n    field: diastolic_bp\n", "    form: clinical\n    field: diastolic_bp\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == (f"edit_checks[{ids['checks']['diastolic_not_below_systolic']}].form", "unknown form 'clinical'")
    assert line == line_of(text, "    form: clinical", line_of(text, "- id: diastolic_not_below_systolic"))
    path, text = broken(tmp_path, "    form: clinical_status\n    field: diastolic_bp\n", "    form: clinical_status\n    field: diastolic\n")
    [(where, line, reason)] = problems_of(path)
    assert where == f"edit_checks[{ids['checks']['diastolic_not_below_systolic']}].field"
    assert reason.startswith("form 'clinical_status' has no field 'diastolic' (its fields: west_haven_grade, ascites,")
    assert line == line_of(text, "field: diastolic")


def test_an_edit_check_rule_that_does_not_check(tmp_path, ids):
    path, text = broken(tmp_path, "(visit_day is not null and visit_day > 28) or total_bilirubin >= 20 umol/L",
                        "(visit_day is not null and visit_day > 28) or total_bilirubin >= 20")  # fmt: skip
    [(where, line, reason)] = problems_of(path)
    assert where == f"edit_checks[{ids['checks']['bilirubin_looks_like_mg_dl']}].rule"
    assert line == line_of(text, "rule: >-", line_of(text, "- id: bilirubin_looks_like_mg_dl"))
    assert reason.startswith("bilirubin_looks_like_mg_dl: column 66: give the unit: total_bilirubin in umol/L")


def test_an_edit_check_comparing_a_choice_with_an_impossible_value(tmp_path, ids):
    path, text = broken(tmp_path, 'rule: status != "died" or death_date is not null', 'rule: status != "dead" or death_date is not null')
    [(where, line, reason)] = problems_of(path)
    assert where == f"edit_checks[{ids['checks']['death_date_required']}].rule"
    assert line == line_of(text, 'status != "dead"')
    assert "'dead' is not a possible value; expected one of 'alive', 'transplanted', 'died'" in reason


def test_an_edit_check_with_a_bad_severity_and_a_duplicate_id(tmp_path, ids):
    path, text = broken(tmp_path, "    field: neutrophils\n    severity: soft\n", "    field: neutrophils\n    severity: warning\n")
    [(where, line, reason)] = problems_of(path)
    assert where == f"edit_checks[{ids['checks']['neutrophils_above_wbc']}].severity"
    assert line == line_of(text, "severity: warning")
    assert "'hard' or 'soft'" in reason
    path, text = broken(tmp_path, "  - id: neutrophils_above_wbc\n", "  - id: inr_pta_inconsistent\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == (f"edit_checks[{ids['checks']['neutrophils_above_wbc']}].id", "duplicate id 'inr_pta_inconsistent'")


def test_an_unknown_parameter_in_a_visit(tmp_path):
    path, text = broken(tmp_path, "window_before_days: ${dosing_window_days}", "window_before_days: ${dosing_window}")
    [(where, line, reason)] = problems_of(path)
    assert reason == "unknown parameter 'dosing_window'"
    assert where.startswith("visits[") and where.endswith("].window_before_days")
    assert line == line_of(text, "${dosing_window}")


def test_a_protocol_without_the_new_sections_still_loads(tmp_path):
    start = YAML_TEXT.index("consent_documents:")
    end = YAML_TEXT.index("\nsource:")
    path = tmp_path / "bare.yaml"
    path.write_text(YAML_TEXT[:start] + YAML_TEXT[end:], encoding="utf-8")
    bare = load_protocol_file(path)
    assert bare.forms == [] and bare.visits == [] and bare.edit_checks == []
    assert bare.current_consent_version is None


# --- the rule language's dates -----------------------------------------------------------------
class _Facts:
    def __init__(self, **values):
        self.values = values

    def field(self, path):
        value = self.values.get(path)
        return Fact(value, f"{path} {value}", (), None if value is not None else f"{path} not given")

    def lab(self, func, test):  # pragma: no cover - not used
        raise AssertionError

    def score(self, name):  # pragma: no cover - not used
        raise AssertionError


DATES = Vocabulary(fields={"a": DATE, "b": DATE, "t": DATETIME, "u": DATETIME, "n": NUMBER, "s": STRING})
D1, D2 = date(2024, 3, 4), date(2024, 3, 5)


def value_of(rule: str, **values):
    node, _ = bind(rule, DATES)
    return evaluate(node, _Facts(**values)).value


@pytest.mark.parametrize(
    "op, expected",
    [("<", True), ("<=", True), (">", False), (">=", False), ("==", False), ("!=", True)],
)
def test_dates_compare_with_dates(op, expected):
    assert value_of(f"a {op} b", a=D1, b=D2) is expected
    assert value_of(f"a {op} b", a=D1, b=D1) is (op in ("<=", ">=", "=="))


def test_a_datetime_compared_with_a_date_uses_its_own_date():
    late = datetime(2024, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=8)))  # 15:30 UTC the same day
    assert value_of("t <= a", t=late, a=D1) is True
    assert value_of("t == a", t=late, a=D1) is True
    early = datetime(2024, 3, 5, 0, 30, tzinfo=timezone(timedelta(hours=8)))  # 16:30 UTC on 4 March
    assert value_of("t <= a", t=early, a=D1) is False
    assert value_of("a < t", t=early, a=D1) is True
    assert value_of("date(t) == b", t=early, b=D2) is True


def test_datetimes_compare_as_instants():
    a = datetime(2024, 3, 5, 0, 30, tzinfo=timezone(timedelta(hours=8)))
    b = datetime(2024, 3, 4, 17, 0, tzinfo=timezone.utc)
    assert value_of("t < u", t=a, u=b) is True  # 16:30 UTC before 17:00 UTC


def test_date_chains_and_missing_dates():
    assert value_of("a <= t <= b", a=D1, t=datetime(2024, 3, 4, 12, tzinfo=timezone.utc), b=D2) is True
    assert value_of("a < b", a=D1) is None  # unknown: b not given
    assert value_of("b is null", a=D1) is True
    assert value_of("a < b or a is null", a=None, b=D2) is True


@pytest.mark.parametrize(
    "rule, words",
    [
        ("a < 3", "cannot compare a date with a number"),
        ("a == 'x'", "cannot compare a date with text"),
        ("a + 1 > b", "+ needs numbers, not a date and a number"),
        ("-a < b", "cannot negate a date"),
        ("a", "the rule is a date, not a condition"),
        ("date(n) > a", "date() needs a date or a date and time, not a number"),
        ("date() > a", "date() takes one date"),
        ("a is true", "'is true' applies to a yes/no value, not a date"),
        ("a in (1, 2)", "1 is not a date"),
    ],
)
def test_date_mistakes_are_refused(rule, words):
    with pytest.raises(RuleError) as info:
        bind(rule, DATES)
    assert words in str(info.value)


def test_date_of_a_date_is_the_date():
    node, type_ = bind("date(a) == b", DATES)
    assert type_ == BOOL and node.operands[0] == Field("a")


def test_field_spec_unit_label():
    assert FieldSpec(id="inr", label="INR", type="number", lab_test="inr").unit_label == ""
    assert FieldSpec(id="x", label="X", type="number", unit="umol/l", lab_test="creatinine").canonical_unit == "umol/L"
    spec = FieldSpec(id="bili", label="Bilirubin", type="number", unit="mg/dL", lab_test="total_bilirubin")
    # a lab field without limits is held to the catalogue's impossible bounds, in its own unit
    assert spec.hard_range == (0, pytest.approx(2000 / 17.1))


# --- the dosing section ----------------------------------------------------------------------

def test_the_dosing_section(packaged):
    spec = packaged.dosing
    assert (spec.form, spec.given_field, spec.product_field, spec.start_field) == ("dosing", "administered", "product", "start_datetime")
    # each randomized arm receives its intervention's product (interventions: msc_ev, saline)
    assert spec.products == {"msc_ev": "msc_ev", "control": "saline"}
    assert [v.id for v in packaged.visits if "dosing" in v.forms] == ["day_0", "day_7", "day_14", "day_21"]


@pytest.mark.parametrize(
    "old, new, where, reason",
    [
        ("  form: dosing\n  given_field", "  form: dosin\n  given_field", "dosing.form", "unknown form 'dosin'"),
        ("  given_field: administered", "  given_field: lot_number", "dosing.given_field",
         "'lot_number' is a text field; it must be a boolean field"),
        ("  product_field: product", "  product_field: prodct", "dosing.product_field", "form 'dosing' has no field 'prodct'"),
        ("  start_field: start_datetime", "  start_field: volume_ml", "dosing.start_field",
         "'volume_ml' is a number field; it must be a datetime field"),
        ("    control: saline\n", "    control: water\n", "dosing.products.control",
         "'water' is not a choice of 'product' (msc_ev, saline)"),
        ("    control: saline\n", "    placebo: saline\n", "dosing.products.placebo", "unknown arm 'placebo' (arms: msc_ev, control)"),
    ],
)
def test_a_broken_dosing_section_is_refused_with_its_path(tmp_path, old, new, where, reason):
    path, _text = broken(tmp_path, old, new)
    problems = problems_of(path)
    assert (where, reason) in [(p[0], p[2]) for p in problems], problems
