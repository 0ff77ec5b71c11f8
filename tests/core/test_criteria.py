"""The rule language: parsing, checking (names, units, types) and three-valued evaluation."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.criteria.ast import BoolOp, Call, Compare, DefRef, Field, LabRef, Literal, walk
from hepatrial.core.criteria.check import bind
from hepatrial.core.criteria.evaluate import Evidence, Fact, evaluate
from hepatrial.core.criteria.parser import RuleError, parse, tokenize
from hepatrial.core.criteria.vocabulary import candidate_vocabulary

PARAMS = {
    "bilirubin_uln": (17.1, "umol/L"),
    "pta_max": (40, "%"),
    "meld_variant": ("meld", None),
    "dosing_days": ([0, 7], None),
}
DEFINITIONS = {"jaundice": "latest(total_bilirubin) >= 10 * params.bilirubin_uln"}


def vocab(definitions=None):
    return candidate_vocabulary(PARAMS, DEFINITIONS if definitions is None else definitions)


def bound(text: str):
    return bind(text, vocab())[0]


# --- parsing ----------------------------------------------------------------------------------------------
def test_quantities_are_single_tokens():
    tokens = tokenize("latest(total_bilirubin) >= 171 umol/L or x < 10mg/dL")
    numbers = [(t.value, t.unit) for t in tokens if t.kind == "NUMBER"]
    assert numbers == [(171.0, "umol/L"), (10.0, "mg/dL")]


def test_unit_spellings_are_normalised():
    assert [t.unit for t in tokenize("1 µmol/L + 2 UMOL/L + 3 mEq/l + 4 %") if t.kind == "NUMBER"] == [
        "umol/L", "umol/L", "mEq/L", "%",
    ]  # fmt: skip


def test_scientific_notation():
    assert tokenize("1e10")[0].value == 1e10
    assert tokenize("2.5E-3")[0].value == 0.0025


def test_precedence_and_chains():
    tree = parse("a or b and not c")
    assert isinstance(tree, BoolOp) and tree.op == "or"
    assert isinstance(tree.operands[1], BoolOp) and tree.operands[1].op == "and"
    chain = parse("18 <= age <= 65")
    assert isinstance(chain, Compare) and chain.ops == ("<=", "<=") and len(chain.operands) == 3


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("", 1, "the rule is empty"),
        ("age >= 18 &&", 11, "unexpected character '&'"),
        ("age = 18", 5, "use '=='"),
        ("age >=", 7, "ends too early"),
        ("(age > 1", 9, "expected ')'"),
        ("age > 1 age", 9, "missing 'and' / 'or'"),
        ('sex == "male', 8, "string is not closed"),
        ("171umolL > 1", 4, "number runs into a name"),
        ("x in 1", 6, "'(' to start the list"),
        ("x is 3", 6, "expected true, false or null"),
    ],
)
def test_syntax_errors_name_the_position(text, column, message):
    with pytest.raises(RuleError) as info:
        parse(text)
    assert info.value.position + 1 == column
    assert message in info.value.message
    # the rendered error shows a caret under the column
    assert str(info.value).splitlines()[-1] == "  " + " " * (column - 1) + "^"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(list("agelt_()<=>!.,\"' 0123456789%/umoLdg*+-") + ["and ", "or ", "not ", "in ", "is ", "latest(", "null"]),
        max_size=40,
    ).map("".join)
)
def test_parser_never_crashes(text):
    """Any text either parses or raises RuleError: never another exception, never eval."""
    try:
        parse(text)
    except RuleError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_parser_never_crashes_on_arbitrary_unicode(text):
    try:
        parse(text)
    except RuleError:
        pass


def test_python_is_not_evaluated():
    for text in ("__import__('os').system('true')", "age.__class__", "[x for x in y]", "lambda: 1"):
        with pytest.raises(RuleError):
            bind(text, vocab())


# --- checking ------------------------------------------------------------------------------------------------
def test_unit_literals_are_converted_to_the_analytes_canonical_unit():
    for text in ("latest(total_bilirubin) >= 10 mg/dL", "latest(total_bilirubin) >= 171 umol/L"):
        lit = bound(text).operands[1]
        assert (lit.value, lit.unit) == (171.0, "umol/L")
    creat = bound("latest(creatinine) >= 2 mg/dL")
    assert creat.operands[1].value == 176.8  # 2 x 88.4


def test_parameters_fold_into_literals_with_their_origin():
    node = bound("latest(total_bilirubin) >= 10 * params.bilirubin_uln")
    lit = node.operands[1]
    assert (lit.value, lit.unit) == (171.0, "umol/L")
    assert lit.origin == "10 * params.bilirubin_uln"


def test_score_by_parameter_resolves_to_the_score_call():
    assert bound("score(params.meld_variant) > 30").operands[0] == Call("meld")


def test_definitions_are_bound_into_the_tree():
    node = bound("jaundice and age >= 18")
    ref = node.operands[0]
    assert isinstance(ref, DefRef) and ref.name == "jaundice"
    assert any(isinstance(n, LabRef) and n.test == "total_bilirubin" for n in walk(node))


def test_bound_tree_has_no_unresolved_names():
    node = bound('(presentation == "ACLF" and jaundice) or history.dic or 18 <= age <= 65')
    kinds = {type(n).__name__ for n in walk(node)}
    assert "Name" not in kinds
    assert {"Field", "DefRef", "Call", "LabRef", "Literal", "Compare", "BoolOp"} <= kinds


@pytest.mark.parametrize(
    "text, message",
    [
        ("latest(total_bilirubin) >= 171", "give the unit"),
        ("latest(total_bilirubin) >= 1 g/L", "cannot convert g/L to umol/L for total_bilirubin"),
        ("latst(inr) > 1", "did you mean 'latest'"),
        ("latest(bilirubin) > 1 mg/dL", "unknown lab test 'bilirubin'"),
        ("total_bilirubin > 1 mg/dL", "write latest(total_bilirubin)"),
        ("agee >= 18", "did you mean 'age'"),
        ('presentation == "ACFL"', "not a possible value"),
        ('ascites in ("mild", "lots")', "not a possible value"),
        ('ascites >= "mild"', ">= does not apply"),
        ("age", "not a condition"),
        ("age and history.dic", "not a condition"),
        ("params.nope > 1", "unknown parameter 'nope'"),
        ("params.dosing_days > 1", "not a single value"),
        ("meld(1) > 3", "takes no arguments"),
        ('score("meld_4") > 3', "unknown score"),
        ("latest(inr, 2) > 1", "takes one lab test name"),
        ("age == null", "is null"),
        ("age > 1 / 0", "division by zero"),
        ("latest(total_bilirubin) * latest(creatinine) > 1 umol/L", "cannot multiply two quantities"),
        ("latest(alt) > latest(total_bilirubin)", "cannot compare"),
    ],
)
def test_check_errors(text, message):
    with pytest.raises(RuleError) as info:
        bind(text, vocab(), where="X9")
    assert message in info.value.message
    assert info.value.criterion == "X9"
    assert 0 <= info.value.position < len(text)


def test_error_position_points_at_the_offending_operand():
    with pytest.raises(RuleError) as info:
        bind("age >= 18 and latest(total_bilirubin) > 1 g/L", vocab())
    assert info.value.position == len("age >= 18 and latest(total_bilirubin) > ")


def test_circular_definitions_are_refused_where_the_circle_closes():
    with pytest.raises(RuleError) as info:
        bind("a", vocab({"a": "age > 1 or b", "b": "history.dic and a"}))
    err = info.value
    assert err.message == "definitions refer to each other in a circle: a -> b -> a"
    assert (err.criterion, err.text, err.position) == ("definitions.b", "history.dic and a", 16)


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("latest(total_bilirubin) >= 171", 28, "give the unit: total_bilirubin in umol/L is compared with a plain number"),
        ("171 <= latest(total_bilirubin)", 1, "give the unit"),
        ("age > 10 umol/L", 7, "'10 umol/L' has a unit, but 'age' is a plain number"),
        ("latest(inr) >= 1.5 and latest(prothrombin_activity) < 40", 55, "give the unit: prothrombin_activity in %"),
    ],
)
def test_unit_mistakes_point_at_the_number(text, column, message):
    with pytest.raises(RuleError) as info:
        bind(text, vocab())
    assert message in info.value.message
    assert info.value.position + 1 == column


# --- evaluation: Kleene logic -------------------------------------------------------------------------------------
@dataclass
class FakeFacts:
    """Facts given directly as values (None = unknown): the evaluator's whole input."""

    values: dict = field(default_factory=dict)

    def field(self, path):
        v = self.values.get(path)
        return Fact(v, f"{path} {v}", (Evidence("field", path, v),) if v is not None else (), None if v is not None else f"{path} not given")

    def lab(self, func, test):
        v = self.values.get(f"{func}({test})")
        return Fact(v, f"{test} {v}", (Evidence("lab", test, v),) if v is not None else (), None if v is not None else f"no {test}")

    def score(self, name):
        v = self.values.get(name)
        return Fact(v, f"{name} {v}", (), None if v is not None else f"{name} missing")


