"""The candidate file: every bad input is refused with its field path and the problem."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from builders import example, with_lab

from hepatrial.core.candidate import ScreeningInputError, load_candidate, parse_candidate, parse_json

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(ScreeningInputError) as info:
        parse_candidate(data, now=NOW)
    return info.value.problems


def lab_at(at: str) -> dict:
    return with_lab(example("eligible-aclf"), "inr", 1.9, at=at)


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        (lambda d: {**d, "age": "52"}, "age", "valid integer"),
        (lambda d: {**d, "age": 52.5}, "age", "valid integer"),
        (lambda d: {**d, "age": 121}, "age", "less than or equal to 120"),
        (lambda d: {**d, "age": -1}, "age", "greater than or equal to 0"),
        (lambda d: {**d, "encephalopathy_grade": 5}, "encephalopathy_grade", "less than or equal to 4"),
        (lambda d: {**d, "encephalopathy_grade": 1.5}, "encephalopathy_grade", "valid integer"),
        (lambda d: {**d, "sex": "m"}, "sex", "'male' or 'female'"),
        (lambda d: {**d, "ascites": "some"}, "ascites", "'none', 'mild', 'moderate' or 'severe'"),
        (lambda d: {**d, "chronic_liver_disease": "yes"}, "chronic_liver_disease", "valid boolean"),
        (lambda d: {**d, "histroy": {}}, "histroy", "unknown field"),
        (lambda d: {**d, "history": {"dic": 1}}, "history.dic", "valid boolean"),
        (lambda d: {**d, "id": ""}, "id", "should match pattern"),
        (lambda d: {**d, "id": "   "}, "id", "should match pattern"),
        (lambda d: {**d, "id": "C-1\u202e"}, "id", "should match pattern"),
        (lambda d: {**d, "assessed_at": 1790000000}, "assessed_at", "ISO 8601 text"),
        (lambda d: lab_at("0001-01-02T00:00:00+00:00"), "labs[10].at", "before 1900"),
        (lambda d: {**d, "assessed_at": "0001-01-02T00:00:00+00:00"}, "assessed_at", "before 1900"),
        (lambda d: with_lab(d, "creatinine", 2.38, "umol/L"), "labs[10].value", "is the unit right"),
        (lambda d: with_lab(d, "albumin", 3.0, "g/L"), "labs[10].value", "is the unit right"),
        (lambda d: {**d, "mean_arterial_pressure_mmhg": 0}, "mean_arterial_pressure_mmhg", "greater than 0"),
        (lambda d: with_lab(d, "bilirubin", 10, "mg/dL"), "labs[11].test", "unknown test 'bilirubin'"),
        (lambda d: with_lab(d, "total_bilirubin", 10, "mmol/L"), "labs[9].unit", "not reported in mmol/L"),
        (lambda d: with_lab(d, "total_bilirubin", 10, "furlongs"), "labs[9].unit", "unknown unit 'furlongs'"),
        (lambda d: with_lab(d, "total_bilirubin", 10), "labs[9].unit", "needs a unit"),
        (lambda d: with_lab(d, "total_bilirubin", -1, "umol/L"), "labs[9].value", "impossible"),
        (lambda d: with_lab(d, "total_bilirubin", "high", "umol/L"), "labs[9].value", "valid number"),
        (lambda d: with_lab(d, "inr", 0.4), "labs[10].value", "impossible for inr"),
        (lambda d: with_lab(d, "inr", 20.5), "labs[10].value", "impossible for inr"),
        (lambda d: lab_at("2026-11-20 07:00"), "labs[10].at", "timezone"),
        (lambda d: lab_at("20/11/2026"), "labs[10].at", "datetime"),
        (lambda d: lab_at("2026-11-20T10:00:00+08:00"), "labs[10].at", "after assessed_at"),
        (lambda d: {**d, "assessed_at": "2026-12-01T00:00:00Z"}, "assessed_at", "in the future"),
        (lambda d: {k: v for k, v in d.items() if k != "assessed_at"}, "assessed_at", "Field required"),
    ],
)
def test_bad_input_names_the_field(change, field, fragment):
    found = problems(change(example("eligible-aclf")))
    assert any(path == field and fragment in reason for path, reason in found), found


def test_every_problem_is_reported_at_once():
    data = {**example("eligible-aclf"), "age": 200, "sex": "x", "encephalopathy_grade": -1}
    assert {path for path, _ in problems(data)} == {"age", "sex", "encephalopathy_grade"}


def test_null_means_unknown_not_a_default():
    data = {**example("eligible-aclf"), "age": None, "history": None, "labs": None}
    c = parse_candidate(data, now=NOW)
    assert c.age is None and c.history.dic is None and c.labs == []


def test_values_are_kept_as_reported():
    c = parse_candidate(example("eligible-alf"), now=NOW)
    bili = c.labs_of("total_bilirubin")[-1]
    assert (bili.value, bili.unit, bili.canonical_value, bili.canonical_unit) == (10.4, "mg/dL", 177.84, "umol/L")


def test_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x",')
    with pytest.raises(ScreeningInputError, match="not valid JSON"):
        load_candidate(bad)
    with pytest.raises(ScreeningInputError, match="cannot read"):
        load_candidate(tmp_path / "missing.json")


def test_a_byte_order_mark_is_not_an_error(tmp_path):
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(example("eligible-aclf")), encoding="utf-8-sig")
    assert load_candidate(path).id == "C-001"


@pytest.mark.parametrize("text", ['{"id": "x", "age": NaN}', '{"id": "x", "age": Infinity}'])
def test_nan_and_infinity_in_json_are_refused(text):
    with pytest.raises(ScreeningInputError, match="NaN|Infinity"):
        parse_json(text)


def test_nan_from_python_is_refused_with_the_right_reason():
    data = {**example("eligible-aclf"), "weeks_insult_to_complication": float("nan")}
    assert ("weeks_insult_to_complication", "Input should be a finite number") in problems(data)


def test_two_different_results_at_the_same_time_are_refused():
    """Which of two simultaneous bilirubins is right cannot be told: refuse, never pick one."""
    data = with_lab(example("eligible-aclf"), "total_bilirubin", 100, "umol/L", at="2026-11-20T07:00:00+08:00", replace=False)
    found = problems(data)
    assert len(found) == 1 and found[0][0] == "labs[11]"
    assert "also labs[1] with another value" in found[0][1]
    # the same value twice (a duplicated row, or the same amount in another unit) is harmless
    same = with_lab(example("eligible-aclf"), "total_bilirubin", 250 / 17.1, "mg/dL", at="2026-11-20T07:00:00+08:00", replace=False)
    assert parse_candidate(same, now=NOW).labs_of("total_bilirubin")[-1].canonical_value == 250


def test_deeply_nested_json_is_an_input_error():
    with pytest.raises(ScreeningInputError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000)


def test_a_key_given_twice_is_refused_at_any_depth():
    for text, key in (('{"id": "x", "age": 52, "age": 30}', "age"), ('{"history": {"dic": false, "dic": true}}', "dic")):
        with pytest.raises(ScreeningInputError) as info:
            parse_json(text)
        assert info.value.problems == [(key, "duplicate key: given more than once in the file")]
