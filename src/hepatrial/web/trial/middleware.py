"""Show times in the user's site's time zone; store them in UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

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
