"""How many database queries the subject's page runs (issue #8, load benchmark).

The page a coordinator opens most must not ask once per visit, per form, per dose or per
adverse event: a casebook that fills up during the trial would make it slower each week,
and benchmarks/load.py's 32 coordinators wait for each other's queries. Here the same
page is opened with one visit entered and signed and a serious adverse event, and then
with four visits, three adverse events (two serious) and four signatures; it must run the same queries both times, and no more than it does now (a
change that adds one must lower the figure's reason, or raise it and say why)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from personas import PASSWORD, dose_and_sample

from hepatrial.services.forms import do_save_form
from hepatrial.web.trial.models import AuditEvent, FormEntry
from hepatrial.services.signatures import do_sign

#: The subject's page, for a coordinator of its site: session, user, the user's sites, the
#: subject; consents, identity, allocation, all its forms (grid, dosing calendar, adverse
#: events), the serious events' SAE reports (one query for all), open queries, stopping-rule
#: trips, locks, signatures and the forms they cover (a visit's or the casebook's: one query
#: for all), AE proposals, deviations.
SUBJECT_PAGE_QUERIES = 16

#: A lab panel's save through its page, for a coordinator: session, user, the user's sites,
#: the subject; then in the transaction (its BEGIN and COMMIT, savepoints in a test, are not
#: counted) the consent (no data after a withdrawal), the form (locked for update), the locks
#: that cover it, the write (a first save's INSERT has a savepoint of its own), the audit
#: chain's last link with the database lock (one query), the audit rows (one INSERT however
#: many values changed), signatures to void, queries to settle, the allocation and the lab
#: panel's AE proposals. The stored form is not read again outside the transaction. (On
#: PostgreSQL the audit chain's advisory lock is not counted either: hold_chain.)
LAB_SAVE_QUERIES = 14


def adverse_event(personas, subject, seq: int, *, serious: bool = False) -> None:
    values = {"term": "Infusion related reaction", "onset_date": subject.anchor_date.isoformat(), "grade": "3" if serious else "1",
              "serious": serious, "relationship": "possible", "outcome": "recovering"}  # fmt: skip
    if serious:  # its reporting clock shows on the page
        values.update(sae_hospitalization=True, awareness_datetime=timezone.now().isoformat())
    do_save_form(personas.actor("investigator_a"), subject, "adverse_events", "adverse_event", values,
                 expected_version=None, visit_date=timezone.localdate(timezone=ZoneInfo("Asia/Shanghai")), sequence=seq)  # fmt: skip


@pytest.mark.django_db
def test_the_subject_page_asks_the_same_questions_however_full_the_casebook(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    url = f"/subjects/{randomized.subject_id}/"
    client.get(url)  # (a session's first request also writes it)
    dose_and_sample(personas, randomized, days=(0,))
    adverse_event(personas, randomized, 1, serious=True)
    do_sign(personas.actor("investigator_a"), randomized, visit_id="day_0", meaning="review", password=PASSWORD)
    with CaptureQueriesContext(connection) as early:
        first = client.get(url).content.decode()

    dose_and_sample(personas, randomized, days=(7, 14, 21))
    adverse_event(personas, randomized, 2, serious=True)
    adverse_event(personas, randomized, 3)
    for visit in ("day_7", "day_14", ""):  # two visits and the casebook
        do_sign(personas.actor("investigator_a"), randomized, visit_id=visit, meaning="review", password=PASSWORD)
    with CaptureQueriesContext(connection) as later:
        second = client.get(url).content.decode()

    # what the page shows did grow: four doses given, two AEs, the signature, the grid's links
    assert 'id="dose-4"' in first and second.count('class="dose-given"') == 4 > first.count('class="dose-given"')
    assert 'id="ae-3"' in second and 'id="ae-2"' not in first
    assert second.count('class="sae-clock') == 2 > first.count('class="sae-clock') == 1
    assert second.count('class="signature-valid"') == 4 > first.count('class="signature-valid"') == 1
    link = reverse("form_entry", args=[randomized.subject_id, "day_21", "lab_panel"])  # the grid writes it without {% url %}
    assert f'href="{link}" class="status-complete"' in second and f'href="{link}" class="status-missing"' in first
    sql = [q["sql"][:100] for q in later.captured_queries]
    assert len(later.captured_queries) == len(early.captured_queries), sql
    assert len(later.captured_queries) <= SUBJECT_PAGE_QUERIES, sql


@pytest.mark.django_db
def test_a_save_writes_its_audit_rows_in_one_insert_however_many_values_change(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    url = reverse("form_entry", args=[randomized.subject_id, "day_0", "lab_panel"])
    day0 = randomized.anchor_date.isoformat()
    values = {"visit_date": day0, "sample_datetime": f"{day0}T06:00", "total_bilirubin": "250", "inr": "2.1",
              "prothrombin_activity": "30", "creatinine": "90", "sodium": "135", "albumin": "30"}  # fmt: skip
    client.get(url)  # (a session's first request also writes it)

    def save(data, version):
        audit_before = AuditEvent.objects.count()
        with CaptureQueriesContext(connection) as saved:
            response = client.post(url, {**data, "version": version, "reason": "" if version == "" else "corrected"})
        assert response.status_code == 302, response.content.decode()[:2000]
        sql = [q["sql"] for q in saved.captured_queries
               if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "SELECT pg_advisory_xact_lock"))]  # fmt: skip
        inserts = [q for q in sql if q.startswith('INSERT INTO "trial_auditevent"')]
        return sql, inserts, AuditEvent.objects.count() - audit_before

    first, first_inserts, first_rows = save(values, "")
    second, second_inserts, second_rows = save({**values, "total_bilirubin": "260"}, "1")
    assert first_rows == 9 and second_rows == 1  # the visit date, the status and 7 values; then the one value
    assert len(first_inserts) == len(second_inserts) == 1
    assert FormEntry.objects.get(subject=randomized, visit_id="day_0", form_id="lab_panel").version == 2
    assert len(first) == len(second) <= LAB_SAVE_QUERIES, [q[:100] for q in second]
    assert sum(q.startswith('SELECT "trial_formentry"') for q in second) == 1, [q[:100] for q in second]
