"""The packaged protocol file against the registry page, and the loader's errors.

The registry page (tests/data/nct05940610-registry-page.txt) is the source of
truth for every verbatim text. The error tests break a copy of the packaged
YAML in one place and check that the problem names the YAML path, the line
and a useful reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hepatrial.core.protocol import (
    Parameter,
    Protocol,
    ProtocolError,
    load_protocol,
    load_protocol_file,
    packaged_protocols,
    protocol_from_text,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE_FILE = ROOT / "tests" / "data" / "nct05940610-registry-page.txt"
YAML_FILE = ROOT / "src" / "hepatrial" / "protocols" / "nct05940610.yaml"
PAGE = PAGE_FILE.read_text(encoding="utf-8")
YAML_TEXT = YAML_FILE.read_text(encoding="utf-8")


def norm(text: str) -> str:
    """Whitespace-normalised text (runs of spaces and newlines become one space)."""
    return " ".join(text.split())


PAGE_NORM = norm(PAGE)


# --- reading the registry page ----------------------------------------------------------------
def _blocks() -> list[str]:
    """The page split at blank lines: headings and values alternate."""
    return [b.strip("\n") for b in re.split(r"\n\s*\n", PAGE) if b.strip()]


BLOCKS = _blocks()


def after(heading: str) -> str:
    """The block that follows the block ``heading`` on the page."""
    i = BLOCKS.index(heading)
    return BLOCKS[i + 1]


def between(start: str, end: str) -> str:
    """Every block strictly between the headings ``start`` and ``end``, joined."""
    i, j = BLOCKS.index(start), BLOCKS.index(end)
    return "\n\n".join(BLOCKS[i + 1 : j])


def bullets(heading: str) -> list[str]:
    """The "  • " bullets under ``heading``."""
    block = after(heading)
    lines = block.splitlines()
    assert lines and all(line.startswith("  • ") for line in lines), block
    return [line.removeprefix("  • ") for line in lines]


@pytest.fixture(scope="module")
def packaged() -> Protocol:
    return load_protocol_file(YAML_FILE)


def test_the_page_reader_finds_five_bullets_in_each_list():
    assert len(bullets("Inclusion criteria")) == 5
    assert len(bullets("Exclusion criteria")) == 5
    assert bullets("Exclusion criteria")[3] == "MELD score >30"


# --- the packaged protocol ------------------------------------------------------------------------
def test_packaged_protocol_loads_by_id_and_by_default():
    assert "NCT05940610" in packaged_protocols()
    assert load_protocol().id == "NCT05940610"
    assert load_protocol("nct05940610").id == "NCT05940610"
    assert load_protocol(str(YAML_FILE)).id == "NCT05940610"


@pytest.mark.parametrize("kind, heading", [("inclusion", "Inclusion criteria"), ("exclusion", "Exclusion criteria")])
def test_criteria_are_the_page_bullets_verbatim_and_in_order(packaged, kind, heading):
    texts = [norm(c.text) for c in getattr(packaged.criteria, kind)]
    assert texts == [norm(b) for b in bullets(heading)]


def test_criterion_ids_are_i1_to_i5_then_e1_to_e5(packaged):
    assert [c.id for c in packaged.criteria.inclusion] == ["I1", "I2", "I3", "I4", "I5"]
    assert [c.id for c in packaged.criteria.exclusion] == ["E1", "E2", "E3", "E4", "E5"]


def test_summary_and_description_are_the_page_verbatim(packaged):
    assert norm(packaged.summary) == norm(after("About"))
    assert norm(packaged.description) == norm(between("Full description", "Sex"))


def test_arm_descriptions_are_the_page_verbatim(packaged):
    # "MSC-EV group\nExperimental group\nDescription:\n<text>\nTreatment:..." on the page.
    groups = re.findall(r"^(.+)\n(.+) group\nDescription:\n(.+)$", PAGE, flags=re.M)
    assert len(groups) == 2
    assert [(a.label, a.type, norm(a.description)) for a in packaged.arms] == [
        (label, arm_type, norm(text)) for label, arm_type, text in groups
    ]
    assert "0 participants in 2 patient groups" in PAGE
    assert packaged.enrollment.actual == 0


def test_identity_and_design_match_the_page(packaged):
    p = packaged
    assert p.title == BLOCKS[BLOCKS.index("Menu") + 1]
    assert p.id == p.identifiers.nct_id == "NCT05940610"
    assert after("Identifiers").splitlines() == [p.identifiers.nct_id, p.identifiers.org_study_id]
    status, *phases = after("Status and phase").splitlines()
    assert p.status == status == "Withdrawn"
    assert sorted(p.phases) == sorted(phases) == ["Phase 1", "Phase 2"]
    assert p.study_type == after("Study type") == "Interventional"
    assert p.design.allocation == after("Allocation") == "Randomized"
    assert p.design.intervention_model == after("Interventional model") == "Parallel Assignment"
    assert p.design.masking == after("Masking") == "None (Open label)"
    assert p.design.primary_purpose == after("Primary purpose") == "Treatment"
    assert p.design.healthy_volunteers is False and after("Volunteers") == "No Healthy Volunteers"
    assert p.eligibility.sex == after("Sex") == "All"
    assert after("Ages") == f"{p.eligibility.min_age_years:g} to {p.eligibility.max_age_years:g} years old"
    assert p.conditions == after("Conditions").splitlines()
    assert p.sponsor.name == BLOCKS[BLOCKS.index("Sun Yat-sen University logo") + 1]
    assert p.sponsor.funder_type == after("Funder types")


def test_the_registered_treatment_is_an_intervention(packaged):
    kind, name = after("Treatments").split(": ", 1)
    assert any(i.type == kind and i.name == name for i in packaged.interventions)


@pytest.mark.parametrize(
    "name, value, unit",
    [
        ("dosing_days", [0, 7, 14, 21], None),
        ("ev_particles_per_dose", 1e10, None),
        ("infusion_volume_ml", 100, None),
        ("bilirubin_uln", 17.1, "umol/L"),
        ("pta_min", 20, "%"),
        ("pta_max", 40, "%"),
        ("inr_min", 1.5, None),
        ("inr_max", 2.6, None),
        ("meld_variant", "meld", None),
        ("encephalopathy_scale", "west_haven", None),
    ],
)
def test_resolved_parameters(packaged, name, value, unit):
    param = packaged.parameters[name]
    assert param.value == value, repr(param.value)
    if isinstance(value, (int, float)):  # "1.0e10" (text) must not pass for 1e10 (a number)
        assert isinstance(param.value, (int, float)) and not isinstance(param.value, bool)
    assert param.unit == unit
    assert param.rationale.strip()


@pytest.mark.parametrize("value", [0, 1, 2, 1.0, 0.5, "yes", "meld", True, [0, 7]])
def test_a_parameter_value_keeps_its_type(value):
    # A grade of 1 must not turn into True, nor the word "yes" into a boolean.
    param = Parameter(value=value, rationale="why")
    assert param.value == value
    assert type(param.value) is type(value), repr(param.value)


def test_a_parameter_of_one_can_be_used_in_a_rule(tmp_path):
    # "below grade II" read as exclusive would be he_max_grade: 1, a plausible amendment.
    path, _ = broken(tmp_path, "  he_max_grade:\n    value: 2", "  he_max_grade:\n    value: 1")
    protocol = load_protocol_file(path)
    assert protocol.parameter("he_max_grade") == 1
    assert protocol.parameter("he_max_grade") is not True


def test_control_infusion_is_saline(packaged):
    assert "saline" in packaged.parameter("control_infusion").lower()


def test_every_registry_quote_is_on_the_page(packaged):
    quoted = [(name, q) for name, p in packaged.parameters.items() for q in p.registry_says]
    assert len(quoted) >= 10
    off_page = [(name, q) for name, q in quoted if norm(q) not in PAGE_NORM]
    assert off_page == []


def test_msc_ev_dose_and_schedule_come_from_the_parameters(packaged):
    iv = packaged.intervention("msc_ev")
    assert iv.dose is not None and iv.schedule is not None
    assert iv.dose.particles == packaged.parameter("ev_particles_per_dose")
    assert iv.dose.volume_ml == packaged.parameter("infusion_volume_ml") == 100
    assert iv.schedule.days == packaged.parameter("dosing_days") == [0, 7, 14, 21]
    # Written once, as references, in the file itself.
    assert "particles: ${ev_particles_per_dose}" in YAML_TEXT
    assert "days: ${dosing_days}" in YAML_TEXT


def test_the_control_arm_gets_saline_on_the_same_days(packaged):
    control = packaged.arm("control")
    saline = packaged.intervention("saline")
    assert "saline" in control.interventions
    assert saline.dose is not None and saline.dose.volume_ml == packaged.parameter("infusion_volume_ml")
    assert saline.schedule is not None and saline.schedule.days == packaged.intervention("msc_ev").schedule.days


def test_arm_enrollment_adds_up(packaged):
    assert [a.planned_enrollment for a in packaged.arms] == [10, 10]
    assert packaged.enrollment.planned_total == 20


def test_every_rule_is_bound(packaged):
    assert set(packaged.bound_rules) == {c.id for _, c in packaged.all_criteria()}


def test_protocol_json_schema():
    schema = Protocol.model_json_schema()
    assert schema["type"] == "object"
    assert {"id", "title", "arms", "parameters", "criteria", "definitions"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert "title" in schema["required"]


# --- errors: break a copy of the packaged file in one place -----------------------------------------
def line_of(text: str, needle: str, start: int = 1) -> int:
    """1-based number of the first line at or after ``start`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), 1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text after line {start}")


def key_line(text: str, anchor: str, key: str) -> int:
    """The line of ``key:`` at the first place after the line containing ``anchor``."""
    return line_of(text, f"{key}:", line_of(text, anchor))


def broken(tmp_path: Path, old: str, new: str, count: int = 1) -> tuple[Path, str]:
    assert old in YAML_TEXT, f"the packaged protocol no longer contains {old!r}"
    text = YAML_TEXT.replace(old, new, count)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def problems_of(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    return info.value.problems


def inclusion_index(criterion_id: str) -> int:
    ids = [c.id for c in load_protocol_file(YAML_FILE).criteria.inclusion]
    return ids.index(criterion_id)


def test_typo_in_a_function_name(tmp_path):
    path, text = broken(tmp_path, "latest(total_bilirubin) >= 171 umol/L", "latst(total_bilirubin) >= 171 umol/L")
    [(where, line, reason)] = problems_of(path)
    assert where == f"criteria.inclusion[{inclusion_index('I3')}].rule"
    assert line == key_line(text, "- id: I3", "rule")
    assert "unknown function 'latst'" in reason
    assert "did you mean 'latest'?" in reason
    assert "column 1" in reason
    assert reason.startswith("I3: ")


def test_a_bilirubin_compared_with_a_bare_number(tmp_path):
    path, text = broken(tmp_path, "latest(total_bilirubin) >= 171 umol/L", "latest(total_bilirubin) >= 171")
    [(where, line, reason)] = problems_of(path)
    assert where == f"criteria.inclusion[{inclusion_index('I3')}].rule"
    assert line == key_line(text, "- id: I3", "rule")
    assert "give the unit" in reason and "umol/L" in reason


def test_an_unknown_parameter_in_a_rule(tmp_path):
    path, text = broken(tmp_path, "rule: encephalopathy_grade <= params.he_max_grade", "rule: encephalopathy_grade <= params.he_max_grad")
    [(where, line, reason)] = problems_of(path)
    assert where == f"criteria.inclusion[{inclusion_index('I5')}].rule"
    assert line == line_of(text, "params.he_max_grad")
    assert "unknown parameter 'he_max_grad'" in reason
    assert "did you mean 'he_max_grade'?" in reason
    # The column points at "params.he_max_grad" in the rule text.
    assert f"column {'encephalopathy_grade <= '.__len__() + 1}" in reason


def test_an_unknown_parameter_reference_in_an_intervention(tmp_path):
    path, text = broken(tmp_path, "particles: ${ev_particles_per_dose}", "particles: ${ev_particles}")
    [(where, line, reason)] = problems_of(path)
    assert where == "interventions[1].dose.particles"
    assert line == line_of(text, "${ev_particles}")
    assert reason == "unknown parameter 'ev_particles'"


def test_an_unknown_parameter_reference_in_an_arm(tmp_path):
    path, text = broken(tmp_path, "planned_enrollment: 10", "planned_enrollment: ${group_size}")
    [(where, line, reason)] = problems_of(path)
    assert where == "arms[0].planned_enrollment"
    assert line == line_of(text, "${group_size}")
    assert "unknown parameter 'group_size'" in reason


def test_a_duplicate_key(tmp_path):
    path, text = broken(tmp_path, "brief_title: MSC-EVs in ACLF/ALF\n", "brief_title: MSC-EVs in ACLF/ALF\nbrief_title: Again\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == ("brief_title", "duplicate key")
    assert line == line_of(text, "brief_title: Again")


def test_a_duplicate_nested_key(tmp_path):
    path, text = broken(tmp_path, "  masking: None (Open label)\n", "  masking: None (Open label)\n  masking: Double\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, line, reason) == ("design.masking", line_of(text, "masking: Double"), "duplicate key")


def test_an_unknown_top_level_key(tmp_path):
    path, text = broken(tmp_path, "brief_title: MSC-EVs in ACLF/ALF\n", "brief_title: MSC-EVs in ACLF/ALF\nsponser: Someone\n")
    [(where, line, reason)] = problems_of(path)
    assert (where, line, reason) == ("sponser", line_of(text, "sponser:"), "unknown key")


def test_a_wrong_type(tmp_path):
    path, text = broken(tmp_path, "  planned_total: 20", "  planned_total: ten")
    problems = problems_of(path)
    where, line, reason = problems[0]
    assert where == "enrollment.planned_total"
    assert line == line_of(text, "planned_total: ten")
    assert "valid integer" in reason


def test_a_wrong_type_in_an_arm(tmp_path):
    path, text = broken(tmp_path, "planned_enrollment: 10", "planned_enrollment: ten")
    [(where, line, reason)] = problems_of(path)
    assert where == "arms[0].planned_enrollment"
    assert line == line_of(text, "planned_enrollment: ten")
    assert "valid integer" in reason


def test_a_missing_required_key(tmp_path):
    title = next(line for line in YAML_TEXT.splitlines() if line.startswith("title:"))
    path, text = broken(tmp_path, title + "\n", "")
    [(where, line, reason)] = problems_of(path)
    assert (where, reason) == ("title", "Field required")
    # No line holds a missing key: the line of the mapping that lacks it (the first key).
    first_key = next(n for n, s in enumerate(text.splitlines(), 1) if s and not s.startswith("#"))
    assert line == first_key


def test_invalid_yaml_syntax_reports_the_line(tmp_path):
    path, text = broken(tmp_path, "status: Withdrawn\n", "status: Withdrawn: again\n")
    [(where, line, reason)] = problems_of(path)
    assert where == "(file)"
    assert line == line_of(text, "status: Withdrawn: again")
    assert reason.startswith("not valid YAML:")
    assert "mapping values are not allowed" in reason


def test_an_unclosed_flow_list_is_reported_near_its_line(tmp_path):
    path, text = broken(tmp_path, "phases: [Phase 1, Phase 2]", "phases: [Phase 1, Phase 2")
    [(where, line, reason)] = problems_of(path)
    assert where == "(file)" and "not valid YAML" in reason
    opened = line_of(text, "phases: [Phase 1, Phase 2")
    assert line in (opened, opened + 1)
    assert f"while parsing a flow sequence at line {opened}" in reason


def test_an_arm_referring_to_an_unknown_intervention(tmp_path):
    path, text = broken(tmp_path, "interventions: [smt, saline]", "interventions: [smt, salin]")
    [(where, line, reason)] = problems_of(path)
    assert "unknown intervention 'salin'" in reason
    assert where == "arms[1].interventions[1]"
    assert line == line_of(text, "interventions: [smt, salin]")


def test_duplicate_criterion_ids(tmp_path):
    path, text = broken(tmp_path, "    - id: I5\n", "    - id: I4\n")
    [(where, line, reason)] = problems_of(path)
    assert "duplicate id" in reason and "I4" in reason
    assert where == f"criteria.inclusion[{inclusion_index('I5')}].id"
    assert line == line_of(text, "- id: I4", line_of(text, "- id: I4") + 1)


def prefix_rule(text: str, anchor: str, prefix: str) -> str:
    """``text`` with ``prefix`` put at the start of the first rule after the line ``anchor``."""
    start = text.index(f"\n{anchor}\n") + 1
    match = re.compile(r"rule:[ \t]*(?:>-[ \t]*\n[ \t]*)?").search(text, start)
    assert match, f"no rule after {anchor!r}"
    return text[: match.end()] + prefix + text[match.end() :]


def test_definitions_that_refer_to_each_other_in_a_circle(tmp_path):
    text = prefix_rule(prefix_rule(YAML_TEXT, "  aclf:", "alf and "), "  alf:", "aclf and ")
    assert text.count(" alf and ") == YAML_TEXT.count(" alf and ") + 1
    assert text.count(" aclf and ") == YAML_TEXT.count(" aclf and ") + 1
    path = tmp_path / "circle.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of(path)
    by_path = {where: (line, reason) for where, line, reason in problems}
    assert set(by_path) >= {"definitions.aclf.rule", "definitions.alf.rule"}
    assert by_path["definitions.aclf.rule"][0] == key_line(text, "  aclf:", "rule")
    assert by_path["definitions.alf.rule"][0] == key_line(text, "  alf:", "rule")
    for _, reason in by_path.values():
        assert "circle" in reason
        assert "aclf -> alf" in reason or "alf -> aclf" in reason


def test_an_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert problems_of(path) == [("(file)", None, "the file is empty")]
    path.write_text("# only a comment\n", encoding="utf-8")
    assert problems_of(path) == [("(file)", None, "the file is empty")]


def test_a_file_that_is_not_a_mapping():
    with pytest.raises(ProtocolError) as info:
        protocol_from_text("- one\n- two\n", "list.yaml")
    assert info.value.problems == [("(top)", 1, "a protocol is a mapping of keys to values")]


def test_a_missing_file(tmp_path):
    [(where, line, reason)] = problems_of(tmp_path / "nope.yaml")
    assert (where, line) == ("(file)", None)
    assert reason.startswith("cannot read")


def test_an_unknown_protocol_reference():
    with pytest.raises(ProtocolError) as info:
        load_protocol("NOPE")
    [(where, _, reason)] = info.value.problems
    assert where == "(protocol)"
    assert "not a packaged protocol" in reason and "NCT05940610" in reason


def test_the_rendered_error_names_every_problem_with_its_line(tmp_path):
    path, text = broken(tmp_path, "brief_title: MSC-EVs in ACLF/ALF\n", "brief_title: MSC-EVs in ACLF/ALF\nsponser: Someone\n")
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    assert str(info.value) == f"{path}: 1 problem(s)\n  line {line_of(text, 'sponser:')}: sponser: unknown key"


# --- loader hardening (independent review findings) -----------------------------------------------------------------
def test_a_protocol_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(YAML_TEXT.replace("Sun Yat-sen University\n", "Sun Yat-sen Universit\xe9\n", 1).encode("latin-1", "replace"))
    [(where, line, reason)] = problems_of(path)
    assert where == "(file)" and reason.startswith("not UTF-8 text")


def test_yaml_aliases_are_refused(tmp_path):
    path, text = broken(tmp_path, "conditions:\n", "x_anchor: &a [1, 2]\nconditions:\n")
    text = text.replace("phases: [Phase 1, Phase 2]", "phases: *a")
    path.write_text(text, encoding="utf-8")
    [(where, line, reason)] = problems_of(path)
    assert reason == "YAML aliases (*name) are not allowed in a protocol file"
    assert line == line_of(text, "phases: *a")


def test_a_billion_laughs_file_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [(where, line, reason)] = problems_of(path)
    assert "aliases" in reason and line == 2


def test_deeply_nested_yaml_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    [(where, line, reason)] = problems_of(path)
    assert reason == "nested too deeply"


@pytest.mark.parametrize("written, kind", [("1e10", float), ("1.0e10", float), ("-2.5E-3", float), (".5e3", float), ("-e5", str), (".e5", str)])
def test_yaml_numbers_read_as_yaml_1_2(tmp_path, written, kind):
    probe = f"  zz_probe:\n    value: {written}\n    rationale: probe\n  dosing_days:\n"
    path, _ = broken(tmp_path, "  dosing_days:\n", probe)
    value = load_protocol_file(path).parameter("zz_probe")
    assert type(value) is kind  # "-e5" and ".e5" are not numbers in YAML 1.2 either: text, never a crash
    if kind is float:
        assert value == float(written)


@pytest.mark.parametrize(
    "setting, reason",
    [
        ("lookback_hours: true", "valid number"),
        ('lookback_hours: "72"', "valid number"),
        ("lookback_hours: -5", "greater than 0"),
        ("lookback_hours: [1, 2]", "valid number"),
        ("lookbak_hours: 72", "unknown key"),
        ("daily_rise_min_hours: 500", "daily_rise_min_hours must be below daily_rise_max_hours"),
    ],
)
def test_screening_settings_are_validated(tmp_path, setting, reason):
    key = setting.split(":")[0]
    original = {"lookback_hours": "lookback_hours: 72", "lookbak_hours": "lookback_hours: 72"}.get(key, f"{key}: 12")
    path, text = broken(tmp_path, f"  {original}\n", f"  {setting}\n")
    [(where, line, why)] = problems_of(path)
    assert where.startswith("screening")
    assert reason in why
    assert line == line_of(text, f"  {setting}") or where == "screening"
