"""Request-wide rules: the site's time zone, security headers, the methods web pages
answer, idle sessions and the second sign-in factor."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode


class SiteTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        profile = getattr(request.user, "staff", None) if request.user.is_authenticated else None
        site = min(profile.sites.all(), key=lambda s: s.pk, default=None) if profile else None  # (loaded with the user)
        if site is not None:
            timezone.activate(ZoneInfo(site.time_zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RejectNulMiddleware:
    """Refuse a request whose path, query or form fields contain a NUL character:
    no clinical value has one, and PostgreSQL cannot store or compare it (400,
    not a server error). The API checks its JSON bodies itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):  # the API answers in JSON, with its own NUL check
            return self.get_response(request)
        if "\x00" in request.path or self._has_nul(request.GET) or (
            request.method == "POST" and request.content_type != "application/json" and self._has_nul(request.POST)
        ):
            return HttpResponseBadRequest("A NUL character is not allowed in a request.")
        return self.get_response(request)

    @staticmethod
    def _has_nul(query) -> bool:
        return any("\x00" in key or any("\x00" in v for v in query.getlist(key)) for key in query)


class SecurityHeadersMiddleware:
    """A Content-Security-Policy and a Permissions-Policy on every response. The API's
    documentation page (Swagger UI, served from ninja's own static files) also needs the
    styles its script writes into the page."""

    PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if request.path.startswith("/api/docs"):
            policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        return response


class IdleSessionMiddleware:
    """An idle session ends SESSION_COOKIE_AGE seconds after the user's last activity: the
    session's expiry (its cookie's and its database row's) slides with each write of it.

    It is written at most once a minute, not on every request: writing the session on
    every page view made each read a database write, and on SQLite every write waits for
    the one database lock. So a session ends between one minute before and the moment
    SESSION_COOKIE_AGE after the last activity."""

    TOUCH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            now = int(time.time())
            seen = request.session.get("_seen")
            if seen is None or now - seen >= self.TOUCH_SECONDS:
                request.session["_seen"] = now  # saved by SessionMiddleware, its expiry renewed
        return response


class TwoFactorMiddleware:
    """A user whose role signs in with two factors (services.two_factor) and who has
    given only the password reaches nothing but the two-factor pages and logging out:
    every other page redirects to entering the code, or to setting up an authenticator
    first. The API answers such a session itself (web.api.SessionWithCsrf: 401)."""

    OPEN = frozenset({"two_factor_verify", "two_factor_setup", "logout", "login"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        from hepatrial.services.two_factor import is_enrolled, needs_two_factor

        match = request.resolver_match
        if match is None or match.namespace == "api" or match.url_name in self.OPEN:
            return None
        user = request.user
        if not needs_two_factor(user) or user.is_verified():
            return None
        target = "two_factor_verify" if is_enrolled(user) else "two_factor_setup"
        query = "?" + urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        return redirect(reverse(target) + query)


class WebMethodsMiddleware:
    """The web pages answer GET, HEAD and POST only (405 otherwise, before any view runs):
    a view that treats every method but POST as a read must not render for PUT or DELETE.
    The API declares its own methods per operation."""

    ALLOWED = ("GET", "HEAD", "POST")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in self.ALLOWED and not request.path.startswith("/api/"):
            return HttpResponseNotAllowed(self.ALLOWED)
        return self.get_response(request)
