"""Django settings for the hepatrial web app.

Typed from the environment, with an embedded SQLite database by default:
- HEPATRIAL_HOME          folder for the database, secret key and static files (default ./hepatrial-data)
- HEPATRIAL_DATABASE_URL  postgresql://user:pass@host:port/db to run on PostgreSQL instead
- HEPATRIAL_SECRET_KEY    the secret key (default: generated once into HEPATRIAL_HOME/secret_key)
- HEPATRIAL_DEBUG         1 for Django's debug pages (never in production)
- HEPATRIAL_ALLOWED_HOSTS comma-separated host names (default: localhost, 127.0.0.1)
- HEPATRIAL_PROTOCOL      the protocol the app runs (default: the packaged one)
- HEPATRIAL_HTTPS         1 when served over HTTPS (behind a TLS proxy that sets X-Forwarded-Proto):
                          secure cookies, HSTS, HTTP redirected to HTTPS (production; see docs/security.md)
- HEPATRIAL_SESSION_IDLE_MINUTES  an idle session ends after this many minutes (default 30)
- HEPATRIAL_TWO_FACTOR_ROLES  comma-separated roles that sign in with an authenticator app's
                          code after the password (default: investigator,admin; see docs/security.md)
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
    "django_otp",
    "django_otp.plugins.otp_totp",  # two-factor sign-in (services.two_factor)
    "ninja",  # serves the API docs' own static files (no CDN)
    "hepatrial.web.trial",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hepatrial.web.trial.middleware.SecurityHeadersMiddleware",
    "hepatrial.web.trial.middleware.WebMethodsMiddleware",
    "hepatrial.web.trial.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "hepatrial.web.trial.middleware.IdleSessionMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "hepatrial.web.trial.middleware.TwoFactorMiddleware",
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
            "CONN_MAX_AGE": 60,  # each server thread keeps its connection (opening one ran the PRAGMAs per request)
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

AUTHENTICATION_BACKENDS = ["hepatrial.web.trial.auth.StaffBackend"]  # Django's, loading the staff profile with the user

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

def _idle_minutes() -> int:
    raw = os.environ.get("HEPATRIAL_SESSION_IDLE_MINUTES", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= 24 * 60:
        raise ValueError(f"HEPATRIAL_SESSION_IDLE_MINUTES: a whole number of minutes from 1 to 1440, got {raw!r}")
    return int(raw)


def _two_factor_roles() -> tuple[str, ...]:
    known = ("coordinator", "investigator", "data_manager", "monitor", "statistician", "admin", "dsmb")
    raw = os.environ.get("HEPATRIAL_TWO_FACTOR_ROLES", "investigator,admin")
    chosen = tuple(r.strip() for r in raw.split(",") if r.strip())
    if unknown := [r for r in chosen if r not in known]:
        raise ValueError(f"HEPATRIAL_TWO_FACTOR_ROLES: {', '.join(unknown)} is not a role; the roles are {', '.join(known)}")
    return chosen


#: roles that sign in with a second factor (services.two_factor)
HEPATRIAL_TWO_FACTOR_ROLES = _two_factor_roles()
OTP_TOTP_ISSUER = "hepatrial"  # the name authenticator apps show next to the user name

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = _idle_minutes() * 60  # an idle session ends (trial.middleware.IdleSessionMiddleware)
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
#: Content-Security-Policy of every page (trial.middleware.SecurityHeadersMiddleware): nothing
#: inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Production: served over HTTPS by a proxy in front of hepatrial serve (gunicorn)
if os.environ.get("HEPATRIAL_HTTPS") == "1":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

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
