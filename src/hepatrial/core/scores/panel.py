"""Every liver score computable from one patient's latest values.

The inputs are the patient's *facts* in canonical units (lab tests by name:
``total_bilirubin`` umol/L, ``creatinine`` umol/L, ``albumin`` g/L, ``urea``
mmol/L ...; bedside fields by their candidate-file name). Each score converts
to the units its formula is published in, via :mod:`hepatrial.core.units`.
A score with a missing input is not computed: it lists what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hepatrial.core.scores import aarc, child_pugh, clif, cossh, meld
from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.units import convert

SCORE_LABELS = {
    "meld": "MELD",
    "meld_na": "MELD-Na",
    "meld_3_0": "MELD 3.0",
    "child_pugh": "Child-Pugh",
    "clif_c_of": "CLIF-C OF",
    "aclf_grade": "EASL-CLIF ACLF grade",
    "clif_c_aclf": "CLIF-C ACLF",
    "aarc": "AARC",
    "cossh_aclf_ii": "COSSH-ACLF II",
}

#: Continuous scores that are reported rounded but compared unrounded at a
#: cut-off (docs/scores.md): COSSH-ACLF II 7.396 is below 7.4 though shown as 7.40.
COMPARED_UNROUNDED = frozenset({"cossh_aclf_ii", "clif_c_aclf"})

#: Shown with the score wherever it is reported: what is not confirmed about it.
CAVEATS = {
    "cossh_aclf_ii": (
        "units (bilirubin umol/L, urea mmol/L) and HE coding (1/2/3) not confirmed from the "
        "primary paper; do not decide near a cut-off on it alone (docs/scores.md)"
    ),
}


@dataclass(frozen=True)
class ScoreOutcome:
    name: str
    value: float | int | None
    missing: tuple[str, ...] = ()
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        return SCORE_LABELS[self.name]

    @property
    def caveat(self) -> str | None:
        return CAVEATS.get(self.name)

    @property
    def compared_value(self) -> float | int | None:
        """The value a rule compares: unrounded for continuous scores, else the score."""
        if self.value is not None and self.name in COMPARED_UNROUNDED:
            return self.details["unrounded"]
        return self.value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "value": self.value}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.error:
            out["error"] = self.error
        if self.details:
            out["details"] = self.details
        if self.caveat:
            out["caveat"] = self.caveat
        return out


def _mg_dl(test: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda f: convert(f[test], "umol/L", "mg/dL", test)


def _g_dl(f: Mapping[str, Any]) -> float:
    return convert(f["albumin"], "g/L", "g/dL")


# For each argument of a score function: (the facts it needs, how to compute it).
_Arg = tuple[tuple[str, ...], Callable[[Mapping[str, Any]], Any]]


def _fact(name: str) -> _Arg:
    return (name,), lambda f: f[name]


_BILI_MG = (("total_bilirubin",), _mg_dl("total_bilirubin"))
_CREAT_MG = (("creatinine",), _mg_dl("creatinine"))
_CLIF_ARGS: dict[str, _Arg] = {
    "bilirubin_mg_dl": _BILI_MG,
    "creatinine_mg_dl": _CREAT_MG,
    "renal_replacement": _fact("renal_replacement_therapy"),
    "encephalopathy_grade": _fact("encephalopathy_grade"),
    "inr": _fact("inr"),
    "mean_arterial_pressure_mmhg": _fact("mean_arterial_pressure_mmhg"),
    "vasopressors": _fact("vasopressors"),
}
_MELD_ARGS: dict[str, _Arg] = {
    "bilirubin_mg_dl": _BILI_MG,
    "creatinine_mg_dl": _CREAT_MG,
    "inr": _fact("inr"),
    "dialysis_twice_past_week": _fact("dialysis_twice_past_week"),
}

# name -> (function, its arguments, facts of which at least one is needed and passed through)
SCORES: dict[str, tuple[Callable[..., Any], dict[str, _Arg], tuple[str, ...]]] = {
    "meld": (meld.meld, _MELD_ARGS, ()),
    "meld_na": (meld.meld_na, {**_MELD_ARGS, "sodium_mmol_l": _fact("sodium")}, ()),
    "meld_3_0": (
        meld.meld_3_0,
        {
            **_MELD_ARGS,
            "sodium_mmol_l": _fact("sodium"),
            "albumin_g_dl": (("albumin",), _g_dl),
            "female": (("sex",), lambda f: f["sex"] == "female"),
        },
        (),
    ),
    "child_pugh": (
        child_pugh.child_pugh,
        {
            "bilirubin_mg_dl": _BILI_MG,
            "albumin_g_dl": (("albumin",), _g_dl),
            "inr": _fact("inr"),
            "ascites": _fact("ascites"),
            "encephalopathy_grade": _fact("encephalopathy_grade"),
        },
        (),
    ),
    "clif_c_of": (clif.clif_c_of, _CLIF_ARGS, ("pao2_fio2", "spo2_fio2")),
    "aclf_grade": (clif.aclf_grade, _CLIF_ARGS, ("pao2_fio2", "spo2_fio2")),
    "clif_c_aclf": (
        clif.clif_c_aclf,
        {**_CLIF_ARGS, "age_years": _fact("age"), "wbc_10e9_l": _fact("wbc")},
        ("pao2_fio2", "spo2_fio2"),
    ),
    "aarc": (
        aarc.aarc,
        {
            "bilirubin_mg_dl": _BILI_MG,
            "encephalopathy_grade": _fact("encephalopathy_grade"),
            "inr": _fact("inr"),
            "lactate_mmol_l": _fact("lactate"),
            "creatinine_mg_dl": _CREAT_MG,
        },
        (),
    ),
    "cossh_aclf_ii": (
        cossh.cossh_aclf_ii,
        {
            "inr": _fact("inr"),
            "encephalopathy_grade": _fact("encephalopathy_grade"),
            "neutrophils_10e9_l": _fact("neutrophils"),
            "bilirubin_umol_l": _fact("total_bilirubin"),
            "urea_mmol_l": _fact("urea"),
            "age_years": _fact("age"),
        },
        (),
    ),
}


def _plain(value: Any) -> Any:
    """A score result's fields as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def score_inputs(name: str) -> tuple[str, ...]:
    """The facts score ``name`` is computed from (lab tests and bedside fields)."""
    _, args, any_of = SCORES[name]
    return tuple(dict.fromkeys([fact for fact_names, _ in args.values() for fact in fact_names] + list(any_of)))


def compute_score(name: str, facts: Mapping[str, Any]) -> ScoreOutcome:
    """Score ``name`` from ``facts`` (a missing or None fact makes it uncomputable)."""
    func, args, any_of = SCORES[name]
    missing = [fact for fact in score_inputs(name) if fact not in any_of and facts.get(fact) is None]
    if any_of and all(facts.get(f) is None for f in any_of):
        missing.append(" or ".join(any_of))
    if missing:
        return ScoreOutcome(name, None, tuple(missing))
    kwargs = {arg: compute(facts) for arg, (_, compute) in args.items()}
    kwargs.update({f: facts[f] for f in any_of if facts.get(f) is not None})
    try:
        result = func(**kwargs)
    except ScoreInputError as err:
        return ScoreOutcome(name, None, error=f"{err.field}: {err.reason}")
    details = {k: v for k, v in _plain(result).items() if k != "value"}
    return ScoreOutcome(name, result.value, details=details)

