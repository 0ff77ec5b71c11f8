"""The audit trail as stored is a hash chain: every way of writing a row links it, a row
changed, removed or slipped in directly in the database is found by the verification,
concurrent writers make one chain, and a trail written before the chain existed is
chained by the migration."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from personas import enroll
from threads import in_threads

from hepatrial.core.audit_chain import GENESIS, link
from hepatrial.services.audit import content, verify_chain
from hepatrial.services.forms import do_save_form
from hepatrial.web.trial.models import AuditEvent

append_only = importlib.import_module("hepatrial.web.trial.migrations.0002_audit_append_only")


def labs(subject, bilirubin="250"):
    return {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": bilirubin, "inr": "1.9"}


def save(personas, subject, bilirubin, version=None, reason=""):
    return do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel", labs(subject, bilirubin),
                        expected_version=version, visit_date=subject.anchor_date, reason=reason)  # fmt: skip


def raw(sql, params=()):
    """``sql`` run directly, past the application and its append-only triggers (as someone
    with the database's password could); the test's transaction puts the triggers back."""
    drop = [append_only.POSTGRES_REVERSE] if connection.vendor == "postgresql" else append_only.SQLITE_REVERSE
    with connection.cursor() as cursor:
        for statement in drop:
            cursor.execute(statement)
        cursor.execute(sql, params)


def test_every_writer_links_its_rows_in_key_order(personas, randomized):
    save(personas, randomized, "250")  # record (one row per field)
    Client().post("/login/", {"username": "coordinator_a", "password": "wrong"})  # a failed login: its own transaction
    rows = list(AuditEvent.objects.order_by("pk"))
    assert {"randomize", "create_form", "login_failed"} <= {r.action for r in rows}  # record_all, record, record_access
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev and r.hash == link(prev, content(r)), r.action
        prev = r.hash
    verdict = verify_chain()
    assert verdict.ok and verdict.rows == len(rows) and verdict.head == rows[-1].hash


def test_a_value_changed_in_the_database_breaks_the_chain_at_that_row(personas, subject):
    save(personas, subject, "250")
    save(personas, subject, "300", version=1, reason="transcription error")
    target = AuditEvent.objects.get(action="update_form", field="day_0/lab_panel.total_bilirubin")
    assert verify_chain().ok
    raw("UPDATE trial_auditevent SET new = %s WHERE id = %s", ['275.0', target.pk])
    verdict = verify_chain()
    position = list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)).index(target.pk) + 1
    assert (verdict.broken.key, verdict.broken.position) == (target.pk, position)
    assert "changed after it was written" in verdict.broken.problem


def test_a_row_removed_or_forged_in_the_database_breaks_the_next_link(personas, subject):
    save(personas, subject, "250")
    save(personas, subject, "300", version=1, reason="transcription error")
    keys = list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))
    raw("DELETE FROM trial_auditevent WHERE id = %s", [keys[2]])
    verdict = verify_chain()
    assert verdict.broken.key == keys[3] and "removed" in verdict.broken.problem


def test_a_changed_user_or_time_is_found_too(personas, subject):
    save(personas, subject, "250")
    first = AuditEvent.objects.order_by("pk").first()
    other = get_user_model().objects.get(username="investigator_a")
    raw("UPDATE trial_auditevent SET user_id = %s, username = %s WHERE id = %s", [other.pk, "investigator_a", first.pk])
    assert verify_chain().broken.key == first.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_chain(personas, audit_rows_removable):
    subjects = [enroll(personas) for _ in range(4)]
    results = in_threads([lambda s=s: save(personas, s, "250") for s in subjects])
    assert all(kind == "ok" for kind, _ in results), results
    verdict = verify_chain()
    assert verdict.ok and verdict.rows == AuditEvent.objects.count()


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_a_trail_written_before_it(audit_rows_removable):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("trial", "0010_prescreen_run")])
    old_state = executor.loader.project_state([("trial", "0010_prescreen_run")]).apps
    OldEvent = old_state.get_model("trial", "AuditEvent")
    from django.utils import timezone

    for n in range(3):
        OldEvent.objects.create(at=timezone.now(), username="admin", route="system", action=f"old_{n}",
                                model="Site", object_id=str(n), old={"x": n}, new=None)  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    verdict = verify_chain()
    assert verdict.ok and verdict.rows == 3
    assert AuditEvent.objects.order_by("pk").first().prev_hash == GENESIS
    with pytest.raises(Exception, match="cannot be changed"):  # the triggers are back
        raw_update_with_triggers("UPDATE trial_auditevent SET reason = 'x'")


def raw_update_with_triggers(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)


def test_the_verify_command(personas, subject):
    import json

    from click.testing import CliRunner

    from hepatrial.cli import main

    save(personas, subject, "250")
    ok = CliRunner().invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    rows = AuditEvent.objects.count()
    assert f"audit trail verified: {rows:,} rows" in ok.output
    assert AuditEvent.objects.order_by("-pk").first().hash in ok.output
    target = AuditEvent.objects.get(field="day_0/lab_panel.inr")
    raw("UPDATE trial_auditevent SET new = %s WHERE id = %s", ["2.9", target.pk])
    broken = CliRunner().invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"(id {target.pk})" in broken.output and "create_form FormEntry" in broken.output
    assert "changed after it was written" in broken.output
    as_json = json.loads(CliRunner().invoke(main, ["audit", "verify", "--json"]).stdout)
    assert as_json["ok"] is False and as_json["broken"]["id"] == target.pk


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_every_write_takes_the_chain_before_any_row(personas, subject, audit_rows_removable):
    """On PostgreSQL the chain's advisory lock is taken before the first statement of a
    transaction that writes or locks rows (services.audit.chain_first), so a writer never
    holds the chain while waiting for a row another writer holds waiting for the chain.
    SQLite's IMMEDIATE transactions hold the whole database from their start instead."""
    from django.db import transaction

    from hepatrial.services.audit import CHAIN_LOCK, chain_first
    from hepatrial.web.trial.models import Subject

    if connection.vendor != "postgresql":
        assert chain_first not in connection.execute_wrappers
        return
    assert chain_first in connection.execute_wrappers

    def held() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND pid = pg_backend_pid()",
                           [CHAIN_LOCK])  # fmt: skip
            return cursor.fetchone()[0] > 0

    with transaction.atomic():
        assert not held()
        Subject.objects.filter(pk=subject.pk).first()  # a read
        assert not held()
        Subject.objects.select_for_update(no_key=True).filter(pk=subject.pk).first()  # a row lock, no audit yet
        assert held()
    assert not held()  # ended with the transaction
