"""Django settings for the hepatrial web app.

Typed from the environment, with an embedded SQLite database by default:
- HEPATRIAL_HOME          folder for the database, secret key and static files (default ./hepatrial-data)
- HEPATRIAL_DATABASE_URL  postgresql://user:pass@host:port/db to run on PostgreSQL instead
- HEPATRIAL_SECRET_KEY    the secret key (default: generated once into HEPATRIAL_HOME/secret_key)
- HEPATRIAL_DEBUG         1 for Django's debug pages (never in production)
- HEPATRIAL_ALLOWED_HOSTS comma-separated host names (default: localhost, 127.0.0.1)
- HEPATRIAL_PROTOCOL      the protocol the app runs (default: the packaged one)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

HOME = Path(os.environ.get("HEPATRIAL_HOME", "hepatrial-data")).resolve()
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("HEPATRIAL_SECRET_KEY"):
        return key
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("HEPATRIAL_DEBUG") == "1"
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("HEPATRIAL_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")]
HEPATRIAL_PROTOCOL = os.environ.get("HEPATRIAL_PROTOCOL") or None

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the API docs' own static files (no CDN)
    "hepatrial.web.trial",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hepatrial.web.trial.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hepatrial.web.trial.middleware.SiteTimeZoneMiddleware",
]

ROOT_URLCONF = "hepatrial.web.urls"
WSGI_APPLICATION = "hepatrial.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hepatrial.web.trial.context.trial_context",
            ],
        },
    },
]

if url := os.environ.get("HEPATRIAL_DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": HOME / "hepatrial.sqlite3",
            "OPTIONS": {
                # Django 5.1+: writers take the lock at BEGIN, so concurrent saves queue
                # instead of failing with "database is locked" half-way through.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True
TIME_ZONE = "UTC"  # stored in UTC; shown in the site's time zone (SiteTimeZoneMiddleware)
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "static"]
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 30 * 60  # idle sessions end after 30 minutes
SESSION_SAVE_EVERY_REQUEST = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Safety alerts (new SAEs, overdue SAE reports, tripped stopping rules) are e-mailed
# to HEPATRIAL_SAFETY_EMAILS (comma-separated). With HEPATRIAL_EMAIL_HOST they go by
# SMTP (HEPATRIAL_EMAIL_PORT, _USER, _PASSWORD, _TLS=1); without it, to the console
# (the demo).
SAFETY_EMAILS = [a.strip() for a in os.environ.get("HEPATRIAL_SAFETY_EMAILS", "safety@localhost").split(",") if a.strip()]
DEFAULT_FROM_EMAIL = os.environ.get("HEPATRIAL_EMAIL_FROM", "hepatrial@localhost")
if os.environ.get("HEPATRIAL_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["HEPATRIAL_EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("HEPATRIAL_EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("HEPATRIAL_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("HEPATRIAL_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = os.environ.get("HEPATRIAL_EMAIL_TLS") == "1"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
