"""The services CI provides really work: PostgreSQL answers, Chromium renders and runs JS.

Under CI=true these run (a missing service fails them); elsewhere they skip
with the reason when a service is absent.
"""

from __future__ import annotations

import pytest

from infra import services

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>hepatrial infra check</title></head>
<body>
  <h1 id="status">waiting</h1>
  <button id="go" type="button">Go</button>
  <script>
    document.getElementById("go").addEventListener("click", function () {
      document.getElementById("status").textContent = "clicked";
    });
  </script>
</body>
</html>
"""


# --- PostgreSQL ---------------------------------------------------------------------


def test_postgres_round_trip(pg_url):
    import psycopg

    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        major = int(version.split(".")[0].split()[0])
        assert major >= 13, version

        conn.execute("CREATE TEMP TABLE infra_check (id serial PRIMARY KEY, bilirubin_umol_l numeric NOT NULL)")
        conn.execute(
            "INSERT INTO infra_check (bilirubin_umol_l) VALUES (%s), (%s)", (171, 85.5)
        )
        rows = conn.execute("SELECT id, bilirubin_umol_l FROM infra_check ORDER BY id").fetchall()
        assert [(i, float(v)) for i, v in rows] == [(1, 171.0), (2, 85.5)]


def test_postgres_role_can_create_databases(pg_url):
    """Django's test runner creates test_<NAME>; the CI role must be allowed to."""
    import psycopg

    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        can = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    assert can, "the test role needs CREATEDB (see .ci/run)"


def test_postgres_status_names_the_variable(monkeypatch):
    monkeypatch.delenv(services.DATABASE_URL_ENV, raising=False)
    url, reason = services.postgres_status()
    assert url is None
    assert services.DATABASE_URL_ENV in reason


def test_redact_hides_the_password():
    assert services.redact("postgresql://u:s3cret@127.0.0.1:5432/db") == "postgresql://u:***@127.0.0.1:5432/db"
    assert services.redact("postgresql://127.0.0.1/db") == "postgresql://127.0.0.1/db"


# --- the never-skip-in-CI rule ------------------------------------------------------


def test_missing_service_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        services.unavailable("nothing here")


def test_missing_service_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing here"):
        services.unavailable("nothing here")


def test_optional_postgres_is_none_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv(services.DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert services.postgres_url(required=False) is None
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        services.postgres_url(required=False)


def test_a_wrong_browser_path_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv(services.BROWSER_ENV, str(tmp_path / "no-such-chromium"))
    path, reason = services.browser_status()
    assert path is None
    assert services.BROWSER_ENV in reason


# --- Chromium -----------------------------------------------------------------------


def test_chromium_clicks_and_screenshots(chromium_page, static_server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE, encoding="utf-8")
    base = static_server(site)
    assert base.startswith("http://127.0.0.1:")

    page = chromium_page
    response = page.goto(base + "index.html")
    assert response is not None and response.ok
    assert page.title() == "hepatrial infra check"
    assert page.text_content("#status") == "waiting"

    page.click("#go")
    page.wait_for_function("document.getElementById('status').textContent === 'clicked'")
    assert page.text_content("#status") == "clicked"

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


def test_chromium_is_debians(chromium, browser_executable):
    assert browser_executable
    major = int(chromium.version.split(".")[0])
    assert major >= 100, chromium.version
