"""The report replayed on the Mayo Clinic PBC trial (312 randomized): its
survival numbers are R's (tests/data/r/pbc_survival.json, from R's survival
package run on the same data: see tests/core/test_survival_vs_r.py for the R code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pbc_adam import pbc_adam

from hepatrial.core.report.adam_files import report_from_adam_files

R = json.loads((Path(__file__).parents[1] / "data" / "r" / "pbc_survival.json").read_text(encoding="utf-8"))


def test_the_pbc_replay_report_has_rs_numbers(tmp_path):
    html, numbers = report_from_adam_files(pbc_adam(tmp_path / "pbc"), "test")
    assert numbers["consort"]["randomized"] == 312
    os_ = numbers["time_to_event"]["OS"]
    assert os_["logrank"]["chisq"] == pytest.approx(R["logrank"]["chisq"], rel=1e-6)
    assert os_["logrank"]["p"] == pytest.approx(R["logrank"]["p"], rel=1e-6)
    [comparison] = os_["cox"]["comparisons"]
    assert comparison["label"] == "Placebo vs D-penicillamine"
    assert comparison["coef"] == pytest.approx(R["cox_trt_efron"]["coef"][0], rel=1e-6)
    assert [a["events"] for a in os_["arms"]] == R["logrank"]["observed"]
    assert "Kaplan-Meier" in html and "Total bilirubin" in html and "Number at risk" in html
    assert "Summary of hazard ratios" in html and "D-penicillamine: 65/158, Placebo: 60/154" in html
    # survival at 1, 2, 5 and 10 years for a long follow-up, as percentages (R: D-pen S(1 y) = 0.9430 -> 94.3%)
    assert "Year 1 (95% CI)" in html and "94.3% (90.8%-98.0%)" in html
    at_1y = R["km"]["1"]["at"]  # R: summary(fit, times = 365.25 * c(1, 2, 5, 10)) for D-penicillamine
    assert os_["arms"][0]["survival_at"][0]["survival"] == pytest.approx(at_1y["survival"][0], rel=1e-9)
    # the mixed model of log bilirubin by year and arm (the method equals nlme::lme: tests/core/test_mixed_vs_r.py)
    model = numbers["mixed_models"]["BILI"]
    assert model["model"]["n_groups"] == 312 and len(model["rows"]) >= 20


def test_the_median_follow_up_is_rs_reverse_kaplan_meier(tmp_path):
    """Median follow-up by the reverse Kaplan-Meier method, equal to R (4.2.2, survival 3.5-3, run here):

        library(survival)
        d <- pbc[!is.na(pbc$trt), ]
        summary(survfit(Surv(time, status != 2) ~ trt, data = d))$table[, c("median", "0.95LCL", "0.95UCL")]
        #       median 0.95LCL 0.95UCL
        # trt=1   2527    2332    2944
        # trt=2   2468    2221    2721

    (censoring is the event; deaths are censored; a transplant ends follow-up, as ADTTE OS censors it)."""
    _html, numbers = report_from_adam_files(pbc_adam(tmp_path / "pbc"), "test")
    follow = numbers["follow_up"]["median_follow_up_days"]
    assert [follow["D-penicillamine"][k] for k in ("estimate", "lower", "upper")] == [2527, 2332, 2944]
    assert [follow["Placebo"][k] for k in ("estimate", "lower", "upper")] == [2468, 2221, 2721]


def test_the_pbc_replay_as_pdf_has_the_same_numbers(tmp_path):
    import io

    from pypdf import PdfReader

    html, numbers, pdf = report_from_adam_files(pbc_adam(tmp_path / "pbc"), "test", pdf=True)
    assert pdf.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Log-rank chi-square 0.102, df 1, p 0.750." in text and "Log-rank chi-square 0.102, df 1, p 0.750." in html
    assert "Placebo vs D-penicillamine: 0.94 (95% CI 0.66-1.34)" in text
    assert "Number at risk" in text and "Participant flow (CONSORT 2010)" in text
