"""The pre-screening pages (issue #7): a coordinator starts a run on one of the listed data
sources, the run saves its progress and result, its candidates open into a pre-filled
screening form, and every start and finish is audited. Only screening roles of the run's
site see it."""

from __future__ import annotations

import re
import threading
import time
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from personas import SignedInClient

from hepatrial.core.prescreen.synth import synthesize, write_extract
from hepatrial.services import prescreen
from hepatrial.services.prescreen import HEARTBEAT, INTERRUPTED_AFTER, do_start_prescreen, execute_prescreen
from hepatrial.web.trial.models import AuditEvent, PrescreenRun, Screening


@pytest.fixture(scope="module")
def extract_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("prescreen")
    write_extract(synthesize(1500, seed=4, end=date(2026, 11, 1)), root / "SYSU3" / "omop-demo")
    (root / "SYSU3" / "not-a-source").mkdir()
    (root / "GZ2").mkdir()
    return root


@pytest.fixture
def sources(extract_folder, monkeypatch):
    monkeypatch.setenv("HEPATRIAL_PRESCREEN_DIR", str(extract_folder))
    return extract_folder


def login(personas, name: str) -> Client:
    client = SignedInClient()
    client.force_login(personas.users[name])
    return client


def finished_run(personas) -> PrescreenRun:
    actor = personas.actor("coordinator_a")
    run = do_start_prescreen(actor, personas.site_a, "omop-demo", background=False)
    return execute_prescreen(run.pk, actor)


@pytest.mark.django_db
def test_the_page_lists_the_sources_and_starts_a_run(personas, sources, django_capture_on_commit_callbacks):
    client = login(personas, "coordinator_a")
    page = client.get("/prescreen/")
    assert page.status_code == 200
    assert b"omop-demo" in page.content and b"not-a-source" not in page.content
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/prescreen/", {"source": f"{personas.site_a.pk}:omop-demo"})
    run = PrescreenRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/prescreen/{run.pk}/"
    assert run.status == "queued" and len(callbacks) == 1  # the background job starts on commit
    assert AuditEvent.objects.filter(action="start_prescreen", object_id=str(run.pk)).count() == 1
    waiting = client.get(f"/prescreen/{run.pk}/")
    assert b"run-progress" in waiting.content
    assert client.get(f"/prescreen/{run.pk}/progress.json").json() == {"status": "queued", "progress": 0.0, "error": ""}


@pytest.mark.django_db
def test_a_bad_source_is_refused_and_nothing_is_saved(personas, sources):
    client = login(personas, "coordinator_a")
    response = client.post("/prescreen/", {"source": f"{personas.site_a.pk}:../../etc"})
    assert response.status_code == 422 and b"Choose one of the data sources listed" in response.content
    assert client.post("/prescreen/", {"source": f"{personas.site_b.pk}:omop-demo"}).status_code == 422
    # a site's data is its own: site B's coordinator sees no source and cannot start site A's
    other = login(personas, "coordinator_b")
    assert b"omop-demo" not in other.get("/prescreen/").content
    assert other.post("/prescreen/", {"source": f"{personas.site_a.pk}:omop-demo"}).status_code == 422
    assert not PrescreenRun.objects.exists() and not AuditEvent.objects.filter(action="start_prescreen").exists()


@pytest.mark.django_db
def test_one_run_at_a_time_per_site_and_a_dead_job_is_failed(personas, sources):
    actor = personas.actor("coordinator_a")
    first = do_start_prescreen(actor, personas.site_a, "omop-demo", background=False)
    client = login(personas, "coordinator_a")
    busy = client.post("/prescreen/", {"source": f"{personas.site_a.pk}:omop-demo"})
    assert busy.status_code == 409 and PrescreenRun.objects.count() == 1
    # no job runs it (as after a restart): after a while it is marked failed, and a new run may start
    PrescreenRun.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(minutes=10))
    assert b"interrupted" in client.get(f"/prescreen/{first.pk}/").content
    assert PrescreenRun.objects.get(pk=first.pk).status == "failed"
    assert do_start_prescreen(actor, personas.site_a, "omop-demo", background=False).status == "queued"


