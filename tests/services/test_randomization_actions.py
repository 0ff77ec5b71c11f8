"""Importing the allocation list and randomizing subjects: imported once and
verified; every refusal clear; concealment kept; and under concurrency (real
threads; SQLite here, PostgreSQL in CI's second run) 64 subjects get 64
distinct slots and one subject asked 64 times gets exactly one."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import example
from threads import in_threads
from django.db import connection, transaction
from django.utils import timezone

from hepatrial.core.protocol import packaged_protocols
from hepatrial.core.randomization import make_list, write_list
from hepatrial.services.enrollment import do_enroll, do_record_consent
from hepatrial.services.errors import ActionError, Invalid, NotAllowed
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import do_import_list, do_randomize, verify_list
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import AllocationSlot, AuditEvent, Subject

SLOTS = 80  # per site and stratum: enough for 64 concurrent ACLF randomizations


@pytest.fixture
def roomy_protocol(tmp_path, settings):
    """The protocol with 80 slots per site and stratum (the list must not run out in the tests)."""
    text = packaged_protocols()["NCT05940610"].read_text(encoding="utf-8")
    assert "slots_per_stratum:" in text

    path = tmp_path / "roomy.yaml"
    path.write_text(re.sub(r"slots_per_stratum: \d+", f"slots_per_stratum: {SLOTS}", text), encoding="utf-8")
    current_protocol.cache_clear()
    settings.HEPATRIAL_PROTOCOL = str(path)
    yield current_protocol()
    current_protocol.cache_clear()


@pytest.fixture
def list_file(tmp_path, roomy_protocol):
    path = tmp_path / "allocation.csv"
    alist = make_list(roomy_protocol.randomization, sites=["SYSU3", "GZ2"], seed=20261125, protocol_id=roomy_protocol.id)
    write_list(alist, path)
    return path


def enroll_one(personas, data=None):
    s = do_screen(personas.actor("coordinator_a"), personas.site_a, data or example("eligible-aclf"))
    do_decide_eligibility(personas.actor("investigator_a"), s, "confirmed")
    do_record_consent(personas.actor("coordinator_a"), s, "1.0", timezone.now() - timedelta(minutes=5))
    return do_enroll(personas.actor("coordinator_a"), s)


def test_the_list_is_imported_once_by_the_statistician(personas, list_file):
    with pytest.raises(NotAllowed):
        do_import_list(personas.actor("coordinator_a"), list_file)
    imported = do_import_list(personas.actor("statistician"), list_file)
    # 2 sites x 2 strata x at least 80 slots (the last block is never cut short)
    assert imported.slots.count() == imported.rows and imported.rows >= 4 * SLOTS
    assert verify_list(list_file) == []
    with pytest.raises(ActionError, match="already imported"):
        do_import_list(personas.actor("admin"), list_file)
    event = AuditEvent.objects.get(action="import_allocation_list")
    assert event.username == "statistician" and event.new["digest"] == imported.digest


def test_a_tampered_list_is_found_by_verify(personas, list_file):
    imported = do_import_list(personas.actor("statistician"), list_file)
    slot = imported.slots.order_by("pk").first()
    other = "control" if slot.arm == "msc_ev" else "msc_ev"
    with transaction.atomic(), connection.cursor() as cursor:  # a change made behind the application's back
        cursor.execute("UPDATE trial_allocationslot SET arm = %s WHERE id = %s", [other, slot.pk])
    assert any("no longer match the digest" in p for p in verify_list())


def test_a_damaged_file_is_refused_at_import(personas, list_file):
    text = list_file.read_text(encoding="utf-8").splitlines()
    i = next(n for n, line in enumerate(text) if line.endswith(",msc_ev"))
    text[i] = text[i][: -len("msc_ev")] + "control"
    list_file.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(Invalid):
        do_import_list(personas.actor("statistician"), list_file)
    assert not AllocationSlot.objects.exists()


def test_randomization_preconditions_and_result(personas, list_file):
    do_import_list(personas.actor("statistician"), list_file)
    subject = enroll_one(personas)
    with pytest.raises(NotAllowed):
        do_randomize(personas.actor("monitor_a"), subject)
    with pytest.raises(NotAllowed):
        do_randomize(personas.actor("coordinator_b"), subject)
    slot = do_randomize(personas.actor("coordinator_a"), subject)
    assert slot.arm in ("msc_ev", "control") and slot.stratum == "ACLF" and slot.site == personas.site_a
    subject.refresh_from_db()
    assert subject.anchor_date == timezone.localdate(slot.allocated_at, timezone=ZoneInfo("Asia/Shanghai"))
    with pytest.raises(ActionError, match="already randomized"):
        do_randomize(personas.actor("coordinator_a"), subject)
    # the first free slot of the stratum at the site: the lowest sequence
    first = AllocationSlot.objects.filter(site=personas.site_a, stratum="ACLF").order_by("sequence").first()
    assert first.pk == slot.pk
    event = AuditEvent.objects.get(action="randomize", model="AllocationSlot")
    assert event.new == {"arm": slot.arm, "stratum": "ACLF"} and event.subject_id == subject.subject_id


def test_no_list_no_randomization(personas, roomy_protocol):
    subject = enroll_one(personas)
    with pytest.raises(ActionError, match="No allocation list"):
        do_randomize(personas.actor("coordinator_a"), subject)


def test_the_alf_stratum_draws_from_its_own_slots(personas, list_file):
    do_import_list(personas.actor("statistician"), list_file)
    alf = enroll_one(personas, example("eligible-alf"))
    slot = do_randomize(personas.actor("investigator_a"), alf)
    assert slot.stratum == "ALF"
    assert AllocationSlot.objects.filter(site=personas.site_a, stratum="ACLF", subject__isnull=False).count() == 0


# --- concurrency: real threads, each on its own database connection ----------------------------------
@pytest.mark.django_db(transaction=True)
def test_64_concurrent_randomizations_get_64_distinct_slots(personas, list_file, audit_rows_removable):
    do_import_list(personas.actor("statistician"), list_file)
    subjects = [enroll_one(personas) for _ in range(64)]
    actor = personas.actor("coordinator_a")
    results = in_threads([lambda s=s: do_randomize(actor, s) for s in subjects])
    errors = [v for kind, v in results if kind == "error"]
    assert errors == []
    claimed = AllocationSlot.objects.filter(subject__isnull=False)
    assert claimed.count() == 64 and len({s.subject_id for s in claimed}) == 64
    assert Subject.objects.filter(allocation__isnull=True).count() == 0
    # the first 64 slots of the stratum were taken, no gaps: complete blocks are balanced
    taken = list(AllocationSlot.objects.filter(site=personas.site_a, stratum="ACLF").order_by("sequence")
                 .values_list("subject_id", "block", "arm"))  # fmt: skip
    assert all(subject is not None for subject, _b, _a in taken[:64])
    blocks: dict[int, Counter] = {}
    for subject, block, arm in taken[:64]:
        blocks.setdefault(block, Counter())[arm] += 1
    complete = [b for b in blocks.values() if sum(b.values()) in (2, 4) and b["msc_ev"] == b["control"]]
    assert len(complete) >= len(blocks) - 1  # only the last block may be partly used


@pytest.mark.django_db(transaction=True)
def test_64_concurrent_attempts_for_one_subject_give_one_allocation(personas, list_file, audit_rows_removable):
    do_import_list(personas.actor("statistician"), list_file)
    subject = enroll_one(personas)
    actor = personas.actor("coordinator_a")
    results = in_threads([lambda: do_randomize(actor, subject)] * 64)
    ok = [v for kind, v in results if kind == "ok"]
    refused = [v for kind, v in results if kind == "error"]
    assert len(ok) == 1 and len(refused) == 63
    assert all(isinstance(e, ActionError) and "already randomized" in e.message for e in refused), refused[:3]
    assert AllocationSlot.objects.filter(subject=subject).count() == 1


def test_the_import_and_verify_commands(personas, list_file):
    from click.testing import CliRunner

    from hepatrial.cli import main

    refused = CliRunner().invoke(main, ["randomization", "import", str(list_file), "--as", "coordinator_a"])
    assert refused.exit_code == 2 and "statistician" in refused.output
    done = CliRunner().invoke(main, ["randomization", "import", str(list_file), "--as", "statistician"])
    assert done.exit_code == 0, done.output
    assert "Imported" in done.output and "sha256" in done.output
    again = CliRunner().invoke(main, ["randomization", "import", str(list_file), "--as", "statistician"])
    assert again.exit_code == 2 and "already imported" in again.output
    ok = CliRunner().invoke(main, ["randomization", "verify", str(list_file)])
    assert ok.exit_code == 0 and ok.output.startswith("OK")


def test_the_start_up_check_fails_on_a_tampered_list(personas, list_file):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    imported = do_import_list(personas.actor("statistician"), list_file)
    call_command("check", databases=["default"])  # intact: passes
    slot = imported.slots.order_by("pk").first()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE trial_allocationslot SET arm = %s WHERE id = %s",
                       ["control" if slot.arm == "msc_ev" else "msc_ev", slot.pk])  # fmt: skip
    with pytest.raises(SystemCheckError, match="hepatrial.E001"):
        call_command("check", databases=["default"])
