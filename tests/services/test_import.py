"""The import route: the same checks and audit as the web form, route "import"."""

from __future__ import annotations

import json

from click.testing import CliRunner

from hepatrial.cli import main
from hepatrial.services.importer import import_rows
from hepatrial.web.trial.models import AuditEvent, FormEntry


def rows(subject, **extra):
    day0 = subject.anchor_date.isoformat()
    return [{"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel", "visit_date": day0,
             "values": {"sample_datetime": f"{day0}T07:00:00+08:00", "total_bilirubin": 250, "inr": 1.9}, **extra}]  # fmt: skip


def test_import_saves_with_route_import_and_audits(personas, subject):
    [result] = import_rows(personas.actor("coordinator_a", route="import"), rows(subject))
    assert result.ok, result
    event = AuditEvent.objects.get(field="day_0/lab_panel.total_bilirubin")
    assert (event.route, event.username, event.old, event.new) == ("import", "coordinator_a", None, 250.0)


def test_an_import_that_changes_a_value_needs_the_rows_reason(personas, subject):
    actor = personas.actor("coordinator_a", route="import")
    import_rows(actor, rows(subject))
    changed = rows(subject)
    changed[0]["values"]["total_bilirubin"] = 260
    [refused] = import_rows(actor, changed)
    assert not refused.ok and "reason" in refused.errors
    assert FormEntry.objects.get().data["total_bilirubin"] == 250.0
    [ok] = import_rows(actor, rows(subject, reason="corrected lab report", values=changed[0]["values"]))
    assert ok.ok
    change = AuditEvent.objects.get(field="day_0/lab_panel.total_bilirubin", action="update_form")
    assert (change.route, change.old, change.new, change.reason) == ("import", 250.0, 260.0, "corrected lab report")


def test_bad_rows_are_reported_and_skipped(personas, subject):
    actor = personas.actor("coordinator_b", route="import")  # site B cannot see SYSU3-001
    bad = [rows(subject)[0], "not a row", {"subject_id": "SYSU3-001"}, {**rows(subject)[0], "colour": "red"}]
    results = import_rows(actor, bad)
    assert [r.ok for r in results] == [False, False, False, False]
    assert "No subject SYSU3-001" in results[0].message
    assert "Missing keys" in results[2].message and "Unknown keys: colour" in results[3].message
    assert FormEntry.objects.count() == 0


def test_the_import_command(personas, subject, tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows(subject)), encoding="utf-8")
    result = CliRunner().invoke(main, ["import-forms", str(path), "--as", "coordinator_a"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 rows saved" in result.output
    assert AuditEvent.objects.filter(route="import", action="create_form").exists()
    missing_user = CliRunner().invoke(main, ["import-forms", str(path), "--as", "nobody"])
    assert missing_user.exit_code == 2


def test_the_token_command_creates_a_working_token(personas):
    from hepatrial.services.accounts import user_for_token

    result = CliRunner().invoke(main, ["token", "monitor_a", "nightly export"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("hpt_") and user_for_token(token).username == "monitor_a"
    assert AuditEvent.objects.filter(action="create_token", username="monitor_a").exists()
    assert CliRunner().invoke(main, ["token", "nobody", "x"]).exit_code == 2


def test_an_out_of_window_dose_is_imported_with_its_deviation(personas, randomized):
    from datetime import timedelta

    from hepatrial.services.dosing import subject_arm
    from hepatrial.web.trial.models import Deviation

    actor = personas.actor("coordinator_a", route="import")
    product, particles = {"msc_ev": ("msc_ev", 1e10), "control": ("saline", None)}[subject_arm(randomized)]
    on = (randomized.anchor_date + timedelta(days=1)).isoformat()  # day 0's window is day 0 only
    row = {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "dosing", "visit_date": on,
           "values": {"administered": True, "product": product, "lot_number": "L1", "particle_count": particles,
                      "volume_ml": 100, "start_datetime": f"{on}T09:00:00+08:00"}}  # fmt: skip
    [refused] = import_rows(actor, [row])
    assert not refused.ok and "deviation" in refused.errors
    [bad] = import_rows(actor, [{**row, "deviation": {"description": "late"}}])
    assert not bad.ok and "deviation must be an object" in bad.message
    [ok] = import_rows(actor, [{**row, "deviation": {"description": "bed shortage", "action": "escalated"}}])
    assert ok.ok, ok
    assert Deviation.objects.get().form_entry.form_id == "dosing"
