"""CTCAE v5.0 adverse-event terms relevant to NCT05940610, as data, and a search.

Each term carries its exact CTCAE v5.0 spelling, its MedDRA system organ
class (SOC), the grade 1-5 definitions where they were read from a source
(None otherwise -- the investigator grades from the CTCAE v5.0 document), and
the MedDRA lowest-level-term (LLT) code where one was found in a source.

Sources
- Grade texts of the lab ("Investigations" and lab-defined) terms: NCI CTCAE
  v5.0 as carried in pharmaverse admiral ``data-raw/adlb_grading/ncictcaev5.json``
  (GRADE_1..GRADE_5 columns; "-" there is None here).
- Infusion related reaction grades: CTCAE v5.0 as reproduced by
  themelanomahub.org "Infusion reaction grading and management" (all four
  grades, including grade 2's "prophylactic medications indicated for <=24
  hours"), checked against Clin Rev Allergy Immunol 2021;62(3):432-448
  (doi:10.1007/s12016-021-08877-y, PMC9156473, Table 2 "CTCAE v5.0 for
  infusion-related reactions") and the ASCO irAE guideline table
  (eguideline.guidelinecentral.com, "11.1 Infusion-related Reactions").
- MedDRA LLT codes: CTCAE terms are MedDRA LLTs, and an LLT keeps its code in
  every MedDRA version. The codes below are those listed for the identical
  term spelling in a CTCAE v4.03 term -> MedDRA code data dictionary (a
  Medidata Rave acceptance-test feature file, public corpus file id
  48199198109, "CTCAE_403_TERM") and agree with the MII ConceptMap
  "Nebenwirkung MedDRA zu SNOMED CT (CTCAE v4.03)" and, for the terms it
  lists, a CTCAE v6.0 term table (MedDRA 28.0). They were NOT checked against
  the CTCAE v5.0 Excel file itself; a term with no code found (Bacteremia,
  new in v5.0; the "Other, specify" terms) has ``meddra_llt=None``.

There is no "Hepatic encephalopathy" term in CTCAE v5.0: grade it as
"Encephalopathy" (Nervous system disorders) or through "Hepatic failure",
whose grades 3-4 name encephalopathy. The ``aliases`` (ours, not CTCAE's)
make such searches find the right term.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CtcaeTerm", "CTCAE_TERMS", "ctcae_term", "search_terms", "SOCS"]

HEPATOBILIARY = "Hepatobiliary disorders"
GI = "Gastrointestinal disorders"
BLOOD = "Blood and lymphatic system disorders"
RENAL = "Renal and urinary disorders"
INFECTIONS = "Infections and infestations"
INJURY = "Injury, poisoning and procedural complications"
IMMUNE = "Immune system disorders"
GENERAL = "General disorders and administration site conditions"
VASCULAR = "Vascular disorders"
NERVOUS = "Nervous system disorders"
PSYCHIATRIC = "Psychiatric disorders"
RESPIRATORY = "Respiratory, thoracic and mediastinal disorders"
CARDIAC = "Cardiac disorders"
SKIN = "Skin and subcutaneous tissue disorders"
METABOLISM = "Metabolism and nutrition disorders"
INVESTIGATIONS = "Investigations"

SOCS: tuple[str, ...] = (
    HEPATOBILIARY, GI, BLOOD, RENAL, INFECTIONS, INJURY, IMMUNE, GENERAL, VASCULAR,
    NERVOUS, PSYCHIATRIC, RESPIRATORY, CARDIAC, SKIN, METABOLISM, INVESTIGATIONS,
)

Grades = tuple["str | None", "str | None", "str | None", "str | None", "str | None"]


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE v5.0 adverse-event term.

    grades        the grade 1..5 definitions (None for a grade CTCAE marks "-"),
                  or None when not carried here.
    meddra_llt    the MedDRA LLT code (see the module docstring for its source),
                  or None when none was found.
    lab_analyte   the ``LAB_TESTS`` analyte that grades it (hepatrial.core.safety.ctcae).
    aliases       our search synonyms (not CTCAE text).
    """

    term: str
    soc: str
    meddra_llt: str | None = None
    grades: Grades | None = None
    lab_analyte: str | None = None
    aliases: tuple[str, ...] = ()

    def grade_text(self, grade: int) -> str | None:
        if not 1 <= grade <= 5:
            raise ValueError(f"grade must be 1-5, got {grade!r}")
        return None if self.grades is None else self.grades[grade - 1]


