"""The statistician's analysis page: the ADaM datasets as a zip."""

from __future__ import annotations

import csv
import io
import zipfile

from personas import PASSWORD


def test_the_statistician_downloads_the_adam_datasets(client, personas, randomized):
    assert client.login(username="statistician", password=PASSWORD)
    assert 'id="adam-download"' in client.get("/analysis/").content.decode()
    response = client.get("/analysis/adam.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["adae.csv", "adex.csv", "adlb.csv", "adsl.csv", "adtte.csv", "define.xml"]
    [row] = list(csv.DictReader(io.StringIO(archive.read("adsl.csv").decode("utf-8"))))
    assert (row["USUBJID"], row["RANDFL"]) == ("NCT05940610-SYSU3-001", "Y")
    client.logout()
    assert client.login(username="coordinator_a", password=PASSWORD)
    assert client.get("/analysis/adam.zip").status_code == 403


def test_the_statistician_opens_and_downloads_the_report(client, personas, randomized):
    assert client.login(username="statistician", password=PASSWORD)
    page = client.get("/analysis/report/")
    assert page.status_code == 200 and "Participant flow (CONSORT 2010)" in page.content.decode()
    download = client.get("/analysis/report/?download=1")
    assert download["Content-Disposition"].startswith('attachment; filename="NCT05940610-report-')
