"""The metadata of hepatrial's ADaM datasets (hepatrial.core.export.adam), as data.

For each dataset: its label, ADaM class, structure and key variables; for each
variable: label, Define-XML data type, length, origin, the derivation or comment
(written from what adam.py and services/adam_export.py do) and the codelist of
its controlled values. :mod:`hepatrial.core.export.define_xml` turns it into a
Define-XML 2.0 document.

Standards and the choices made against them:

- **Names and labels** follow the ADaM Implementation Guide v1.3: names of at
  most 8 characters (upper case, starting with a letter), labels of at most 40.
- **Classes** are the ADaM class names used in def:Class: "SUBJECT LEVEL
  ANALYSIS DATASET" and "BASIC DATA STRUCTURE" (the CDISC Define-XML 2.0 ADaM
  example, define2-0-0-example-adam.xml) and "OCCURRENCE DATA STRUCTURE" (the
  ADaM OCCDS v1.0 class; Define-XML 2.0's schema types def:Class as free text,
  so it is accepted there). Define-XML 2.0 has no def:SubClass, so ADTTE is plain
  BDS.
- **Origins** are Define-XML 2.0's def:Origin types. 2.0 has no "Collected"
  (that is 2.1): a value taken from an eCRF field unchanged is "CRF", and its
  origin description names the hepatrial form and field. hepatrial has no SDTM
  layer, so "Predecessor" is used only for a value copied from another ADaM
  dataset of this package (e.g. ADSL.TRT01P).
- **Data types** are Define-XML's: text, integer, float, date (ISO 8601 dates,
  as the CSV files carry them) and datetime (ISO 8601, to the minute, site local
  time). Toxicity grades are text (ADaM IG: ATOXGR and AETOXGR are character),
  which is what the CSV holds ("0" .. "5").
- **Study days** count the randomization date as day 0 (hepatrial's
  convention, see docs/adam.md), which every relative-day derivation says.

The columns a dataset actually has are adam.DATASETS; :func:`missing_metadata`
lists the columns without metadata here (should be none) and
:func:`unused_metadata` the metadata of columns the datasets do not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from hepatrial.core.export import adam
from hepatrial.core.export.adam import LAB_PARAMS, MELD_PARAM, STUDYID
from hepatrial.core.labs import LAB_TESTS

#: def:Origin/@Type values of Define-XML 2.0.
ORIGIN_TYPES = ("CRF", "Derived", "Assigned", "Protocol", "eDT", "Predecessor")
#: The Define-XML (ODM 1.3.2) DataType values used here.
DATA_TYPES = ("text", "integer", "float", "date", "datetime")

ADSL_CLASS = "SUBJECT LEVEL ANALYSIS DATASET"
BDS_CLASS = "BASIC DATA STRUCTURE"
OCCDS_CLASS = "OCCURRENCE DATA STRUCTURE"

#: The protocol's survival horizons (parameter survival_horizons_days) when none are given.
DEFAULT_HORIZONS = (84, 168)
#: ADEX's one parameter (adam.adex).
EXPOSURE_PARAM = ("VOLUME", "Volume infused (mL)")
#: The nominal Length of numeric variables (8, the length of a SAS numeric).
NUMERIC_LENGTH = 8


@dataclass(frozen=True)
class Variable:
    """One variable. ``comment`` is the derivation when ``origin`` is Derived (one
    sentence), otherwise an optional comment; ``source`` names where the value comes
    from (def:Origin's description); ``length`` is the nominal length of a text
    variable (a codelist's longest code, or the observed length, may replace it)."""

    label: str
    data_type: str
    origin: str
    comment: str = ""
    source: str = ""
    length: int | None = None
    codelist: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    label: str
    klass: str
    structure: str
    keys: tuple[str, ...]
    comment: str
    variables: dict[str, Variable]

    @property
    def repeating(self) -> bool:
        """ODM Repeating: more than one record per subject."""
        return self.klass != ADSL_CLASS


@dataclass(frozen=True)
class CodeList:
    """A codelist: (coded value, decode) pairs in order; decode "" when the value needs none."""

    name: str
    data_type: str
    items: tuple[tuple[str, str], ...]

    @property
    def has_decodes(self) -> bool:
        return any(decode for _, decode in self.items)


class MetadataError(LookupError):
    """A dataset or a column with no metadata in this module."""


def _v(label, data_type, origin, comment="", source="", length=None, codelist=None) -> Variable:
    return Variable(label, data_type, origin, comment, source, length, codelist)


# --- codelists -------------------------------------------------------------------------------

_GRADES = {"0": "Grade 0", "1": "1 - Mild", "2": "2 - Moderate", "3": "3 - Severe or medically significant",
           "4": "4 - Life-threatening", "5": "5 - Death"}  # fmt: skip
_ADLB_UNITS = sorted({LAB_TESTS[t].canonical_unit for t in LAB_PARAMS if t in LAB_TESTS})

#: Codelists whose values are fixed here; PARAMCD / PARAM and the arm codes come from the
#: caller (see define_xml). The AE lists are the AE form's choices in upper case (adam.adae).
CODELISTS: dict[str, CodeList] = {
    "NY": CodeList("No Yes Response", "text", (("N", "No"), ("Y", "Yes"))),
    "Y_BLANK": CodeList("Yes (null otherwise)", "text", (("Y", "Yes"),)),
    "SEX": CodeList("Sex", "text", (("F", "Female"), ("M", "Male"), ("U", "Unknown"))),
    "AGEU": CodeList("Age Unit", "text", (("YEARS", ""),)),
    "STRAT1R": CodeList("Presentation (randomization stratum)", "text",
                        (("ACLF", "Acute-on-chronic liver failure"), ("ALF", "Acute liver failure"))),
    "STATUS": CodeList("End of Treatment / Study Status", "text", (("COMPLETED", ""), ("DISCONTINUED", ""), ("ONGOING", ""))),
    "DCTREAS": CodeList("Reason for Discontinuation of Treatment", "text",
                        (("DEATH", ""), ("LIVER TRANSPLANTATION", ""), ("WITHDRAWAL BY SUBJECT", ""),
                         ("INFUSIONS NOT GIVEN", ""))),
    "DCSREAS": CodeList("Reason for Discontinuation from Study", "text",
                        (("DEATH", ""), ("WITHDRAWAL BY SUBJECT", ""), ("LOST TO FOLLOW-UP", ""))),
    "DTHDOM": CodeList("Domain of the Date of Death", "text",
                       (("AE", "Onset of an adverse event with a fatal outcome"), ("DS", "The outcome status form"))),
    "CNSR": CodeList("Censoring", "integer", (("0", "Event"), ("1", "Censored"))),
    "EVNTDESC": CodeList("Event Description", "text", (("Death", ""), ("Liver transplantation", ""))),
    "ADTTE.AVALU": CodeList("ADTTE Analysis Value Unit", "text", (("DAYS", ""),)),
    "ADLB.AVALU": CodeList("ADLB Analysis Value Unit", "text", tuple((u, "") for u in _ADLB_UNITS)),
    "ADEX.AVALU": CodeList("ADEX Analysis Value Unit", "text", (("mL", ""),)),
    "TOXGR": CodeList("CTCAE v5.0 Lab Grade", "text", tuple((g, _GRADES[g]) for g in "01234")),
    "AETOXGR": CodeList("CTCAE v5.0 Grade", "text", tuple((g, _GRADES[g]) for g in "12345")),
    "AEREL": CodeList("Relationship to the Study Product", "text",
                      tuple((t, v.capitalize()) for v, t in adam.AE_RELATIONSHIPS.items())),
    "AEOUT": CodeList("Outcome of Adverse Event", "text", tuple((t, "") for t in adam.AE_OUTCOMES.values())),
    "AEACN": CodeList("Action Taken with Study Treatment", "text", tuple((t, "") for t in adam.AE_ACTIONS.values())),
    "EXDOSU": CodeList("Dose Unit", "text", (("PARTICLES", "EV particles"),)),
}  # fmt: skip

#: Codelists built at run time: the datasets' parameters and the protocol's arms.
DYNAMIC_CODELISTS = ("ADTTE.PARAMCD", "ADTTE.PARAM", "ADLB.PARAMCD", "ADLB.PARAM", "ADEX.PARAMCD", "ADEX.PARAM",
                     "ARMCD", "ACTARMCD")  # fmt: skip


# --- variables shared by every dataset --------------------------------------------------------

_DAY0 = "(day 0 = the randomization date, so the day before is -1)"
_COMMON = {
    "STUDYID": _v("Study Identifier", "text", "Assigned", f"Always {STUDYID}, the trial's ClinicalTrials.gov number.",
                  length=len(STUDYID)),
    "USUBJID": _v("Unique Subject Identifier", "text", "Derived", "STUDYID and SUBJID joined by a hyphen.", length=40),
    "SUBJID": _v("Subject Identifier for the Study", "text", "Assigned", "The identifier hepatrial gave the subject at enrolment.",
                 source="hepatrial subject record", length=20),
}  # fmt: skip
_TRTP = _v("Planned Treatment", "text", "Predecessor", source="ADSL.TRT01P", length=40)
_TRTA = _v("Actual Treatment", "text", "Predecessor", source="ADSL.TRT01A", length=40)
_AVISIT = _v("Analysis Visit", "text", "Assigned",
             "Label of the protocol visit the form was entered at (the visit id for a form outside the schedule).",
             source="hepatrial form entry: visit", length=60)  # fmt: skip
_AVISITN = _v("Analysis Visit (N)", "float", "Assigned",
              "The visit's protocol day; -1 for screening, 1000 + the entry's sequence for a form outside the schedule.")
_PARAMN = _v("Parameter (N)", "integer", "Assigned", "Order of the parameter in the dataset (1, 2, ...).")


def _param(dataset: str, what: str) -> Variable:
    if what == "PARAMCD":
        return _v("Parameter Code", "text", "Assigned", codelist=f"{dataset}.PARAMCD", length=8)
    return _v("Parameter", "text", "Assigned", codelist=f"{dataset}.PARAM", length=200)


# --- ADSL --------------------------------------------------------------------------------------

_ADSL = {
    **_COMMON,
    "SITEID": _v("Study Site Identifier", "text", "Assigned", "The code of the subject's site in hepatrial.",
                 source="hepatrial site", length=20),
    "AGE": _v("Age", "integer", "CRF", "Age in years as recorded at screening.", source="Screening: age"),
    "AGEU": _v("Age Units", "text", "Assigned", "YEARS whenever AGE is present.", codelist="AGEU"),
    "SEX": _v("Sex", "text", "CRF", "Screening sex: male M, female F, anything else or missing U.", source="Screening: sex",
              codelist="SEX"),
    "STRAT1R": _v("Randomization Stratum: Presentation", "text", "CRF",
                  "The presentation (ACLF or ALF) the candidate was screened and randomized under.",
                  source="Screening candidate: presentation", codelist="STRAT1R"),
    "ARM": _v("Description of Planned Arm", "text", "Assigned",
              "Label of the arm allocated at randomization; 'Not Assigned' if never randomized.", length=40),
    "ARMCD": _v("Planned Arm Code", "text", "Assigned",
                "The allocated arm's id in upper case; NOTASSGN if never randomized.", length=20, codelist="ARMCD"),
    "ACTARM": _v("Description of Actual Arm", "text", "Derived",
                 "The arm whose product was infused (most infusions; normally ARM) if at least one infusion was given; "
                 "'Not Treated' if randomized but never dosed; 'Not Assigned' if never randomized.",
                 length=40),
    "ACTARMCD": _v("Actual Arm Code", "text", "Derived",
                   "The code of ACTARM's arm if at least one infusion was given; NOTTRT if randomized but never dosed; "
                   "NOTASSGN if never randomized.",
                   length=20, codelist="ACTARMCD"),
    "TRT01P": _v("Planned Treatment for Period 01", "text", "Assigned",
                 "Label of the allocated arm; null if never randomized.", length=40),
    "TRT01A": _v("Actual Treatment for Period 01", "text", "Derived",
                 "Label of the arm whose product was infused (the dosing form's product; most infusions) if at least one "
                 "infusion was given, else null.", length=40),
    "RANDFL": _v("Randomized Population Flag", "text", "Derived", "Y if the subject was allocated an arm, else N.",
                 codelist="NY"),
    "RANDDT": _v("Date of Randomization", "date", "Derived",
                 "The subject's day-0 anchor date when an arm was allocated; null if never randomized."),
    "TRTSDT": _v("Date of First Exposure to Treatment", "date", "Derived",
                 "Earliest start date, in the site's time zone, of the infusions the dosing form records as given."),
    "TRTEDT": _v("Date of Last Exposure to Treatment", "date", "Derived",
                 "Latest start date, in the site's time zone, of the infusions the dosing form records as given."),
    "TRTDURD": _v("Total Treatment Duration (Days)", "integer", "Derived",
                  "TRTEDT - TRTSDT + 1; null if no infusion was given."),
    "NDOSE": _v("Number of Infusions Given", "integer", "Derived",
                "Number of dosing forms recording the infusion as given, with a start date and time."),
    "NDOSEPL": _v("Number of Infusions Planned", "integer", "Protocol",
                  "Number of dosing visits in the protocol's schedule; null if never randomized.",
                  source="Protocol: visits with a dose"),
    "ITTFL": _v("Intent-To-Treat Population Flag", "text", "Derived",
                "Y if randomized (analysed as randomized), else N.", codelist="NY"),
    "SAFFL": _v("Safety Population Flag", "text", "Derived",
                "Y if randomized and given at least one infusion (analysed as treated), else N.", codelist="NY"),
    "PPROTFL": _v("Per-Protocol Population Flag", "text", "Derived",
                  "Y if randomized, every planned infusion was given (NDOSE >= NDOSEPL) and no major protocol deviation "
                  "(eligibility, consent, dose window, missed dose) was recorded, else N.", codelist="NY"),
    "BMELD": _v("Baseline MELD Score", "integer", "Derived",
                "OPTN MELD of the last lab panel with bilirubin, creatinine and INR sampled on or before the "
                "randomization date (ties: the higher visit number), with the screening dialysis answer."),
    "BBILI": _v("Baseline Total Bilirubin (umol/L)", "float", "Derived",
                "The last total bilirubin sampled on or before the randomization date (ties: the higher visit number)."),
    "BINR": _v("Baseline INR", "float", "Derived",
               "The last INR sampled on or before the randomization date (ties: the higher visit number)."),
    "EOTSTT": _v("End of Treatment Status", "text", "Derived",
                 "COMPLETED if every planned infusion was given; else DISCONTINUED once death, liver transplantation, "
                 "withdrawal of consent or the close of the last dosing window (before the data cut-off) stopped dosing; "
                 "else ONGOING (null if never randomized).",
                 codelist="STATUS"),
    "DCTREAS": _v("Reason for Discontinuation of Treatment", "text", "Derived",
                  "The earliest of death, liver transplantation, withdrawal of consent and the close of the last dosing "
                  "window with an infusion missing, when EOTSTT is DISCONTINUED; else null.", codelist="DCTREAS"),
    "EOSSTT": _v("End of Study Status", "text", "Derived",
                 "DISCONTINUED at death or withdrawal of consent to further data; COMPLETED if known alive within the last "
                 "scheduled visit's window or later; DISCONTINUED (lost to follow-up) if that window closed before the "
                 "cut-off with no news; else ONGOING (null if never randomized).", codelist="STATUS"),
    "DCSREAS": _v("Reason for Discontinuation from Study", "text", "Derived",
                  "Death, withdrawal of consent to further data, or lost to follow-up, when EOSSTT is DISCONTINUED; else null.",
                  codelist="DCSREAS"),
    "EOSDT": _v("End of Study Date", "date", "Derived",
                "Date of death, of withdrawal of consent to further data, or the date last known alive (completed or "
                "lost to follow-up); null while ongoing."),
    "DTHFL": _v("Subject Death Flag", "text", "Derived", "Y if a date of death is known (DTHDT), else null.",
                codelist="Y_BLANK"),
    "DTHDT": _v("Date of Death", "date", "Derived",
                "The outcome form's date of death (the earliest if forms disagree); without one, the earliest onset of "
                "an adverse event with a fatal outcome (an earliest bound)."),
    "DTHADY": _v("Relative Day of Death", "integer", "Derived", f"DTHDT - RANDDT in days {_DAY0}."),
    "DTHCAUS": _v("Cause of Death", "text", "Derived",
                  "The outcome form's cause of death, else the CTCAE term of the fatal adverse event; null if alive.",
                  length=200),
    "DTHDOM": _v("Domain for Date of Death Collection", "text", "Derived",
                 "DS when DTHDT comes from the outcome form, AE when from a fatal adverse event's onset; null if alive.",
                 codelist="DTHDOM"),
    "TRANSDT": _v("Date of Liver Transplantation", "date", "Derived",
                  "The earliest transplant date on outcome forms whose status is transplanted or died."),
    "LSTALVDT": _v("Date Last Known Alive", "date", "Derived",
                   "The latest visit date (log entries such as an AE's and outcome forms excluded), outcome-form status date "
                   "of an 'alive' or 'transplanted' subject, or transplant date; the randomization date if there is none."),
    "DCUTDT": _v("Date of Data Cut", "date", "Assigned",
                 "The data cut-off the disposition is judged at: the day of the export (UTC)."),
}  # fmt: skip

# --- ADTTE -------------------------------------------------------------------------------------

_ADTTE = {
    **_COMMON,
    "TRTP": _TRTP,
    "TRT01P": _v("Planned Treatment for Period 01", "text", "Predecessor", source="ADSL.TRT01P", length=40),
    "STRAT1R": _v("Randomization Stratum: Presentation", "text", "Predecessor", source="ADSL.STRAT1R", codelist="STRAT1R"),
    "PARAMCD": _param("ADTTE", "PARAMCD"),
    "PARAM": _param("ADTTE", "PARAM"),
    "PARAMN": _PARAMN,
    "STARTDT": _v("Time-to-Event Origin Date for Subject", "date", "Predecessor", source="ADSL.RANDDT"),
    "ADT": _v("Analysis Date", "date", "Derived",
              "Date of the first event (death; for TFS also liver transplantation) if within the horizon, else the "
              "date last known alive (or of an event after the horizon) capped at STARTDT + the horizon."),
    "AVAL": _v("Analysis Value", "integer", "Derived", "ADT - STARTDT in days."),
    "AVALU": _v("Analysis Value Unit", "text", "Assigned", codelist="ADTTE.AVALU"),
    "CNSR": _v("Censor", "integer", "Derived", "0 if the event happened within the horizon, 1 if censored.",
               codelist="CNSR"),
    "EVNTDESC": _v("Event or Censoring Description", "text", "Derived",
                   "The event (Death or Liver transplantation) when CNSR is 0; null when censored.", codelist="EVNTDESC"),
    "CNSRDESC": _v("Censoring Description", "text", "Derived",
                   "'Event-free at day n' when followed to the horizon n, 'Last known alive' when censored earlier; "
                   "null for an event.", length=40),
}  # fmt: skip

# --- ADLB --------------------------------------------------------------------------------------

_BASELINE_RULE = "the last value sampled on or before the randomization date (ties: the higher visit number)"
_ADLB = {
    **_COMMON,
    "TRTP": _TRTP,
    "PARAMCD": _param("ADLB", "PARAMCD"),
    "PARAM": _param("ADLB", "PARAM"),
    "PARAMN": _PARAMN,
    "AVISIT": _AVISIT,
    "AVISITN": _AVISITN,
    "ADT": _v("Analysis Date", "date", "Derived",
              "Date of the lab panel's sample date and time in the site's time zone, else the visit date."),
    "ADY": _v("Analysis Relative Day", "integer", "Derived", f"ADT - the randomization date in days {_DAY0}."),
    "AVAL": _v("Analysis Value", "float", "Derived",
               "The lab value in hepatrial's canonical unit (AVALU); for MELD the OPTN MELD of the panel's bilirubin, "
               "creatinine and INR with the screening dialysis answer."),
    "AVALU": _v("Analysis Value Unit", "text", "Assigned", "The test's canonical unit; null for MELD.",
                codelist="ADLB.AVALU"),
    "BASE": _v("Baseline Value", "float", "Derived", f"AVAL of the baseline record: {_BASELINE_RULE}."),
    "CHG": _v("Change from Baseline", "float", "Derived",
              "AVAL - BASE on records sampled after the baseline sample; null otherwise."),
    "PCHG": _v("Percent Change from Baseline", "float", "Derived",
               "100 x (AVAL - BASE) / BASE on records sampled after the baseline sample, if BASE is not 0; null otherwise."),
    "ABLFL": _v("Baseline Record Flag", "text", "Derived", f"Y on the baseline record ({_BASELINE_RULE}), else null.",
                codelist="Y_BLANK"),
    "ANL01FL": _v("Analysis Flag 01", "text", "Derived",
                  "Y on the record analysed for its visit: the first sample (by date) of each subject, parameter and "
                  "AVISITN; else null.", codelist="Y_BLANK"),
    "ANRLO": _v("Analysis Normal Range Lower Limit", "float", "Assigned",
                "The site's lower limit of normal for the test and the subject's sex (the site's any-sex range as fallback).",
                source="hepatrial site reference ranges"),
    "ANRHI": _v("Analysis Normal Range Upper Limit", "float", "Assigned",
                "The site's upper limit of normal for the test and the subject's sex (the site's any-sex range as fallback).",
                source="hepatrial site reference ranges"),
    "ATOXGR": _v("Analysis Toxicity Grade", "text", "Derived",
                 "The worst CTCAE v5.0 grade over the test's lab terms, from the site's range and BASE; null if not gradable.",
                 codelist="TOXGR"),
    "BTOXGR": _v("Baseline Toxicity Grade", "text", "Derived",
                 "The worst CTCAE v5.0 grade of BASE (graded with no baseline of its own); null if not gradable.",
                 codelist="TOXGR"),
    "ATOXDSCH": _v("CTCAE Term of the Worst Grade", "text", "Derived",
                   "The CTCAE v5.0 term that gave ATOXGR, whichever its direction (e.g. Platelet count decreased).",
                   length=100),
    "ATOXGRL": _v("Analysis Toxicity Grade Low", "text", "Derived",
                  "The worst CTCAE v5.0 grade over the test's terms graded below a limit (decreases); null if none.",
                  codelist="TOXGR"),
    "ATOXGRH": _v("Analysis Toxicity Grade High", "text", "Derived",
                  "The worst CTCAE v5.0 grade over the test's terms graded above a limit (increases); null if none.",
                  codelist="TOXGR"),
    "BTOXGRL": _v("Baseline Toxicity Grade Low", "text", "Derived", "ATOXGRL of the baseline value; null if none.",
                  codelist="TOXGR"),
    "BTOXGRH": _v("Baseline Toxicity Grade High", "text", "Derived", "ATOXGRH of the baseline value; null if none.",
                  codelist="TOXGR"),
}  # fmt: skip

# --- ADAE --------------------------------------------------------------------------------------

_ASTDY = _v("Analysis Start Relative Day", "integer", "Derived", f"ASTDT - the randomization date in days {_DAY0}.")
_ADAE = {
    **_COMMON,
    "TRTA": _TRTA,
    "AESEQ": _v("Sequence Number", "integer", "Assigned", "The adverse event entry's sequence number within the subject.",
                source="Adverse event form: entry sequence"),
    "AEDECOD": _v("Dictionary-Derived Term", "text", "CRF", "The CTCAE v5.0 term chosen on the form.",
                  source="Adverse event form: term", length=200),
    "AEBODSYS": _v("Body System or Organ Class", "text", "Derived",
                   "The CTCAE v5.0 system organ class of AEDECOD; null if the term is not a CTCAE v5.0 term.", length=200),
    "AETOXGR": _v("Standard Toxicity Grade", "text", "CRF", "CTCAE v5.0 grade.", source="Adverse event form: grade",
                  codelist="AETOXGR"),
    "AESER": _v("Serious Event", "text", "CRF", "Serious per ICH E2A; null if not answered.",
                source="Adverse event form: serious", codelist="NY"),
    "AEREL": _v("Causality", "text", "CRF", "The investigator's relationship to the study product, as a sponsor-defined term (adam.AE_RELATIONSHIPS).",
                source="Adverse event form: relationship", codelist="AEREL"),
    "ASTDT": _v("Analysis Start Date", "date", "CRF", "The onset date as recorded (no imputation).",
                source="Adverse event form: onset_date"),
    "ASTDY": _ASTDY,
    "AENDT": _v("Analysis End Date", "date", "CRF", "The resolution date as recorded (no imputation).",
                source="Adverse event form: resolution_date"),
    "AEOUT": _v("Outcome of Adverse Event", "text", "CRF", "The form's outcome as a CDISC OUT term (adam.AE_OUTCOMES).",
                source="Adverse event form: outcome", codelist="AEOUT"),
    "AEACN": _v("Action Taken with Study Treatment", "text", "CRF", "The form's action taken as a CDISC ACN term; DOSE NOT GIVEN extends it (adam.AE_ACTIONS).",
                source="Adverse event form: action_taken", codelist="AEACN"),
    "TRTEMFL": _v("Treatment Emergent Analysis Flag", "text", "Derived",
                  "Y if the subject received an infusion and the onset is on or after the first infusion's date (or is "
                  "missing); else null.", codelist="Y_BLANK"),
    "IRR24FL": _v("Infusion Reaction Within 24 Hours Flag", "text", "Derived",
                  "Y if the term is an infusion-reaction term or the event is related to the study product (possible, "
                  "probable, definite) and its onset is the day of an infusion or the next day; else null.",
                  codelist="Y_BLANK"),
}  # fmt: skip

# --- ADEX --------------------------------------------------------------------------------------

_ADEX = {
    **_COMMON,
    "TRTP": _TRTP,
    "TRTA": _v("Actual Treatment", "text", "Assigned",
               "ADSL.TRT01A: the arm whose product the subject was infused with.", length=40),
    "ASEQ": _v("Analysis Sequence Number", "integer", "Derived",
               "Order of the infusion within the subject by start date and time, then visit day."),
    "PARAMCD": _param("ADEX", "PARAMCD"),
    "PARAM": _param("ADEX", "PARAM"),
    "AVISIT": _AVISIT,
    "AVISITN": _AVISITN,
    "ASTDTM": _v("Analysis Start Date/Time", "datetime", "CRF", "Infusion start in the site's local time, to the minute.",
                 source="Dosing form: start_datetime"),
    "AENDTM": _v("Analysis End Date/Time", "datetime", "CRF", "Infusion stop in the site's local time, to the minute.",
                 source="Dosing form: stop_datetime"),
    "ASTDT": _v("Analysis Start Date", "date", "Derived", "The date of ASTDTM."),
    "ASTDY": _ASTDY,
    "AVAL": _v("Analysis Value", "float", "CRF", "The volume infused (mL).", source="Dosing form: volume_ml"),
    "AVALU": _v("Analysis Value Unit", "text", "Assigned", codelist="ADEX.AVALU"),
    "EXDOSE": _v("Dose", "float", "CRF", "EV particles infused (the batch certificate's count); null if not recorded.",
                 source="Dosing form: particle_count"),
    "EXDOSU": _v("Dose Units", "text", "Assigned", "PARTICLES when EXDOSE is present.", codelist="EXDOSU"),
    "EXTRT": _v("Name of Treatment", "text", "CRF", "The product infused, in upper case (MSC_EV or SALINE).",
                source="Dosing form: product", length=20),
    "EXLOT": _v("Lot Number", "text", "CRF", source="Dosing form: lot_number", length=40),
    "INTRPFL": _v("Infusion Interrupted Flag", "text", "CRF", "Null if not answered.",
                  source="Dosing form: interrupted", codelist="NY"),
    "IRRFL": _v("Infusion Reaction Flag", "text", "CRF", "An infusion reaction recorded on the dosing form; null if not answered.",
                source="Dosing form: reaction", codelist="NY"),
}  # fmt: skip

_FILES = ("A CSV file (UTF-8, a header row of variable names, ISO 8601 dates) written by hepatrial; relative days "
          "count the randomization date as day 0.")
DATASET_SPECS: dict[str, DatasetSpec] = {
    "ADSL": DatasetSpec("Subject-Level Analysis Dataset", ADSL_CLASS, "One record per subject", ("STUDYID", "USUBJID"),
                        f"Every enrolled subject, randomized or not. {_FILES}", _ADSL),
    "ADTTE": DatasetSpec("Time-to-Event Analysis Dataset", BDS_CLASS, "One record per subject per parameter",
                         ("STUDYID", "USUBJID", "PARAMCD"),
                         f"Randomized subjects only; transplant-free and overall survival to each protocol horizon. {_FILES}",
                         _ADTTE),
    "ADLB": DatasetSpec("Laboratory Analysis Dataset", BDS_CLASS, "One record per subject per parameter per lab sample",
                        ("STUDYID", "USUBJID", "PARAMCD", "ADT", "AVISITN"),
                        f"Every lab panel value of enrolled subjects, plus MELD per complete panel. {_FILES}", _ADLB),
    "ADAE": DatasetSpec("Adverse Events Analysis Dataset", OCCDS_CLASS, "One record per subject per adverse event",
                        ("STUDYID", "USUBJID", "AESEQ"), f"Every graded adverse event entry. {_FILES}", _ADAE),
    "ADEX": DatasetSpec("Exposure Analysis Dataset", BDS_CLASS, "One record per subject per infusion given",
                        ("STUDYID", "USUBJID", "ASEQ"), f"Every dosing form recording the infusion as given. {_FILES}", _ADEX),
}  # fmt: skip


# --- look-ups ----------------------------------------------------------------------------------


def dataset_spec(name: str) -> DatasetSpec:
    """The metadata of dataset ``name`` (any case); MetadataError if there is none."""
    try:
        return DATASET_SPECS[name.upper()]
    except KeyError:
        raise MetadataError(f"no ADaM metadata for dataset {name.upper()} (known: {', '.join(DATASET_SPECS)})") from None


def variable(dataset: str, column: str) -> Variable:
    """The metadata of ``dataset``'s ``column``; MetadataError naming both if there is none."""
    spec = dataset_spec(dataset)
    try:
        return spec.variables[column]
    except KeyError:
        raise MetadataError(f"no ADaM metadata for {dataset.upper()}.{column}: add it to hepatrial.core.export.adam_spec "
                            "before exporting the column") from None  # fmt: skip


def missing_metadata(datasets: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(dataset, column) of every column without metadata (a dataset without any: column "*")."""
    out = []
    for name, columns in datasets.items():
        spec = DATASET_SPECS.get(name.upper())
        out += [(name.upper(), "*")] if spec is None else [(name.upper(), c) for c in columns if c not in spec.variables]
    return out


def unused_metadata(datasets: dict[str, list[str]]) -> dict[str, list[str]]:
    """Dataset -> the variables described here that its column list lacks (every variable
    of a dataset not given); datasets with none are left out."""
    given = {name.upper(): set(columns) for name, columns in datasets.items()}
    out = {}
    for name, spec in DATASET_SPECS.items():
        extra = [v for v in spec.variables if v not in given.get(name, set())]
        if extra:
            out[name] = extra
    return out


def tte_params(horizons: tuple[int, ...] | list[int] = DEFAULT_HORIZONS) -> list[tuple[str, str]]:
    """ADTTE's (PARAMCD, PARAM) in adam.adtte's order: TFSn then OSn for each horizon n."""
    out = []
    for h in horizons:
        out += [(f"TFS{h}", f"Transplant-free survival to day {h}"), (f"OS{h}", f"Overall survival to day {h}")]
    return out


def param_values(horizons: tuple[int, ...] | list[int] = DEFAULT_HORIZONS) -> dict[str, list[tuple[str, str]]]:
    """Dataset -> its (PARAMCD, PARAM) pairs: ADTTE from the survival horizons, ADLB from
    adam.LAB_PARAMS and MELD, ADEX its one parameter."""
    return {"ADTTE": tte_params(horizons), "ADLB": [*LAB_PARAMS.values(), MELD_PARAM], "ADEX": [EXPOSURE_PARAM]}


def arm_codelists(arms: list[tuple[str, str]]) -> dict[str, CodeList]:
    """ARMCD and ACTARMCD codelists from the protocol's arms ((id, label) pairs), with the
    SDTMIG codes for the unassigned and the untreated (as adam.adsl writes them)."""
    planned = tuple((arm_id.upper(), label) for arm_id, label in arms) + (("NOTASSGN", "Not Assigned"),)
    return {"ARMCD": CodeList("Planned Arm Code", "text", planned),
            "ACTARMCD": CodeList("Actual Arm Code", "text", planned + (("NOTTRT", "Not Treated"),))}  # fmt: skip
