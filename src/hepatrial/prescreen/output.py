"""A pre-screening run as files and text: candidates and funnel as CSV, Parquet or JSON, and
the explanation a coordinator reads."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hepatrial.prescreen.engine import PrescreenCandidate, PrescreenResult

FORMATS = ("csv", "parquet", "json")
STATUS_LABELS = {"met": "met", "not_met": "not met", "unknown": "unknown", "to_check": "to check"}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def reason_text(status: str, reason: str) -> str:
    """The one-candidate screening's reason, with "unknown:" said as what the status means."""
    if status == "to_check":
        return "to check: " + reason.removeprefix("unknown: ")
    if status == "unknown":
        return "no data: " + reason.removeprefix("unknown: ")
    return reason


def candidate_row(result: PrescreenResult, c: PrescreenCandidate) -> dict[str, Any]:
    """One candidate as a flat row (CSV, Parquet)."""
    row: dict[str, Any] = {
        "person_id": c.person_id,
        "first_qualifying_at": c.first_at.isoformat(),
        "qualifying_lab_days": c.candidate_days,
        "lab_days": c.lab_days,
    }
    row.update({column: _plain(value) for column, value in c.values.items()})
    for plan in result.plan.criteria:
        row[plan.id] = c.statuses[plan.id]
        row[f"{plan.id}_reason"] = reason_text(c.statuses[plan.id], c.reasons[plan.id])
    row["disagreements"] = "; ".join(c.disagreements)
    return row


def funnel_rows(result: PrescreenResult) -> list[dict[str, Any]]:
    return [{"step": step.label, "criterion": step.criterion or "", "patients": step.patients,
             "to_check": step.to_check} for step in result.funnel]  # fmt: skip


def result_json(result: PrescreenResult) -> dict[str, Any]:
    criteria = {c.id: c for c in result.plan.criteria}
    return {
        "protocol": result.protocol_id,
        "source": result.source,
        "engine": result.engine,
        "timezone": result.timezone,
        "seconds": round(result.seconds, 3),
        "patients": result.patients,
        "assumptions": [{"field": f, "value": v, "why": why} for f, v, why in result.plan.assumptions],
        "funnel": funnel_rows(result),
        "candidates": [
            {
                "person_id": c.person_id,
                "first_qualifying_at": c.first_at.isoformat(),
                "qualifying_lab_days": c.candidate_days,
                "lab_days": c.lab_days,
                "values": {k: _plain(v) for k, v in c.values.items()},
                "criteria": [{"id": cid, "kind": criteria[cid].kind, "status": status,
                              "reason": reason_text(status, c.reasons[cid])} for cid, status in c.statuses.items()],  # fmt: skip
                "disagreements": c.disagreements,
                "candidate_file": candidate_file(result, c),
            }
            for c in result.candidates
        ],
    }


def candidate_file(result: PrescreenResult, c: PrescreenCandidate) -> dict[str, Any]:
    """The candidate file at the first qualifying time, without what pre-screening assumed
    (the clinician answers it): for `hepatrial screen` and the screening form."""
    data = c.candidate.model_dump(mode="json", exclude_none=True)
    for field, _value, _why in result.plan.assumptions:
        if field.startswith("history."):
            data.get("history", {}).pop(field.removeprefix("history."), None)
        else:
            data.pop(field, None)
    return data


def write_result(result: PrescreenResult, out: str | Path, fmt: str = "csv") -> list[Path]:
    """candidates.<fmt> and funnel.<fmt> into ``out`` (created if needed)."""
    if fmt not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, got {fmt!r}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    candidates = folder / f"candidates.{fmt}"
    funnel = folder / f"funnel.{fmt}"
    if fmt == "json":
        data = result_json(result)
        candidates.write_text(json.dumps(data["candidates"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        funnel.write_text(json.dumps({k: v for k, v in data.items() if k != "candidates"}, indent=2,
                                     ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
        return [candidates, funnel]
    rows = [candidate_row(result, c) for c in result.candidates]
    header = list(rows[0]) if rows else _empty_header(result)
    for path, table, columns in ((candidates, rows, header), (funnel, funnel_rows(result), ["step", "criterion", "patients", "to_check"])):
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(table)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            data = {name: [row.get(name) for row in table] for name in columns}
            pq.write_table(pa.table(data) if table else pa.table({name: pa.array([], pa.string()) for name in columns}), path)
    return [candidates, funnel]


def _empty_header(result: PrescreenResult) -> list[str]:
    columns = ["person_id", "first_qualifying_at", "qualifying_lab_days", "lab_days", *(v.column for v in result.plan.values)]
    for plan in result.plan.criteria:
        columns += [plan.id, f"{plan.id}_reason"]
    return [*columns, "disagreements"]


def funnel_text(result: PrescreenResult) -> list[str]:
    width = max(len(step.label) for step in result.funnel)
    lines = []
    for step in result.funnel:
        note = "  (a clinician's to check: passes unless the data excludes)" if step.to_check else ""
        lines.append(f"  {step.label:<{width}}  {step.patients:>10,}{note}")
    return lines


def explain_text(result: PrescreenResult, c: PrescreenCandidate) -> list[str]:
    lines = [f"patient {c.person_id}: first qualifying {c.first_at.isoformat(sep=' ', timespec='minutes')} "
             f"({c.candidate_days} of {c.lab_days} lab days qualify)"]  # fmt: skip
    for cid, status in c.statuses.items():
        lines.append(f"  {cid:<4} {STATUS_LABELS[status]:<9} {reason_text(status, c.reasons[cid])}")
    for problem in c.disagreements:
        lines.append(f"  DISAGREEMENT between SQL and one-candidate screening: {problem}")
    return lines
