"""The simulated demo trial (services.demo_trial): made by the site's own actions on
past days, refused anywhere but a fresh demo database, and analysable end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hepatrial.core.randomization import make_list, write_list
from hepatrial.services.access import Actor
from hepatrial.services.accounts import DEMO_SITE, ensure_demo
from hepatrial.services.adam_export import adam_rows
from hepatrial.services.demo_trial import simulate_demo_trial
from hepatrial.services.errors import ActionError
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import do_import_list
from hepatrial.services.report import report_from_database
from hepatrial.web.trial.models import AuditEvent, FormEntry, Screening, Subject


@pytest.fixture
def demo_db(db, tmp_path):
    from django.contrib.auth import get_user_model

    ensure_demo()
    protocol = current_protocol()
    path = tmp_path / "demo-allocation-list.csv"  # the demo list (services.demo_trial.DEMO_LIST_FILE)
    write_list(make_list(protocol.randomization, sites=[DEMO_SITE["code"]], seed=7, protocol_id=protocol.id), path)
    do_import_list(Actor(get_user_model().objects.get(username="statistician"), route="system"), path)


@pytest.fixture
def simulated(demo_db):
    return simulate_demo_trial(subjects=6, seed=3)


def test_the_simulated_trial_is_made_on_past_days_by_the_sites_actions(simulated):
    assert simulated.randomized == 6 and Subject.objects.filter(allocation__isnull=False).count() == 6
    assert simulated.screened == Screening.objects.count() >= simulated.enrolled >= 6
    today = timezone.now().date()
    first = min(Subject.objects.filter(allocation__isnull=False).values_list("anchor_date", flat=True))
    assert (today - first).days >= 200  # the first subjects have reached their day-168 visit
    # every form was saved on its own (past) day, and audited then
    assert FormEntry.objects.count() == simulated.forms
    created = sorted(FormEntry.objects.values_list("created_at", flat=True))
    assert created[0].date() < today - timedelta(days=150) and created[-1] <= timezone.now()
    audited = sorted(AuditEvent.objects.filter(action="create_form").values_list("at", flat=True))
    assert audited[0] == created[0] and audited[-1] == created[-1]


def test_the_simulated_trial_goes_through_the_analysis(simulated, tmp_path):
    rows = adam_rows()
    assert sum(r["RANDFL"] == "Y" for r in rows["adsl"]) == 6
    assert rows["adex"] and rows["adlb"] and {r["PARAMCD"] for r in rows["adtte"]} == {"TFS84", "OS84", "TFS168", "OS168"}
    assert {r["EOSSTT"] for r in rows["adsl"] if r["RANDFL"] == "Y"} <= {"COMPLETED", "DISCONTINUED", "ONGOING"}
    html, numbers = report_from_database()
    assert numbers["consort"]["randomized"] == 6 and "Primary outcome: safety" in html
    assert numbers["simulated"] is True and "SIMULATED DATA" in html  # the audit trail's mark, on the report
    # ... and beside the exported files, read back by the report from them
    from hepatrial.core.protocol import load_protocol
    from hepatrial.core.report.adam_files import report_from_adam_files
    from hepatrial.services.adam_export import export_adam

    paths = export_adam(tmp_path / "adam")
    assert "simulated" in paths and "SIMULATED DATA" in paths["define"].read_text(encoding="utf-8")
    files_html, files_numbers = report_from_adam_files(tmp_path / "adam", "test", protocol=load_protocol())
    assert files_numbers["simulated"] is True and "SIMULATED DATA" in files_html
    assert numbers["primary"]["infusions"]  # infusions given in both arms were counted
    assert set(numbers["change_from_baseline"]) == {"MELD", "BILI", "INR"}
    assert numbers["change_from_baseline"]["MELD"]["visits"][0]["visit"] == 7.0


def test_the_same_seed_gives_the_same_trial(demo_db):
    """Run twice from the same fresh database (the first run rolled back): the same subjects, arms and values."""
    from django.db import transaction

    def run(seed: int):
        class Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                simulate_demo_trial(subjects=3, seed=seed)
                made = (list(Subject.objects.order_by("subject_id").values_list("subject_id", "allocation__arm", "anchor_date")),
                        sorted(str(e.data) for e in FormEntry.objects.filter(form_id__in=["lab_panel", "adverse_event"])))
                raise Rollback
        except Rollback:
            return made

    first, again, other = run(11), run(11), run(12)
    assert first == again and len(first[1]) > 10
    assert other != first


def test_refused_outside_a_fresh_demo_database(simulated):
    with pytest.raises(ActionError, match="fresh demo database"):
        simulate_demo_trial(subjects=2, seed=1)


@pytest.mark.parametrize("seed", [2, 3])
def test_a_full_size_trial_runs_for_seeds_that_once_failed(demo_db, seed):
    """Seed 2 once drew a bilirubin above the form's limit; seed 3 had the DSMB decide before a trip (the
    subjects were simulated one after another, not in the order of time). Now: one queue of events."""
    summary = simulate_demo_trial(subjects=20, seed=seed)
    assert summary.randomized == 20
    from hepatrial.web.trial.models import DsmbDecision

    assert all(d.decided_on >= d.trip.tripped_at.date() for d in DsmbDecision.objects.select_related("trip"))


def test_refused_on_a_real_trials_database(db, tmp_path):
    """The real trial's database has the same site code, but the statistician's list: never simulated into."""
    from django.contrib.auth import get_user_model

    ensure_demo()
    protocol = current_protocol()
    path = tmp_path / "nct05940610-allocation-v1.csv"
    write_list(make_list(protocol.randomization, sites=[DEMO_SITE["code"]], seed=7, protocol_id=protocol.id), path)
    do_import_list(Actor(get_user_model().objects.get(username="statistician"), route="system"), path)
    with pytest.raises(ActionError, match="a real trial's list is never used"):
        simulate_demo_trial(subjects=2, seed=1)
    assert not AuditEvent.objects.filter(action="simulate_demo_trial").exists() and not Screening.objects.exists()


def test_refused_without_the_demo_users(demo_db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="dsmb").update(username="board")
    with pytest.raises(ActionError, match="missing: dsmb"):
        simulate_demo_trial(subjects=2, seed=1)
    assert not AuditEvent.objects.filter(action="simulate_demo_trial").exists()


def test_refused_on_a_database_with_other_sites(demo_db):
    from hepatrial.services.accounts import SYSTEM, do_create_site

    do_create_site(SYSTEM, "GZ2", "Another hospital", "Asia/Shanghai")
    with pytest.raises(ActionError, match="only into the demo database"):
        simulate_demo_trial(subjects=2, seed=1)
