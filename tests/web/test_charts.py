"""The lab trajectory plots (hepatrial.web.trial.charts): pure SVG, no database.

The grade bands are checked against CTCAE v5.0 (docs/ctcae.md; NCI CTCAE v5.0
"Blood bilirubin increased": > ULN, > 1.5, > 3.0, > 10.0 x ULN if baseline was
normal; x baseline if baseline was abnormal) and against grade_term itself."""

from __future__ import annotations

import re

import pytest

from hepatrial.core.safety.ctcae import grade_term, terms_for_analyte
from hepatrial.web.trial.charts import (
    DEFAULT_RANGES,
    Dose,
    LabPoint,
    ReferenceRange,
    default_range,
    grade_bands,
    lab_chart,
)

BILIRUBIN_ULN = 17.1  # the protocol parameter bilirubin_uln


def thresholds(bands) -> list[float]:
    return [b.low for b in bands if b.grade not in (0, None)]


def test_bilirubin_bands_with_a_normal_baseline_are_multiples_of_the_uln():
    for baseline in (None, 10.0, 17.1):  # no baseline, normal, exactly the ULN (not above: normal)
        bands = grade_bands("total_bilirubin", uln=BILIRUBIN_ULN, baseline=baseline)
        assert [b.grade for b in bands] == [0, 1, 2, 3, 4]
        assert thresholds(bands) == pytest.approx([17.1, 25.65, 51.3, 171.0])
        assert bands[0].low == 0 and bands[-1].high is None
        assert bands[2].rule == "> 1.5 x ULN 17.1 umol/L = 25.65 umol/L"


def test_bilirubin_bands_with_an_abnormal_baseline_are_multiples_of_the_baseline():
    bands = grade_bands("total_bilirubin", uln=BILIRUBIN_ULN, baseline=250.0)
    assert [b.grade for b in bands] == [0, 1, 2, 3, 4]
    assert thresholds(bands) == pytest.approx([250.0, 375.0, 750.0, 2500.0])
    assert bands[1].rule == "> 1 x baseline 250 umol/L" and "= 750 umol/L" in bands[3].rule


def test_bilirubin_with_a_baseline_but_no_uln_has_no_bands():
    assert grade_bands("total_bilirubin", uln=None, baseline=250.0) == ()


def test_decreasing_terms_and_missing_references():
    platelets = grade_bands("platelets", lln=150.0)
    assert [b.grade for b in platelets] == [4, 3, 2, 1, 0]  # low values first
    assert [(b.low, b.high) for b in platelets] == [(0.0, 25.0), (25.0, 50.0), (50.0, 75.0), (75.0, 150.0), (150.0, None)]
    unknown = grade_bands("platelets")  # no LLN: above 75 it is grade 0 or 1, which cannot be told
    assert unknown[-1].grade is None and unknown[-1].low == 75.0
    creatinine = grade_bands("creatinine", uln=104.0, baseline=60.0)  # 1.5 x baseline 90 < ULN 104: grade 2 from 90
    assert [(b.grade, b.low) for b in creatinine] == [(0, 0.0), (2, 90.0), (3, 180.0), (4, 624.0)]
    assert [b.grade for b in grade_bands("inr")] == [0, 1, 2, 3]  # absolute; CTCAE has no INR grade 4


@pytest.mark.parametrize(("analyte", "refs"), [
    ("total_bilirubin", {"uln": 17.1}), ("total_bilirubin", {"uln": 17.1, "baseline": 250.0}),
    ("alt", {"uln": 41.0, "baseline": 120.0}), ("alt", {"uln": 41.0, "baseline": 30.0}),
    ("creatinine", {"uln": 104.0, "baseline": 90.0}), ("creatinine", {"uln": 104.0, "baseline": 50.0}),
    ("inr", {}), ("platelets", {"lln": 150.0}), ("albumin", {"lln": 35.0}),
])  # fmt: skip
def test_each_band_holds_the_grade_grade_term_gives(analyte, refs):
    """Every value inside a band (and on its edges) is graded as that band says."""
    term = terms_for_analyte(analyte)[0].term
    bands = grade_bands(analyte, **refs)
    for band in bands:
        high = band.high if band.high is not None else (band.low or 1.0) * 3
        for value in (band.low + (high - band.low) * f for f in (0.001, 0.25, 0.5, 0.75, 0.999)):
            assert grade_term(term, value, **refs).grade == band.grade, (band, value)


def test_default_ranges_cite_a_source_and_depend_on_sex():
    assert all(r.source for r in DEFAULT_RANGES.values())
    assert default_range("creatinine", "male").uln == 104.0 and default_range("creatinine", "female").uln == 84.0
    assert default_range("creatinine", None) is None  # no guess without the sex
    assert default_range("total_bilirubin", "female").uln == 17.1 and default_range("platelets", "male").lln == 150.0
    site = {("creatinine", "any"): ReferenceRange(50.0, 110.0, "site lab")}  # a per-site table, same shape
    assert default_range("creatinine", "female", site).uln == 110.0


