"""Settings for the test suite: the app's settings, in a throwaway home.

With HEPATRIAL_TEST_DB=postgres the database tests run on the PostgreSQL at
HEPATRIAL_TEST_DATABASE_URL (.ci/run starts one); otherwise on SQLite.
"""

import os
import tempfile

os.environ.setdefault("HEPATRIAL_HOME", tempfile.mkdtemp(prefix="hepatrial-test-"))
os.environ.setdefault("HEPATRIAL_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
if os.environ.get("HEPATRIAL_TEST_DB") == "postgres":
    url = os.environ.get("HEPATRIAL_TEST_DATABASE_URL")
    if not url:
        raise RuntimeError("HEPATRIAL_TEST_DB=postgres needs HEPATRIAL_TEST_DATABASE_URL")
    os.environ["HEPATRIAL_DATABASE_URL"] = url

from hepatrial.web.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, as in production (WAL, IMMEDIATE transactions): the in-memory test
    # database uses shared-cache locking, which fails concurrent writers at once
    # ("table is locked") instead of queueing them as the real database does.
    DATABASES["default"]["TEST"] = {"NAME": str(HOME / "test.sqlite3")}  # noqa: F405
