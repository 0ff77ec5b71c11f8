"""Import eCRF data from a file: each row is one form save through the same
action as the web and the API (route "import"), audited alike, and a change
to a saved value needs the row's reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, visible_sites
from hepatrial.services.dosing import DeviationInput
from hepatrial.services.errors import ActionError
from hepatrial.services.forms import do_save_form
from hepatrial.web.trial.models import FormEntry, Subject

ROW_KEYS = {"subject_id", "visit_id", "form_id", "visit_date", "values", "reason", "sequence", "complete", "deviation"}


@dataclass(frozen=True)
class RowResult:
    row: int
    ok: bool
    message: str
    errors: dict[str, list[str]]


def import_rows(actor: Actor, rows: list[Any]) -> list[RowResult]:
    """Save each row; a bad row is reported and skipped, never half-saved."""
    results = []
    for i, row in enumerate(rows):
        try:
            results.append(_import_row(actor, i, row))
        except ActionError as err:
            results.append(RowResult(i, False, err.message, err.errors))
    return results


def _import_row(actor: Actor, i: int, row: Any) -> RowResult:
    if not isinstance(row, dict):
        raise ActionError(_("A row is an object with subject_id, visit_id, form_id, visit_date, values."))
    unknown = set(row) - ROW_KEYS
    if unknown:
        raise ActionError(_("Unknown keys: %(k)s") % {"k": ", ".join(sorted(unknown))})
    missing = [k for k in ("subject_id", "visit_id", "form_id", "values") if k not in row]
    if missing:
        raise ActionError(_("Missing keys: %(k)s") % {"k": ", ".join(missing)})
    if not isinstance(row["values"], dict):
        raise ActionError(_("values must be an object of field id to value"), field="values")
    for key, kind, what in (("subject_id", str, "text"), ("visit_id", str, "text"), ("form_id", str, "text"),
                            ("reason", str, "text"), ("visit_date", str, "a date, YYYY-MM-DD"),
                            ("sequence", int, "a whole number"), ("complete", bool, "true or false")):  # fmt: skip
        value = row.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ActionError(_("%(k)s must be %(w)s") % {"k": key, "w": what}, field=key)
    subject = Subject.objects.filter(subject_id=row["subject_id"], site__in=visible_sites(actor)).first()
    if subject is None:
        raise ActionError(_("No subject %(s)s that you may see.") % {"s": row["subject_id"]}, field="subject_id")
    try:
        visit_date = date.fromisoformat(row["visit_date"]) if row.get("visit_date") else None
    except (TypeError, ValueError):
        raise ActionError(_("visit_date must be a date, YYYY-MM-DD"), field="visit_date") from None
    deviation = row.get("deviation")
    if deviation is not None:
        if not isinstance(deviation, dict) or set(deviation) != {"description", "action"} or not all(
            isinstance(v, str) for v in deviation.values()
        ):
            raise ActionError(_("deviation must be an object with the texts description and action"), field="deviation")
        deviation = DeviationInput(deviation["description"], deviation["action"])
    sequence = row.get("sequence", 1)
    current = FormEntry.objects.filter(
        subject=subject, visit_id=row["visit_id"], form_id=row["form_id"], sequence=sequence
    ).first()
    result = do_save_form(
        actor, subject, row["visit_id"], row["form_id"], row["values"],
        expected_version=current.version if current else None, visit_date=visit_date,
        reason=row.get("reason") or "", sequence=sequence, complete=row.get("complete", True), deviation=deviation,
    )  # fmt: skip
    opened = len(result.opened_queries)
    note = f"{subject.subject_id} {row['visit_id']}/{row['form_id']} saved (version {result.entry.version})"
    if opened:
        note += f", {opened} query(ies) opened"
    return RowResult(i, True, note, {})
