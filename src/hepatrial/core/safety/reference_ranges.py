"""Default adult laboratory reference ranges (canonical units), each with its
source: what a new site starts with until its own laboratory's ranges are
entered (Reference ranges page). CTCAE v5.0 grades against ULN/LLN.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceRange:
    """A laboratory reference range in the analyte's canonical unit, with where it comes from."""

    lln: float | None
    uln: float | None
    source: str


#: (analyte, sex) -> range, canonical units; sex is "male", "female" or "any".
DEFAULT_RANGES: dict[tuple[str, str], ReferenceRange] = {
    # 1.0 mg/dL = 17.1 umol/L: the protocol parameter bilirubin_uln (nct05940610.yaml),
    # whose 10 x ULN is the registry's 171 umol/L.
    ("total_bilirubin", "any"): ReferenceRange(None, 17.1, "protocol parameter bilirubin_uln (1.0 mg/dL)"),
    # CTCAE v5.0 grades INR increased on absolute values (> 1.2, > 1.5, > 2.5): no range needed.
    ("inr", "any"): ReferenceRange(None, None, "none needed: CTCAE v5.0 grades INR on absolute values"),
    # Enzymatic, IDMS-traceable creatinine (Roche CREP2 package insert; Junge et al.,
    # Clin Chim Acta 2004;344:137): men 59-104 umol/L (0.67-1.17 mg/dL), women 45-84
    # umol/L (0.51-0.95 mg/dL). No "any": without the subject's sex it is not graded.
    ("creatinine", "male"): ReferenceRange(59.0, 104.0, "adult men 59-104 umol/L (Roche enzymatic creatinine, CREP2)"),
    ("creatinine", "female"): ReferenceRange(45.0, 84.0, "adult women 45-84 umol/L (Roche enzymatic creatinine, CREP2)"),
    # Platelets 150-400 x 10^9/L: the conventional adult interval (Harrison's Principles of
    # Internal Medicine, 21st ed., reference values table).
    ("platelets", "any"): ReferenceRange(150.0, 400.0, "adult 150-400 x 10^9/L (Harrison's reference values)"),
    # IFCC methods without pyridoxal phosphate (Roche ALTL / ASTL package inserts):
    # ALT men <= 41, women <= 33 U/L; AST men <= 40, women <= 32 U/L.
    ("alt", "male"): ReferenceRange(None, 41.0, "adult men <= 41 U/L (IFCC without pyridoxal phosphate, Roche ALTL)"),
    ("alt", "female"): ReferenceRange(None, 33.0, "adult women <= 33 U/L (IFCC without pyridoxal phosphate, Roche ALTL)"),
    ("ast", "male"): ReferenceRange(None, 40.0, "adult men <= 40 U/L (IFCC without pyridoxal phosphate, Roche ASTL)"),
    ("ast", "female"): ReferenceRange(None, 32.0, "adult women <= 32 U/L (IFCC without pyridoxal phosphate, Roche ASTL)"),
    # Alkaline phosphatase, IFCC (Roche ALP2 package insert): men 40-129, women 35-104 U/L.
    ("alkaline_phosphatase", "male"): ReferenceRange(40.0, 129.0, "adult men 40-129 U/L (IFCC, Roche ALP2)"),
    ("alkaline_phosphatase", "female"): ReferenceRange(35.0, 104.0, "adult women 35-104 U/L (IFCC, Roche ALP2)"),
    # Albumin (bromocresol green, Roche ALB2 package insert): adults 35-52 g/L.
    ("albumin", "any"): ReferenceRange(35.0, 52.0, "adult 35-52 g/L (bromocresol green, Roche ALB2)"),
    # Haemoglobin: WHO 2011 anaemia thresholds (Haemoglobin concentrations for the diagnosis
    # of anaemia, WHO/NMH/NHD/MNM/11.1): men < 130 g/L, non-pregnant women < 120 g/L.
    ("hemoglobin", "male"): ReferenceRange(130.0, 175.0, "LLN: WHO 2011 anaemia threshold for men; ULN: typical adult (demo)"),
    ("hemoglobin", "female"): ReferenceRange(120.0, 155.0, "LLN: WHO 2011 anaemia threshold for women; ULN: typical adult (demo)"),
    # White cells and neutrophils: conventional adult intervals (Harrison's reference values table).
    ("wbc", "any"): ReferenceRange(4.0, 10.0, "adult 4.0-10.0 x 10^9/L (Harrison's reference values)"),
    ("neutrophils", "any"): ReferenceRange(2.0, 7.5, "adult 2.0-7.5 x 10^9/L (Harrison's reference values)"),
}