def points(*values: float) -> list[LabPoint]:
    return [LabPoint(day=7.0 * i + 0.3, study_day=7 * i, value=v, when=f"day {7 * i}") for i, v in enumerate(values)]


def circles_y(svg: str) -> list[float]:
    return [float(y) for y in re.findall(r'<circle cx="[-0-9.]+" cy="([-0-9.]+)"', svg)]


def test_points_are_higher_the_higher_the_value():
    svg = lab_chart("total_bilirubin", points(100, 250, 400, 900, 150), reference_range=default_range("total_bilirubin", "male")).svg
    ys = circles_y(svg)
    order = sorted(range(5), key=lambda i: (100, 250, 400, 900, 150)[i])
    assert [ys[i] for i in order] == sorted(ys, reverse=True)  # SVG y grows downwards
    assert len(set(ys)) == 5


def test_grades_baseline_and_worst():
    chart = lab_chart("total_bilirubin", [LabPoint(-1.7, -2, 230, "screening"), *points(250, 400, 300)],
                      reference_range=default_range("total_bilirubin", "male"))  # fmt: skip
    assert chart.baseline.point.value == 250 and chart.baseline.grade.grade == 4  # graded as without a baseline
    assert [g.grade.grade for g in chart.points] == [4, 4, 2, 1]  # after it: x baseline (abnormal)
    assert chart.worst.point.study_day == 7 and chart.worst.grade.grade == 2
    assert "umol/L" in chart.svg and "Study day" in chart.svg and "grade 2: Total bilirubin 400 umol/L" in chart.svg


def test_text_is_escaped():
    hostile = '<script>alert("x")</script> & \'co\''
    chart = lab_chart("inr", [LabPoint(0.3, 0, 2.0, hostile)], reference_range=None,
                      doses=[Dose(0.4, hostile)], title=hostile)  # fmt: skip
    assert "<script>" not in chart.svg and hostile not in chart.svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;co&#x27;" in chart.svg


def test_the_output_is_deterministic():
    data = points(250, 400, 300)
    doses = [Dose(0.4, "dose 1"), Dose(7.4, "dose 2")]
    ref = default_range("total_bilirubin", "male")
    first = lab_chart("total_bilirubin", data, reference_range=ref, doses=doses).svg
    again = lab_chart("total_bilirubin", list(reversed(data)), reference_range=ref, doses=list(reversed(doses))).svg
    assert first == again and first.startswith("<svg") and first.endswith("</svg>")
    assert not re.search(r'"-0\.0"|\d[eE][-+]?\d', first)  # plain coordinates: no "-0.0", no exponents


def test_no_value_no_svg_and_one_value_a_dot():
    assert lab_chart("platelets", [], reference_range=default_range("platelets", "male")).svg == ""
    one = lab_chart("platelets", points(85), reference_range=default_range("platelets", "male")).svg
    assert one.count("<circle") == 1 and "<polyline" not in one
    assert 'width="640"' in one and 'role="img"' in one


# --- the safety dashboard's charts ------------------------------------------------------------

def test_ae_grade_bars_stack_each_arms_grades():
    from hepatrial.web.trial.charts import ae_grade_bars

    svg = ae_grade_bars([("MSC-EV group", [0, 1, 2, 0, 0]), ("Non-MSC-EV <group>", [1, 0, 0, 0, 1])])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>MSC-EV group: 2 grade 3</title>" in svg and "<title>MSC-EV group: 1 grade 2</title>" in svg
    assert "grade 1</title>" not in svg.split("Non-MSC")[0]  # no empty segment for a zero count
    assert "Non-MSC-EV &lt;group&gt;" in svg and "<group>" not in svg  # escaped
    assert svg == ae_grade_bars([("MSC-EV group", [0, 1, 2, 0, 0]), ("Non-MSC-EV <group>", [1, 0, 0, 0, 1])])
    assert ae_grade_bars([]) == ""


def test_sae_timeline_places_events_by_study_day():
    import re

    from hepatrial.web.trial.charts import sae_timeline

    svg = sae_timeline([("SYSU3-001", 3, 3, "Infusion related reaction", "reported"),
                        ("SYSU3-001", 10, 4, "Sepsis", "overdue"), ("SYSU3-002", 0, 5, "Hepatic failure", "pending")])  # fmt: skip
    xs = {m.group(2): float(m.group(1)) for m in re.finditer(r'<circle cx="([\d.]+)"[^>]*><title>[^,]+, day (\d+):', svg)}
    assert xs["0"] < xs["3"] < xs["10"]
    assert "SYSU3-001, day 10: Sepsis, grade 4 (overdue)" in svg and 'stroke="#a11"' in svg
    assert sae_timeline([]) == ""
