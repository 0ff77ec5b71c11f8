"""The report on awkward data: one arm, no events, an arm without events, a
record without an arm, any PARAMCD spelling, no ADAE. It never crashes, and it
says what it cannot estimate instead of printing meaningless numbers."""

from __future__ import annotations

import io

import pytest

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


def test_log_axis_ticks_are_round_numbers():
    from hepatrial.core.report.figures import log_ticks

    assert log_ticks(17.0, 900.0) == [20.0, 50.0, 100.0, 200.0, 500.0]
    assert log_ticks(0.8, 40.0) == [1.0, 2.0, 5.0, 10.0, 20.0]
    assert log_ticks(1.1, 4.0) == [1.5, 2.0, 3.0]  # 1-2-5 gives only 2: the finer 1-1.5-2-3-5-7 series
    assert log_ticks(1.9, 2.6) == [2.0, 2.2, 2.4, 2.6]  # narrower still: evenly stepped
    with pytest.raises(ValueError, match="0 < lo < hi"):
        log_ticks(0.0, 1.0)


def test_linear_axis_ticks_are_round_numbers():
    from hepatrial.core.report.figures import linear_ticks

    assert linear_ticks(5.3, 36.2) == [10.0, 20.0, 30.0]
    assert linear_ticks(-1.7, 2.2) == [-1.0, 0.0, 1.0, 2.0]
    assert linear_ticks(0.0, 1.0) == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("filler", range(20, 40, 3))
def test_a_pdf_heading_stays_with_its_figure(filler):
    """Whatever the height of what comes before it, a heading is on the page of the figure it names."""
    from pypdf import PdfReader

    from hepatrial.core.report.figures import trajectory_svg
    from hepatrial.core.report.html import Report, Section, figure_block, heading, note
    from hepatrial.core.report.pdf import render_pdf

    svg = trajectory_svg({A: {"s1": [(0, 20.0), (7, 22.0)], "s2": [(0, 25.0), (7, 24.0)]}}, "MELD", "points")
    blocks = [note(f"Filler line {i}.") for i in range(filler)] + [heading("ZZ heading of the figure"), figure_block(svg, "caption")]
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(Report("t", "s", "g", [], [Section("One", blocks)])))).pages]
    [page] = [p for p in pages if "ZZ heading of the figure" in p]
    assert "Study day" in page  # the figure's axis title


def test_one_arm_has_no_change_from_baseline_comparison_and_says_why():
    rows = adsl(arms=(A,))
    report, numbers = build_report(title="t", protocol_id="P", arms=[A], adsl=rows, adtte=adtte(rows), adlb=[], adae=None,
                                   screenings=[], generated="now", at_days=[28.0], change_days=[7.0])  # fmt: skip
    assert numbers["change_from_baseline"] == {} and "the comparison is between two arms, and the report has 1" in render(report)
