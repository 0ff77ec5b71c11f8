"""West Haven grades (Vilstrup 2014 AASLD/EASL guideline, Table 3)."""

from __future__ import annotations

import pytest

from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.scores.west_haven import (
    WEST_HAVEN,
    validate_west_haven_grade,
    west_haven_description,
)


def test_grades_are_0_to_4():
    assert sorted(WEST_HAVEN) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "grade,keyword",
    [
        (1, "attention"),  # shortened attention span
        (2, "asterixis"),
        (2, "lethargy"),
        (3, "somnolence"),
        (3, "gross disorientation"),
        (4, "coma"),
    ],
)
def test_descriptions_carry_the_defining_signs(grade, keyword):
    assert keyword in west_haven_description(grade).lower()


def test_table_is_read_only():
    with pytest.raises(TypeError):
        WEST_HAVEN[5] = "not a grade"  # type: ignore[index]


@pytest.mark.parametrize("grade", [-1, 5, 2.0, "2", None, True])
def test_invalid_grades_raise(grade):
    with pytest.raises(ScoreInputError) as info:
        west_haven_description(grade)
    assert info.value.field == "grade"
    with pytest.raises(ScoreInputError) as info:
        validate_west_haven_grade(grade)
    assert info.value.field == "encephalopathy_grade"


@pytest.mark.parametrize("grade", [0, 1, 2, 3, 4])
def test_valid_grades_pass_through(grade):
    assert validate_west_haven_grade(grade) == grade
