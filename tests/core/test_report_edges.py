"""The report on awkward data: one arm, no events, an arm without events, a
record without an arm, any PARAMCD spelling, no ADAE. It never crashes, and it
says what it cannot estimate instead of printing meaningless numbers."""

from __future__ import annotations

from hepatrial.core.report.build import build_report
from hepatrial.core.report.html import render

A, B = "MSC-EV group", "Non-MSC-EV group"


def adsl(n_per_arm=5, arms=(A, B)):
    return [{"USUBJID": f"S-{a[0]}{i}", "SUBJID": f"{a[0]}{i}", "TRT01P": a, "TRT01A": a, "RANDFL": "Y", "ITTFL": "Y",
             "SAFFL": "Y", "NDOSE": 4, "AGE": 50, "SEX": "M", "STRAT1R": "ACLF", "BMELD": 25, "BBILI": 250, "BINR": 2.0,
             "DTHFL": ""} for a in arms for i in range(n_per_arm)]  # fmt: skip


def adtte(rows_adsl, param="OS12W", events_in=(A, B)):
    return [{"USUBJID": r["USUBJID"], "SUBJID": r["SUBJID"], "TRTP": r["TRT01P"], "PARAMCD": param, "PARAM": "Overall survival",
             "AVAL": 10 + 7 * i, "CNSR": 0 if (r["TRT01P"] in events_in and i % 2 == 0) else 1}
            for i, r in enumerate(rows_adsl)]  # fmt: skip


def build(adsl_rows, adtte_rows, adae=None):
    report, numbers = build_report(title="t", protocol_id="P", arms=sorted({r["TRT01P"] for r in adsl_rows}), adsl=adsl_rows,
                                   adtte=adtte_rows, adlb=[], adae=adae, screenings=[], generated="now", at_days=[28.0],
                                   reference_arm=B)  # fmt: skip
    return render(report), numbers


def test_any_paramcd_spelling_and_the_hr_reads_experimental_vs_control():
    rows = adsl()
    html, numbers = build(rows, adtte(rows))
    assert "OS12W" in numbers["time_to_event"]
    [comparison] = numbers["time_to_event"]["OS12W"]["cox"]["comparisons"]
    assert comparison["label"] == f"{A} vs {B}"  # the control arm is the reference


def test_no_events_is_not_estimable():
    rows = adsl()
    html, _numbers = build(rows, adtte(rows, events_in=()))
    assert "not estimable (no events)" in html and "df -1" not in html


def test_an_arm_without_events_has_no_hazard_ratio():
    rows = adsl()
    html, _numbers = build(rows, adtte(rows, events_in=(A,)))
    assert "Cox hazard ratio: not estimable (an arm without events" in html
    assert "e-10" not in html  # no meaningless HR printed


def test_one_arm_and_a_record_without_an_arm():
    rows = adsl(arms=(A,))
    tte = adtte(rows) + [{"USUBJID": "S-X", "SUBJID": "X", "TRTP": "", "PARAMCD": "OS12W", "PARAM": "OS", "AVAL": 5, "CNSR": 0}]
    html, numbers = build(rows, tte)
    assert "1 record(s) without an ITT subject and arm left out." in html
    assert "no comparison" in html and "OS12W" not in numbers["time_to_event"]


def test_without_adae_the_report_says_so():
    rows = adsl()
    html, numbers = build(rows, adtte(rows), adae=None)
    assert "ADAE was not provided" in html and "grade3_incidence" not in numbers


def test_the_pdf_survives_non_latin_text():
    from hepatrial.core.report.build import build_report as build_
    from hepatrial.core.report.pdf import render_pdf

    rows = adsl(arms=("MSC-EV 组", "对照组"))
    report, _numbers = build_(title="肝衰竭 trial", protocol_id="P", arms=["MSC-EV 组", "对照组"], adsl=rows, adtte=adtte(rows, events_in=("MSC-EV 组", "对照组")),
                              adlb=[], adae=[], screenings=[], generated="now", at_days=[28.0])  # fmt: skip
    assert render_pdf(report).startswith(b"%PDF")