@pytest.mark.django_db
def test_a_job_running_in_another_server_process_is_alive_while_its_heartbeat_is(personas, sources):
    """hepatrial serve runs several worker processes: the run's page may be asked of one whose
    _LIVE does not hold the run. The job's heartbeat (every HEARTBEAT) tells the others."""
    first = do_start_prescreen(personas.actor("coordinator_a"), personas.site_a, "omop-demo", background=False)
    long_ago = timezone.now() - timedelta(minutes=10)
    PrescreenRun.objects.filter(pk=first.pk).update(status="running", created_at=long_ago,
                                                    heartbeat_at=timezone.now() - HEARTBEAT)  # fmt: skip
    client = login(personas, "coordinator_a")
    assert b"interrupted" not in client.get(f"/prescreen/{first.pk}/").content
    assert PrescreenRun.objects.get(pk=first.pk).status == "running"
    busy = client.post("/prescreen/", {"source": f"{personas.site_a.pk}:omop-demo"})
    assert busy.status_code == 409  # still one at a time
    # its process died: no heartbeat for longer than INTERRUPTED_AFTER
    PrescreenRun.objects.filter(pk=first.pk).update(heartbeat_at=timezone.now() - INTERRUPTED_AFTER - timedelta(seconds=1))
    assert b"interrupted" in client.get(f"/prescreen/{first.pk}/").content
    assert PrescreenRun.objects.get(pk=first.pk).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_beats_until_the_job_is_done(personas, sources, monkeypatch, audit_rows_removable):
    monkeypatch.setattr(prescreen, "HEARTBEAT", timedelta(seconds=0.05))
    run = do_start_prescreen(personas.actor("coordinator_a"), personas.site_a, "omop-demo", background=False)
    PrescreenRun.objects.filter(pk=run.pk).update(status="running")
    done = threading.Event()
    beating = threading.Thread(target=prescreen._heartbeat, args=(run.pk, done))
    beating.start()
    try:
        beats = set()
        for _ in range(200):
            beat = PrescreenRun.objects.get(pk=run.pk).heartbeat_at
            if beat is not None:
                beats.add(beat)
            if len(beats) >= 2:
                break
            time.sleep(0.02)
        assert len(beats) >= 2  # it beats again and again
    finally:
        done.set()
        beating.join(timeout=5)
    assert not beating.is_alive()  # and stops when told the job is done


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ends", ["done", "raising"])
def test_a_job_stops_its_heartbeat_however_it_ends(personas, sources, monkeypatch, audit_rows_removable, ends):
    monkeypatch.setattr(prescreen, "HEARTBEAT", timedelta(seconds=0.05))
    run = do_start_prescreen(personas.actor("coordinator_a"), personas.site_a, "omop-demo", background=False)
    name = f"prescreen-{run.pk}-heartbeat"

    def job(run_id, actor):  # the run's body: its heartbeat beats meanwhile
        PrescreenRun.objects.filter(pk=run_id).update(status="running")
        for _ in range(200):
            if PrescreenRun.objects.get(pk=run_id).heartbeat_at is not None:
                break
            time.sleep(0.02)
        assert any(t.name == name for t in threading.enumerate())
        if ends == "raising":
            raise RuntimeError("the job failed")

    monkeypatch.setattr(prescreen, "execute_prescreen", job)
    prescreen._LIVE.add(run.pk)
    if ends == "raising":
        with pytest.raises(RuntimeError):
            prescreen._in_thread(run.pk, personas.actor("coordinator_a"))
    else:
        prescreen._in_thread(run.pk, personas.actor("coordinator_a"))
    assert PrescreenRun.objects.get(pk=run.pk).heartbeat_at is not None
    for _ in range(100):
        if not any(t.name == name for t in threading.enumerate()):
            break
        time.sleep(0.02)
    assert not any(t.name == name for t in threading.enumerate())
    assert run.pk not in prescreen._LIVE


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_with_its_message(personas, sources, monkeypatch):
    import hepatrial.prescreen.engine as engine

    def broken(*args, **kwargs):
        raise ValueError("something unforeseen")

    monkeypatch.setattr(engine, "run_prescreen", broken)
    run = finished_run(personas)
    assert run.status == "failed" and run.error == "ValueError: something unforeseen" and run.finished_at
    assert AuditEvent.objects.get(action="finish_prescreen").new["status"] == "failed"


@pytest.mark.django_db
def test_a_finished_run_shows_funnel_candidates_and_reasons(personas, sources):
    run = finished_run(personas)
    assert run.status == "done" and run.progress == 100.0 and run.result["candidates_total"] > 0
    finish = AuditEvent.objects.get(action="finish_prescreen", object_id=str(run.pk))
    assert finish.route == "background" and finish.new["candidates"] == run.result["candidates_total"]
    page = login(personas, "coordinator_a").get(f"/prescreen/{run.pk}/")
    text = page.content.decode()
    assert page.status_code == 200 and "patients in the source" in text and "I3 met" in text
    assert AuditEvent.objects.filter(action="view_prescreen", object_id=str(run.pk), username="coordinator_a").count() == 1
    firsts = [c["first_qualifying_at"] for c in run.result["candidates"]]
    assert firsts == sorted(firsts, reverse=True)  # the most recent first
    assert "dialysis_twice_past_week" not in run.result["candidates"][0]["candidate_file"]  # assumed, not data
    first = run.result["candidates"][0]
    assert f'id="candidate-{first["person_id"]}"' in text
    assert "to check: encephalopathy_grade not given" in text  # I5's reason, from one-candidate screening
    assert "Assumed dialysis_twice_past_week = false" in text


