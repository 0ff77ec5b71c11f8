"""West Haven grades of overt hepatic encephalopathy (0-4).

Source: West Haven criteria (Conn HO et al., Gastroenterology 1977;72:573),
as tabulated in the AASLD/EASL practice guideline on hepatic encephalopathy
(Vilstrup H et al., Hepatology 2014;60:715, Table 3). Descriptions below are
short paraphrases for display; the guideline's table is the authority.

Conventions other modules rely on (EASL-CLIF, Child-Pugh, AARC, COSSH): grades
1-2 are "mild", 3-4 are "severe"; brain failure in EASL-CLIF is grade 3-4.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from ._common import require_he_grade

__all__ = ["WEST_HAVEN", "west_haven_description", "validate_west_haven_grade"]

# Vilstrup 2014 Table 3 (West Haven criteria), paraphrased.
WEST_HAVEN: Mapping[int, str] = MappingProxyType(
    {
        0: "No clinically apparent encephalopathy (minimal HE may still be present on testing)",
        1: "Trivial lack of awareness; euphoria or anxiety; shortened attention span; "
        "impaired addition or subtraction",
        2: "Lethargy or apathy; minimal disorientation for time or place; subtle "
        "personality change; inappropriate behaviour; asterixis",
        3: "Somnolence to semi-stupor but responsive to verbal stimuli; confusion; "
        "gross disorientation",
        4: "Coma: unresponsive to verbal or noxious stimuli",
    }
)


def validate_west_haven_grade(grade: object, field: str = "encephalopathy_grade") -> int:
    """Return ``grade`` if it is an int 0-4, else raise ScoreInputError naming ``field``."""
    return require_he_grade(grade, field)


def west_haven_description(grade: int) -> str:
    """The description of a West Haven grade; ScoreInputError outside 0-4."""
    return WEST_HAVEN[validate_west_haven_grade(grade, "grade")]


def encephalopathy_points(grade: int, field: str = "encephalopathy_grade") -> int:
    """The three-band grouping of West Haven grades that Child-Pugh, CLIF-C OF
    (brain), APASL AARC and COSSH-ACLF II share: 1 none, 2 grade 1-2, 3 grade 3-4."""
    grade = validate_west_haven_grade(grade, field)
    return 1 if grade == 0 else (2 if grade <= 2 else 3)