def _t(term, soc, llt=None, grades=None, lab=None, aliases=()):
    return CtcaeTerm(term, soc, llt, grades, lab, tuple(aliases))


_DEATH = "Death"
_LIFE = "Life-threatening consequences; urgent intervention indicated"

CTCAE_TERMS: tuple[CtcaeTerm, ...] = (
    # --- Hepatobiliary disorders -------------------------------------------------
    _t("Hepatic failure", HEPATOBILIARY, "10019663", aliases=["liver failure", "acute-on-chronic liver failure", "ACLF"]),
    _t("Hepatic hemorrhage", HEPATOBILIARY, "10019678", aliases=["liver bleeding"]),
    _t("Hepatic necrosis", HEPATOBILIARY, "10019692"),
    _t("Hepatic pain", HEPATOBILIARY, "10019705"),
    _t("Portal hypertension", HEPATOBILIARY, "10036200"),
    _t("Portal vein thrombosis", HEPATOBILIARY, "10036206", aliases=["thrombosis", "PVT"]),
    _t("Cholecystitis", HEPATOBILIARY, "10008612"),
    _t("Bile duct stenosis", HEPATOBILIARY, "10051341"),
    _t("Gallbladder obstruction", HEPATOBILIARY, "10017636"),
    _t("Hepatobiliary disorders - Other, specify", HEPATOBILIARY),
    # --- Gastrointestinal disorders (ascites and the GI bleeds live here) --------
    _t("Ascites", GI, "10003445"),
    _t("Esophageal varices hemorrhage", GI, "10015453", aliases=["variceal bleeding", "bleeding"]),
    _t("Esophageal hemorrhage", GI, "10015384", aliases=["bleeding"]),
    _t("Gastric hemorrhage", GI, "10017789", aliases=["bleeding"]),
    _t("Duodenal hemorrhage", GI, "10055242", aliases=["bleeding"]),
    _t("Upper gastrointestinal hemorrhage", GI, "10055356", aliases=["bleeding", "hematemesis", "melena"]),
    _t("Lower gastrointestinal hemorrhage", GI, "10051746", aliases=["bleeding"]),
    _t("Rectal hemorrhage", GI, "10038064", aliases=["bleeding"]),
    _t("Intra-abdominal hemorrhage", GI, "10055291", aliases=["bleeding"]),
    _t("Nausea", GI, "10028813"),
    _t("Vomiting", GI, "10047700"),
    _t("Diarrhea", GI, "10012727"),
    _t("Abdominal pain", GI, "10000081"),
    _t("Pancreatitis", GI, "10033645"),
    _t("Gastrointestinal disorders - Other, specify", GI),
    # --- Blood and lymphatic system disorders ------------------------------------
    _t("Anemia", BLOOD, "10002272", (
        "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L",
        "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80g/L",
        "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated",
        _LIFE, _DEATH), "hemoglobin", ["anaemia"]),
    _t("Febrile neutropenia", BLOOD, "10016288"),
    _t("Disseminated intravascular coagulation", BLOOD, "10013442", aliases=["DIC", "coagulopathy", "bleeding"]),
    _t("Hemolysis", BLOOD, "10019491"),
    _t("Leukocytosis", BLOOD, "10024378", (
        None, None, ">100,000/mm3",
        "Clinical manifestations of leucostasis; urgent intervention indicated", _DEATH), "wbc"),
    # --- Renal and urinary disorders ----------------------------------------------
    _t("Acute kidney injury", RENAL, "10069339", aliases=["AKI", "hepatorenal syndrome", "HRS", "renal failure"]),
    _t("Chronic kidney disease", RENAL, "10064848"),
    _t("Hematuria", RENAL, "10019450", aliases=["bleeding"]),
    # --- Infections and infestations -----------------------------------------------
    _t("Sepsis", INFECTIONS, "10040047", aliases=["septic shock", "infection"]),
    _t("Bacteremia", INFECTIONS, aliases=["bloodstream infection", "infection"]),
    _t("Lung infection", INFECTIONS, "10061229", aliases=["pneumonia", "infection"]),
    _t("Peritoneal infection", INFECTIONS, "10057262",
       aliases=["spontaneous bacterial peritonitis", "SBP", "peritonitis", "infection"]),
    _t("Urinary tract infection", INFECTIONS, "10046571", aliases=["UTI", "infection"]),
    _t("Biliary tract infection", INFECTIONS, "10061695", aliases=["cholangitis", "infection"]),
    _t("Hepatic infection", INFECTIONS, "10056522", aliases=["liver abscess", "infection"]),
    _t("Gallbladder infection", INFECTIONS, "10062632", aliases=["infection"]),
    _t("Catheter related infection", INFECTIONS, "10007810", aliases=["line infection", "infection"]),
    _t("Device related infection", INFECTIONS, "10064687", aliases=["infection"]),
    _t("Abdominal infection", INFECTIONS, "10056519", aliases=["infection"]),
    _t("Enterocolitis infectious", INFECTIONS, "10058838", aliases=["infection"]),
    _t("Skin infection", INFECTIONS, "10040872", aliases=["cellulitis", "infection"]),
    _t("Upper respiratory infection", INFECTIONS, "10046300", aliases=["infection"]),
    _t("Infections and infestations - Other, specify", INFECTIONS, aliases=["infection"]),
    # --- Injury, poisoning and procedural complications -----------------------------
    _t("Infusion related reaction", INJURY, "10051792", (
        "Mild transient reaction; infusion interruption not indicated; intervention not indicated",
        "Therapy or infusion interruption indicated but responds promptly to symptomatic treatment "
        "(e.g., antihistamines, NSAIDS, narcotics, IV fluids); prophylactic medications indicated "
        "for <=24 hrs",
        "Prolonged (e.g., not rapidly responsive to symptomatic medication and/or brief interruption "
        "of infusion); recurrence of symptoms following initial improvement; hospitalization "
        "indicated for clinical sequelae",
        _LIFE, _DEATH), aliases=["infusion reaction", "IRR"]),
    # --- Immune system disorders ----------------------------------------------------
    _t("Allergic reaction", IMMUNE, "10001718", aliases=["hypersensitivity"]),
    _t("Anaphylaxis", IMMUNE, "10002218", aliases=["anaphylactic reaction"]),
    _t("Cytokine release syndrome", IMMUNE, "10052015", aliases=["CRS"]),
    # --- General disorders and administration site conditions ----------------------
    _t("Fever", GENERAL, "10016558", aliases=["pyrexia"]),
    _t("Chills", GENERAL, "10008531", aliases=["rigors"]),
    _t("Fatigue", GENERAL, "10016256"),
    _t("Edema limbs", GENERAL, "10050068"),
    _t("Infusion site extravasation", GENERAL, "10064774"),
    _t("Injection site reaction", GENERAL, "10022095"),
    _t("Multi-organ failure", GENERAL, "10028154", aliases=["multiple organ failure"]),
    _t("Death NOS", GENERAL, "10011914", aliases=["death"]),
    # --- Vascular disorders ---------------------------------------------------------
    _t("Hypotension", VASCULAR, "10021097"),
    _t("Hypertension", VASCULAR, "10020772"),
    _t("Thromboembolic event", VASCULAR, "10043565",
       aliases=["thrombosis", "embolism", "deep vein thrombosis", "pulmonary embolism"]),
    _t("Hematoma", VASCULAR, "10019428", aliases=["bleeding"]),
    _t("Capillary leak syndrome", VASCULAR, "10007196"),
    _t("Flushing", VASCULAR, "10016825"),
    # --- Nervous system / psychiatric disorders -------------------------------------
    _t("Encephalopathy", NERVOUS, "10014625", aliases=["hepatic encephalopathy", "HE"]),
    _t("Depressed level of consciousness", NERVOUS, "10012373", aliases=["coma"]),
    _t("Intracranial hemorrhage", NERVOUS, "10022763", aliases=["bleeding", "cerebral hemorrhage"]),
    _t("Seizure", NERVOUS, "10039906"),
    _t("Headache", NERVOUS, "10019211"),
    _t("Confusion", PSYCHIATRIC, "10010300"),
    _t("Delirium", PSYCHIATRIC, "10012218"),
    # --- Respiratory, thoracic and mediastinal disorders ---------------------------
    _t("Respiratory failure", RESPIRATORY, "10038695"),
    _t("Adult respiratory distress syndrome", RESPIRATORY, "10001409", aliases=["ARDS"]),
    _t("Hypoxia", RESPIRATORY, "10021143"),
    _t("Dyspnea", RESPIRATORY, "10013963"),
    _t("Bronchospasm", RESPIRATORY, "10006482"),
    _t("Pleural effusion", RESPIRATORY, "10035598", aliases=["hepatic hydrothorax"]),
    _t("Pulmonary edema", RESPIRATORY, "10037375"),
    _t("Epistaxis", RESPIRATORY, "10015090", aliases=["bleeding"]),
    # --- Cardiac disorders ----------------------------------------------------------
    _t("Sinus tachycardia", CARDIAC, "10040752"),
    _t("Atrial fibrillation", CARDIAC, "10003658"),
    _t("Heart failure", CARDIAC, "10019279"),
    _t("Cardiac arrest", CARDIAC, "10007515"),
    # --- Skin and subcutaneous tissue disorders -------------------------------------
    _t("Urticaria", SKIN, "10046735", aliases=["hives"]),
    _t("Pruritus", SKIN, "10037087"),
    _t("Rash maculo-papular", SKIN, "10037868", aliases=["rash"]),
    _t("Purpura", SKIN, "10037549", aliases=["bleeding"]),
    # --- Metabolism and nutrition disorders -----------------------------------------
    _t("Hypoalbuminemia", METABOLISM, "10020943", (
        "<LLN - 3 g/dL; <LLN - 30 g/L", "<3 - 2 g/dL; <30 - 20 g/L", "<2 g/dL; <20 g/L",
        _LIFE, _DEATH), "albumin"),
    _t("Hypoglycemia", METABOLISM, "10021005"),
    _t("Hyponatremia", METABOLISM, "10021038"),
    _t("Hypokalemia", METABOLISM, "10021018"),
    _t("Hyperkalemia", METABOLISM, "10020647"),
    _t("Acidosis", METABOLISM, "10000486"),
    # --- Investigations (the lab-graded terms of hepatrial.core.safety.ctcae) -------
    _t("Blood bilirubin increased", INVESTIGATIONS, "10005364", (
        ">ULN - 1.5 x ULN if baseline was normal; > 1.0 - 1.5 x baseline if baseline was abnormal",
        ">1.5 - 3.0 x ULN if baseline was normal; >1.5 - 3.0 x baseline if baseline was abnormal",
        ">3.0 - 10.0 x ULN if baseline was normal; >3.0 - 10.0 x baseline if baseline was abnormal",
        ">10.0 x ULN if baseline was normal; >10.0 x baseline if baseline was abnormal",
        None), "total_bilirubin", ["jaundice", "hyperbilirubinemia"]),
    _t("Alanine aminotransferase increased", INVESTIGATIONS, "10001551", (
        ">ULN - 3.0 x ULN if baseline was normal; 1.5 - 3.0 x baseline if baseline was abnormal",
        ">3.0 - 5.0 x ULN if baseline was normal; >3.0 - 5.0 x baseline if baseline was abnormal",
        ">5.0 - 20.0 x ULN if baseline was normal; >5.0 - 20.0 x baseline if baseline was abnormal",
        ">20.0 x ULN if baseline was normal; >20.0 x baseline if baseline was abnormal",
        None), "alt", ["ALT", "transaminases"]),
    _t("Aspartate aminotransferase increased", INVESTIGATIONS, "10003481", (
        ">ULN - 3.0 x ULN if baseline was normal; 1.5 - 3.0 x baseline if baseline was abnormal",
        ">3.0 - 5.0 x ULN if baseline was normal; >3.0 - 5.0 x baseline if baseline was abnormal",
        ">5.0 - 20.0 x ULN if baseline was normal; >5.0 - 20.0 x baseline if baseline was abnormal",
        ">20.0 x ULN if baseline was normal; >20.0 x baseline if baseline was abnormal",
        None), "ast", ["AST", "transaminases"]),
    _t("Alkaline phosphatase increased", INVESTIGATIONS, "10001675", (
        ">ULN - 2.5 x ULN if baseline was normal; 2.0 - 2.5 x baseline if baseline was abnormal",
        ">2.5 - 5.0 x ULN if baseline was normal; >2.5 - 5.0 x baseline if baseline was abnormal",
        ">5.0 - 20.0 x ULN if baseline was normal; >5.0 - 20.0 x baseline if baseline was abnormal",
        ">20.0 x ULN if baseline was normal; >20.0 x baseline if baseline was abnormal",
        None), "alkaline_phosphatase", ["ALP"]),
    _t("GGT increased", INVESTIGATIONS, "10056910", (
        ">ULN - 2.5 x ULN if baseline was normal; 2.0 - 2.5 x baseline if baseline was abnormal",
        ">2.5 - 5.0 x ULN if baseline was normal; >2.5 - 5.0 x baseline if baseline was abnormal",
        ">5.0 - 20.0 x ULN if baseline was normal; >5.0 - 20.0 x baseline if baseline was abnormal",
        ">20.0 x ULN if baseline was normal; >20.0 x baseline if baseline was abnormal",
        None)),
    _t("INR increased", INVESTIGATIONS, "10022402", (
        ">1.2 - 1.5; >1 - 1.5 x baseline if on anticoagulation; monitoring only indicated",
        ">1.5 - 2.5; >1.5 - 2.5 x baseline if on anticoagulation; dose adjustment indicated",
        ">2.5; >2.5 times above baseline if on anticoagulation",
        None, None), "inr", ["coagulopathy", "prothrombin time"]),
    _t("Activated partial thromboplastin time prolonged", INVESTIGATIONS, "10000636", (
        ">ULN - 1.5 x ULN", ">1.5 - 2.5 x ULN", ">2.5 x ULN; bleeding", None, None), aliases=["aPTT"]),
    _t("Fibrinogen decreased", INVESTIGATIONS, "10016596", (
        "<1.0 - 0.75 x LLN; if abnormal, <25% decrease from baseline",
        "<0.75 - 0.5 x LLN; if abnormal, 25 - <50% decrease from baseline",
        "<0.5 - 0.25 x LLN; if abnormal, 50 - <75% decrease from baseline",
        "<0.25 x LLN; if abnormal, 75% decrease from baseline; absolute value <50 mg/dL",
        None)),
    _t("Creatinine increased", INVESTIGATIONS, "10011368", (
        ">ULN - 1.5 x ULN", ">1.5 - 3.0 x baseline; >1.5 - 3.0 x ULN",
        ">3.0 baseline; >3.0 - 6.0 x ULN", ">6.0 x ULN", None), "creatinine"),
    _t("Platelet count decreased", INVESTIGATIONS, "10035528", (
        "<LLN - 75,000/mm3; <LLN - 75.0 x 10e9 /L", "<75,000 - 50,000/mm3; <75.0 - 50.0 x 10e9 /L",
        "<50,000 - 25,000/mm3; <50.0 - 25.0 x 10e9 /L", "<25,000/mm3; <25.0 x 10e9 /L", None),
        "platelets", ["thrombocytopenia"]),
    _t("Neutrophil count decreased", INVESTIGATIONS, "10029366", (
        "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L", "<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L",
        "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L", "<500/mm3; <0.5 x 10e9 /L", None),
        "neutrophils", ["neutropenia"]),
    _t("White blood cell decreased", INVESTIGATIONS, "10049182", (
        "<LLN - 3000/mm3; <LLN - 3.0 x 10e9 /L", "<3000 - 2000/mm3; <3.0 - 2.0 x 10e9 /L",
        "<2000 - 1000/mm3; <2.0 - 1.0 x 10e9 /L", "<1000/mm3; <1.0 x 10e9 /L", None),
        "wbc", ["leukopenia"]),
    _t("Lymphocyte count decreased", INVESTIGATIONS, "10025256", (
        "<LLN - 800/mm3; <LLN - 0.8 x 10e9/L", "<800 - 500/mm3; <0.8 - 0.5 x 10e9 /L",
        "<500 - 200/mm3; <0.5 - 0.2 x 10e9 /L", "<200/mm3; <0.2 x 10e9 /L", None),
        aliases=["lymphopenia"]),
    _t("Hemoglobin increased", INVESTIGATIONS, "10055599", (
        "Increase in >0 - 2 g/dL above ULN", "Increase in >2 - 4 g/dL above ULN",
        "Increase in >4 g/dL above ULN", None, None), "hemoglobin"),
    _t("Urine output decreased", INVESTIGATIONS, "10059895", aliases=["oliguria"]),
)

