"""Show times in the user's site's time zone; store them in UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.utils import timezone


class SiteTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        profile = getattr(request.user, "staff", None) if request.user.is_authenticated else None
        site = profile.sites.first() if profile else None
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
