"""Safety: CTCAE v5.0 lab grading (:mod:`.ctcae`) and the searchable list of
CTCAE v5.0 adverse-event terms relevant to the trial (:mod:`.ctcae_terms`)."""

from .ctcae import (
    LAB_TERMS,
    CtcaeInputError,
    LabGrade,
    grade_lab,
    grade_term,
    terms_for_analyte,
)
from .ctcae_terms import CTCAE_TERMS, CtcaeTerm, ctcae_term, search_terms

__all__ = [
    "CTCAE_TERMS",
    "CtcaeInputError",
    "CtcaeTerm",
    "LAB_TERMS",
    "LabGrade",
    "ctcae_term",
    "grade_lab",
    "grade_term",
    "search_terms",
    "terms_for_analyte",
]