@pytest.mark.django_db
def test_a_candidate_opens_into_a_prefilled_screening_form_that_screens(personas, sources):
    run = finished_run(personas)
    candidate = run.result["candidates"][0]
    client = login(personas, "coordinator_a")
    form = client.get(f"/screenings/new/?prescreen={run.pk}&person={candidate['person_id']}")
    text = form.content.decode()
    assert form.status_code == 200 and 'id="prefilled"' in text
    data = candidate["candidate_file"]
    assert f'value="{data["age"]}"' in text
    assert re.search(r'name="lab-0-test".*?<option value="\w+" selected', text, re.S)
    assert 'name="dialysis_twice_past_week"' in text and not re.search(
        r'name="dialysis_twice_past_week"[^>]*>\s*<option value="">[^<]*</option>\s*<option value="yes"[^>]*>[^<]*</option>\s*<option value="no" selected',
        text)  # the assumption is not filled in
    # the coordinator posts the form as shown, with the clinician's answers added
    post = {"site": str(personas.site_a.pk), "id": "PS-1", "assessed_at": _value(text, "assessed_at"),
            "age": str(data["age"]), "sex": data.get("sex", ""), "presentation": "ACLF", "chronic_liver_disease": "yes",
            "weeks_insult_to_complication": "2", "encephalopathy_grade": "1", "ascites": "mild",
            "dialysis_twice_past_week": "no"}  # fmt: skip
    rows = len(re.findall(r'name="lab-\d+-value"[^>]*value="', text))
    assert 0 < rows <= 12
    for i in range(rows):
        post.update({f"lab-{i}-test": _selected(text, f"lab-{i}-test"), f"lab-{i}-value": _value(text, f"lab-{i}-value"),
                     f"lab-{i}-unit": _unit(text, i), f"lab-{i}-at": _value(text, f"lab-{i}-at")})  # fmt: skip
    response = client.post("/screenings/new/", post)
    assert response.status_code == 302, response.content.decode()[:2000]
    screening = Screening.objects.get()
    statuses = {c["id"]: c["status"] for c in screening.result["criteria"]}
    assert statuses["I3"] == "met" and statuses["I4"] == "met" and statuses["E4"] == "not_met"


@pytest.mark.django_db
def test_only_screening_roles_of_the_site_see_a_run(personas, sources):
    run = finished_run(personas)
    assert login(personas, "coordinator_b").get(f"/prescreen/{run.pk}/").status_code == 404
    assert login(personas, "coordinator_b").get(f"/screenings/new/?prescreen={run.pk}&person=1").status_code == 404
    for name in ("monitor_a", "statistician", "data_manager", "dsmb"):
        assert login(personas, name).get("/prescreen/").status_code == 403, name
        assert login(personas, name).get(f"/prescreen/{run.pk}/").status_code == 403, name
    assert Client().get("/prescreen/").status_code == 302  # to the login page
    assert login(personas, "investigator_a").get(f"/prescreen/{run.pk}/").status_code == 200
    assert login(personas, "coordinator_a").get(f"/screenings/new/?prescreen={run.pk}&person=nobody").status_code == 404


@pytest.mark.django_db
def test_a_source_gone_before_the_run_fails_with_the_reason(personas, sources):
    actor = personas.actor("coordinator_a")
    run = do_start_prescreen(actor, personas.site_a, "omop-demo", background=False)
    (sources / "SYSU3" / "omop-demo").rename(sources / "SYSU3" / "moved-away")
    try:
        run = execute_prescreen(run.pk, actor)
    finally:
        (sources / "SYSU3" / "moved-away").rename(sources / "SYSU3" / "omop-demo")
    assert run.status == "failed" and "no longer a data source" in run.error and run.result is None
    page = login(personas, "coordinator_a").get(f"/prescreen/{run.pk}/")
    assert b"The pre-screening failed" in page.content


def _value(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected', select).group(1)


def _unit(html: str, row: int) -> str:
    select = re.search(rf'<select name="lab-{row}-unit".*?</select>', html, re.S).group(0)
    chosen = re.search(r'<option value="([^"]*)" selected', select)
    return chosen.group(1) if chosen else ""