_BY_NAME: dict[str, CtcaeTerm] = {t.term.casefold(): t for t in CTCAE_TERMS}


def ctcae_term(name: str) -> CtcaeTerm:
    """The term spelled ``name`` (case-insensitive); KeyError naming it if absent."""
    try:
        return _BY_NAME[name.strip().casefold()]
    except KeyError:
        raise KeyError(f"not a CTCAE v5.0 term in hepatrial's list: {name!r}") from None


def _rank(term: CtcaeTerm, q: str) -> int | None:
    name = term.term.casefold()
    if name == q:
        return 0
    if name.startswith(q):
        return 1
    if any(word.startswith(q) for word in name.replace("-", " ").split()):
        return 2
    if q in name:
        return 3
    if any(q == a.casefold() for a in term.aliases):
        return 4
    if any(q in a.casefold() for a in term.aliases):
        return 5
    if q in term.soc.casefold():
        return 6
    return None


def search_terms(text: str, limit: int | None = None) -> list[CtcaeTerm]:
    """Terms whose name, alias or SOC contains ``text`` (case-insensitive), best first.

    Ranking: exact name; name starts with it; a word of the name starts with
    it; name contains it; an alias equals it; an alias contains it; the SOC
    contains it. Ties are alphabetical. Blank ``text`` lists every term
    alphabetically.
    """
    q = " ".join(text.split()).casefold()
    if not q:
        found = sorted(CTCAE_TERMS, key=lambda t: t.term.casefold())
    else:
        ranked = [(r, t.term.casefold(), t) for t in CTCAE_TERMS if (r := _rank(t, q)) is not None]
        found = [t for _, _, t in sorted(ranked, key=lambda x: (x[0], x[1]))]
    return found if limit is None else found[:limit]
