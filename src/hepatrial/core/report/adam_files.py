"""The report from ADaM CSV files (ADSL, ADTTE, ADLB, ADAE, ADEX in one folder), without
a database: no screening log, so the CONSORT flow starts at enrolment. Files of the
given protocol's trial (ADSL STUDYID = its id: hepatrial's own export) are analysed
with its settings (core.report.settings); any other trial's (e.g. the PBC replay) with
generic ones, and the report says so.

Every file is checked before anything is computed: a bad one gives an error naming the
file, the line, the column and the value (:class:`AdamFileError`), never a traceback."""

from __future__ import annotations

import csv
import math
from datetime import date, datetime, timezone
from pathlib import Path

from hepatrial.core.protocol import Protocol
from hepatrial.core.report.build import build_report
from hepatrial.core.report.html import render
from hepatrial.core.report.pdf import render_pdf
from hepatrial.core.report.settings import (
    SIMULATED_FILE,
    mark_simulated,
    report_settings,
)


class AdamFileError(ValueError):
    """A bad ADaM file, naming where: file, line (1 = the header) and column."""

    def __init__(self, file: str, problem: str, line: int | None = None, column: str | None = None):
        self.file, self.problem, self.line, self.column = file, problem, line, column
        where = file + (f" line {line}" if line else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {problem}")


#: Per dataset: the columns it must have, and the typed columns checked on every row
#: ("number", "integer" or "date"; an empty cell is allowed unless the column is required).
SCHEMA: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "adsl": (("USUBJID",), {"AGE": "number", "BMELD": "number", "BBILI": "number", "BINR": "number", "NDOSE": "integer",
                            "NDOSEPL": "integer", "DTHADY": "integer", "RANDDT": "date", "DTHDT": "date", "TRANSDT": "date",
                            "EOSDT": "date", "LSTALVDT": "date", "TRTSDT": "date", "TRTEDT": "date", "DCUTDT": "date"}),
    "adtte": (("USUBJID", "PARAMCD", "AVAL", "CNSR"), {"AVAL": "number", "CNSR": "integer", "PARAMN": "integer"}),
    "adlb": (("USUBJID", "PARAMCD", "AVAL"), {"AVAL": "number", "ADY": "number", "AVISITN": "number", "BASE": "number",
                                              "CHG": "number"}),
    "adae": (("USUBJID", "AEDECOD"), {"AETOXGR": "integer", "ASTDY": "integer", "ASTDT": "date"}),
    "adex": (("USUBJID",), {"ASTDY": "integer", "AVAL": "number"}),
}  # fmt: skip
REQUIRED_VALUES = {"adtte": ("USUBJID", "PARAMCD", "AVAL", "CNSR"), "adlb": ("USUBJID", "PARAMCD", "AVAL"),
                   "adsl": ("USUBJID",), "adae": ("USUBJID",), "adex": ("USUBJID",)}  # fmt: skip


def _check(kind: str, value: str) -> str | None:
    """The value normalised (an integer written 2.0 becomes 2), or None if it is not of ``kind``."""
    try:
        if kind == "date":
            return date.fromisoformat(value).isoformat()
        number = float(value)
        if not math.isfinite(number):
            return None
        if kind == "integer":
            return str(int(number)) if number == int(number) else None
        return value
    except ValueError:
        return None


def read_dataset(folder: Path, name: str) -> list[dict] | None:
    """The rows of ``name``.csv (None if the file is absent), checked against :data:`SCHEMA`."""
    path = folder / f"{name}.csv"
    if not path.exists():
        return None
    file = path.name
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:  # a byte-order mark (Excel) is not part of a name
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return []
            if len(header) == 1 and ";" in header[0]:
                raise AdamFileError(file, "the columns are separated by ';': save the file as comma-separated CSV", 1)
            header = [h.strip() for h in header]
            required, types = SCHEMA.get(name, ((), {}))
            missing = [c for c in required if c not in header]
            if missing:
                raise AdamFileError(file, f"no column {', '.join(missing)} (ADaM variable names, in the header)", 1)
            rows = []
            for line, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise AdamFileError(file, f"{len(cells)} values for {len(header)} columns (a cut or shifted row?)", line)
                row = dict(zip(header, (c.strip() for c in cells)))
                for column in REQUIRED_VALUES.get(name, ()):
                    if column in row and row[column] == "":
                        raise AdamFileError(file, "empty, and it is needed", line, column)
                for column, kind in types.items():
                    if row.get(column, "") == "":
                        continue
                    normal = _check(kind, row[column])
                    if normal is None:
                        what = {"date": "an ISO 8601 date (YYYY-MM-DD)", "integer": "a whole number"}.get(kind, "a number")
                        raise AdamFileError(file, f"{row[column]!r} is not {what}", line, column)
                    row[column] = normal
                rows.append(row)
    except UnicodeDecodeError as err:
        raise AdamFileError(file, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise AdamFileError(file, f"not a readable CSV file ({err})") from None
    return rows


def report_from_adam_files(folder: Path, version: str, pdf: bool = False, protocol: Protocol | None = None):
    """(HTML, numbers), or (HTML, numbers, PDF bytes) with ``pdf``. AdamFileError for a bad file."""
    adsl = read_dataset(folder, "adsl")
    if not adsl:
        raise FileNotFoundError(f"{folder / 'adsl.csv'}: ADSL is needed (one row per subject)")
    data = {name: read_dataset(folder, name) for name in ("adtte", "adlb", "adae", "adex")}
    studyid = adsl[0].get("STUDYID", "")
    generated = f"Generated by hepatrial {version} on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from ADaM files in {folder.name}."
    cutoffs = sorted({r["DCUTDT"] for r in adsl if r.get("DCUTDT")})
    ours = protocol is not None and studyid == protocol.id
    if ours:
        settings = report_settings(protocol)
        settings["arms"] += sorted({r["TRT01P"] for r in adsl if r.get("TRT01P")} - set(settings["arms"]))
    else:
        settings = {"arms": sorted({r["TRT01P"] for r in adsl if r.get("TRT01P")}), "at_days": [28.0, 84.0, 168.0],
                    "protocol_outcomes": False}  # fmt: skip
    report, numbers = build_report(title=f"{studyid} analysis", protocol_id=studyid, adsl=adsl, adtte=data["adtte"] or [],
                                   adlb=data["adlb"] or [], adae=data["adae"], adex=data["adex"],
                                   screenings=[{"verdict": "eligible", "enrolled": True} for _ in adsl],  # no screening log in ADaM
                                   generated=generated, cutoff=cutoffs[-1] if cutoffs else None, **settings)  # fmt: skip
    if not ours:
        report.caveats.append(f"Study {studyid or '(no STUDYID)'} is not the protocol's ({protocol.id if protocol else 'none'}): "
                              "the generic sections only, without its primary outcome and change-from-baseline analyses.")  # fmt: skip
    if (folder / SIMULATED_FILE).exists():
        mark_simulated(report, numbers)
    if pdf:
        return render(report), numbers, render_pdf(report)
    return render(report), numbers