TRUTH = {True: True, False: False, None: None}


@pytest.mark.parametrize("a, b", list(itertools.product([True, False, None], repeat=2)))
def test_kleene_truth_tables(a, b):
    facts = FakeFacts({"history.dic": a, "history.diabetes": b})
    and_ = evaluate(bound("history.dic and history.diabetes"), facts).value
    or_ = evaluate(bound("history.dic or history.diabetes"), facts).value
    not_ = evaluate(bound("not history.dic"), facts).value
    expected_and = False if False in (a, b) else (None if None in (a, b) else True)
    expected_or = True if True in (a, b) else (None if None in (a, b) else False)
    assert and_ is expected_and
    assert or_ is expected_or
    assert not_ is (None if a is None else not a)


def test_is_tests_are_two_valued():
    for value, is_not_false, is_null in [(True, True, False), (False, False, False), (None, True, True)]:
        facts = FakeFacts({"chronic_liver_disease": value})
        assert evaluate(bound("chronic_liver_disease is not false"), facts).value is is_not_false
        assert evaluate(bound("chronic_liver_disease is null"), facts).value is is_null


def test_comparison_with_unknown_is_unknown_and_says_what_is_missing():
    out = evaluate(bound("latest(inr) >= 1.5"), FakeFacts())
    assert out.value is None
    assert out.missing == ("no inr",)


