"""Crafted input the independent review turned into server errors: each is now
a 4xx answer with nothing saved (one test per reproduction)."""

from __future__ import annotations

import json

from builders import example

from hepatrial.services.importer import import_rows
from hepatrial.web.trial.models import FormEntry
from hepatrial.web.trial.views import _cell
from personas import PASSWORD


def login(client, name):
    assert client.login(username=name, password=PASSWORD)


def test_nul_characters_in_web_requests_are_a_400(client, personas, subject):
    login(client, "coordinator_a")
    assert client.get("/subjects/SYSU3-001%00/").status_code == 400
    assert client.get("/queries/", {"subject": "SYSU3\x00"}).status_code == 400
    url = f"/subjects/{subject.subject_id}/visits/day_0/lab_panel/"
    assert client.post(url, {"total_bilirubin": "1\x00"}).status_code == 400
    assert FormEntry.objects.count() == 0


def test_a_huge_query_age_filter_is_a_form_error(client, personas):
    login(client, "monitor_a")
    response = client.get("/queries/", {"min_age_days": "99999999999"})
    assert response.status_code == 200 and "less than or equal to 36500" in response.content.decode()


def test_a_sequence_beyond_a_visits_repeats_is_a_404(client, personas, subject):
    login(client, "coordinator_a")
    assert client.get(f"/subjects/{subject.subject_id}/visits/day_0/clinical_status/40000/").status_code == 404
    assert client.get(f"/subjects/{subject.subject_id}/visits/unscheduled/clinical_status/100/").status_code == 404
    assert client.get(f"/subjects/{subject.subject_id}/visits/unscheduled/clinical_status/2/").status_code == 200


def test_an_overflowing_number_through_the_api_is_a_422(client, personas, subject):
    login(client, "coordinator_a")
    csrf = client.get("/api/me").json()["csrf_token"]
    body = {"values": {"west_haven_grade": 10**400}, "expected_version": None, "visit_date": subject.anchor_date.isoformat()}
    response = client.put(f"/api/subjects/{subject.subject_id}/visits/day_0/forms/clinical_status",
                          data=json.dumps(body), content_type="application/json", HTTP_X_CSRFTOKEN=csrf)  # fmt: skip
    assert response.status_code in (400, 422), response.content
    assert FormEntry.objects.count() == 0


def test_import_rows_of_the_wrong_type_are_reported_not_crashed(personas, subject):
    day0 = subject.anchor_date.isoformat()
    row = {"subject_id": subject.subject_id, "visit_id": "day_0", "form_id": "lab_panel", "visit_date": day0,
           "values": {"sample_datetime": f"{day0}T07:00:00+08:00"}}  # fmt: skip
    results = import_rows(personas.actor("coordinator_a", route="import"),
                          [{**row, "sequence": "x"}, {**row, "reason": 5}, {**row, "complete": "yes"}, row])  # fmt: skip
    assert [r.ok for r in results] == [False, False, False, True]
    assert "sequence must be a whole number" in results[0].message
    assert "reason must be text" in results[1].message


def test_audit_csv_cells_cannot_run_as_spreadsheet_formulas():
    assert _cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert _cell("+1") == "'+1" and _cell("@SUM(A1)") == "'@SUM(A1)" and _cell("-2") == "'-2"
    assert _cell("lab re-issued") == "lab re-issued" and _cell(250.0) == "250.0"


def test_screening_data_reaches_the_log_unchanged(client, personas):
    """A control for the tests above: the ordinary path still works."""
    login(client, "coordinator_a")
    assert client.get("/screenings/new/").status_code == 200
    assert example("eligible-aclf")["id"] == "C-001"
