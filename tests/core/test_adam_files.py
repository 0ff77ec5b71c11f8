"""The report from ADaM files checks every file first: a bad one is refused with the file,
line, column and value named (never a traceback, never a silent guess); a byte-order mark
and integers written 2.0 are read as what they are."""

from __future__ import annotations

import csv

import pytest

from hepatrial.core.protocol import load_protocol
from hepatrial.core.report.adam_files import AdamFileError, read_dataset, report_from_adam_files

ADSL = [{"STUDYID": "NCT05940610", "USUBJID": f"NCT05940610-S{i}", "SUBJID": f"S{i}", "TRT01P": arm, "TRT01A": arm,
         "RANDFL": "Y", "ITTFL": "Y", "SAFFL": "Y", "NDOSE": "4", "NDOSEPL": "4", "RANDDT": "2026-01-05",
         "EOSSTT": "ONGOING", "DCUTDT": "2026-03-01"}
        for i, arm in enumerate(["MSC-EV group", "Non-MSC-EV group"] * 3)]  # fmt: skip
ADTTE = [{"USUBJID": r["USUBJID"], "SUBJID": r["SUBJID"], "TRTP": r["TRT01P"], "PARAMCD": "OS84", "PARAM": "Overall survival",
          "AVAL": str(30 + i), "CNSR": str(i % 2)} for i, r in enumerate(ADSL)]  # fmt: skip


def write(folder, name, rows, encoding="utf-8", delimiter=","):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.csv", "w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def folder_with(tmp_path, adsl=ADSL, adtte=ADTTE, **kw):
    write(tmp_path, "adsl", adsl, **kw)
    write(tmp_path, "adtte", adtte)
    return tmp_path


@pytest.mark.parametrize(("name", "rows", "expected"), [
    ("adtte", [ADTTE[0] | {"AVAL": ""}], "adtte.csv line 2, column AVAL: empty, and it is needed"),
    ("adtte", [ADTTE[0] | {"CNSR": "N"}], "adtte.csv line 2, column CNSR: 'N' is not a whole number"),
    ("adsl", [ADSL[0] | {"RANDDT": "01/04/2026"}], "adsl.csv line 2, column RANDDT: '01/04/2026' is not an ISO 8601 date"),
    ("adsl", [{k: v for k, v in ADSL[0].items() if k != "USUBJID"}], "adsl.csv line 1: no column USUBJID"),
    ("adae", [{"USUBJID": "X", "AEDECOD": "Fever", "AETOXGR": "high"}], "adae.csv line 2, column AETOXGR: 'high' is not a whole number"),
])  # fmt: skip
def test_a_bad_file_is_refused_naming_where(tmp_path, name, rows, expected):
    folder = folder_with(tmp_path)
    write(folder, name, rows)
    with pytest.raises(AdamFileError) as err:
        report_from_adam_files(folder, "test")
    assert str(err.value).startswith(expected)


def test_semicolons_and_cut_rows_are_named(tmp_path):
    write(tmp_path / "a", "adsl", ADSL, delimiter=";")
    with pytest.raises(AdamFileError, match="separated by ';'"):
        read_dataset(tmp_path / "a", "adsl")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "adsl.csv").write_text("USUBJID,TRT01P,RANDFL\nS1,A,Y\nS2,B\n", encoding="utf-8")
    with pytest.raises(AdamFileError, match=r"adsl.csv line 3: 2 values for 3 columns"):
        read_dataset(tmp_path / "b", "adsl")


def test_a_byte_order_mark_and_grades_written_as_decimals_are_read(tmp_path):
    folder = folder_with(tmp_path, encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    write(folder, "adae", [{"USUBJID": ADSL[0]["USUBJID"], "AEDECOD": "Fever", "AEBODSYS": "General", "AETOXGR": "2.0",
                            "TRTEMFL": "Y", "AESER": "N", "ASTDY": "3"}])  # fmt: skip
    assert read_dataset(folder, "adsl")[0]["STUDYID"] == "NCT05940610"  # not "\ufeffSTUDYID"
    _html, numbers = report_from_adam_files(folder, "test", protocol=load_protocol())
    assert numbers["arms"] == ["MSC-EV group", "Non-MSC-EV group"] and "primary" in numbers  # the protocol's own study
    assert numbers["primary"]["ae_to_day_28"]["arms"][0]["subjects_with_event"] == 1


def test_another_studys_files_say_so(tmp_path):
    folder = folder_with(tmp_path, adsl=[r | {"STUDYID": "OTHER-1"} for r in ADSL])
    html, numbers = report_from_adam_files(folder, "test", protocol=load_protocol())
    assert "primary" not in numbers and "Study OTHER-1 is not the protocol&#x27;s (NCT05940610)" in html