def test_decisive_evidence_only():
    # 'or' is decided by its true operand: the evidence is that operand's
    facts = FakeFacts({"latest(inr)": 2.0, "latest(prothrombin_activity)": 50.0})
    out = evaluate(bound("latest(inr) >= 1.5 or latest(prothrombin_activity) <= 40 %"), facts)
    assert out.value is True
    assert [e.name for e in out.evidence] == ["inr"]
    assert out.phrases == ("inr 2.0 >= 1.5",)


def test_in_list_and_negation():
    facts = FakeFacts({"ascites": "mild"})
    assert evaluate(bound('ascites in ("mild", "moderate")'), facts).value is True
    assert evaluate(bound('ascites not in ("mild", "moderate")'), facts).value is False
    assert evaluate(bound('ascites in ("mild")'), FakeFacts()).value is None


def test_arithmetic_on_lab_values():
    facts = FakeFacts({"latest(alt)": 300.0, "latest(ast)": 100.0})
    assert evaluate(bound("latest(alt) / latest(ast) > 2"), facts).value is True
    assert evaluate(bound("latest(alt) - 50 U/L >= 250 U/L"), facts).value is True


def test_field_kinds_come_from_the_candidate_schema():
    v = vocab()
    assert v.fields["history.dic"].kind == "bool"
    assert v.fields["ascites"].enum == ("none", "mild", "moderate", "severe")
    assert v.fields["encephalopathy_grade"].kind == "number"
    assert "labs" not in v.fields and "id" not in v.fields


def test_compare_binds_every_literal_of_a_chain():
    node = bound("10 mg/dL <= latest(total_bilirubin) <= 20 mg/dL")
    assert isinstance(node, Compare)
    assert [o.value for o in node.operands if isinstance(o, Literal)] == [171.0, 342.0]
    assert isinstance(node.operands[1], Call) and isinstance(bound("history.dic"), Field)


RULE_PIECES = [
    "age", "sex", "presentation", "history.dic", "ascites", "encephalopathy_grade", "latest(total_bilirubin)",
    "daily_rise(creatinine)", "latest(inr)", "meld()", "score(", "params.pta_max", "params.bilirubin_uln",
    "jaundice", "10 mg/dL", "171 umol/L", "40 %", "1.5", '"ACLF"', '"mild"', "true", "null", " and ", " or ",
    "not ", " in ", " is ", " == ", " <= ", " > ", " * ", " / ", " - ", "(", ")", ",",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(RULE_PIECES), min_size=1, max_size=12).map("".join))
def test_checker_never_crashes(text):
    """Any text either binds to a condition or raises RuleError with a position inside it."""
    try:
        node, type_ = bind(text, vocab())
    except RuleError as err:
        assert 0 <= err.position <= len(text)
    else:
        assert type_.kind == "bool"
        assert "Name" not in {type(n).__name__ for n in walk(node)}


@pytest.mark.parametrize("text", ["(" * 65 + "age > 1" + ")" * 65, "not " * 65 + "history.dic", "-" * 65 + "1 > age"])
def test_rules_nested_too_deeply_are_refused_not_crashed(text):
    with pytest.raises(RuleError, match="nested too deeply"):
        parse(text)


def test_sixty_four_levels_are_fine():
    assert isinstance(parse("(" * 63 + "age > 1" + ")" * 63), Compare)


def test_is_true_and_false_apply_only_to_yes_no_values():
    for text in ("latest(inr) is true", "age is false", 'sex is not true'):
        with pytest.raises(RuleError, match="applies to a yes/no value"):
            bind(text, vocab())
    assert bind("latest(inr) is null", vocab())[1].kind == "bool"
