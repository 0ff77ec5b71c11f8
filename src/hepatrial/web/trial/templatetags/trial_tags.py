"""Template helpers: times in a site's zone and in UTC, stored JSON values as text."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

register = template.Library()

TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


@register.filter(expects_localtime=True, is_safe=False)  # (as Django's date: a date-time arrives in the active zone)
def ymd(value) -> str:
    """A date as YYYY-MM-DD: what ``|date:"Y-m-d"`` gives, without its general formatting
    machinery (the subject's page shows dozens of dates). A date-time, or anything else, still
    goes through ``date`` (a date-time in the active time zone)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return date_filter(value, "Y-m-d")


@register.filter
def site_time(value: datetime | None, site=None) -> str:
    """``value`` in ``site``'s time zone (the active zone without a site)."""
    if value is None:
        return ""
    if site is not None and getattr(site, "time_zone", None):
        return value.astimezone(ZoneInfo(site.time_zone)).strftime(TIME_FORMAT)
    return timezone.localtime(value).strftime(TIME_FORMAT)


@register.filter
def utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")


def json_text(value) -> str:
    """A stored audit value as people read it: '' for none, text as is, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return json.dumps(value, ensure_ascii=False)


register.filter("json_text", json_text)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def humanize_id(value: str) -> str:
    return str(value).replace("_", " ")


FORM_STATUS = {
    "missing": gettext_lazy("missing"),
    "started": gettext_lazy("started"),
    "complete": gettext_lazy("complete"),
    "queried": gettext_lazy("queried"),
}


@register.filter
def form_status(value: str) -> str:
    """A visit-grid status as the page shows it (translated)."""
    return FORM_STATUS.get(value, value)


@register.filter(name="arm_label")
def arm_label_filter(arm_id: str) -> str:
    """An arm's label from the protocol (its id if unknown)."""
    from hepatrial.services.protocol import arm_label

    return arm_label(arm_id)


DOSE_STATUS = {
    "upcoming": gettext_lazy("upcoming"),
    "due": gettext_lazy("due now"),
    "overdue": gettext_lazy("overdue (window passed)"),
    "given": gettext_lazy("given"),
    "given_out_of_window": gettext_lazy("given outside its window"),
    "not_given": gettext_lazy("not given"),
    "started": gettext_lazy("entry incomplete"),
    "stopped": gettext_lazy("stopped (consent withdrawn)"),
}


@register.filter
def dose_status(value: str) -> str:
    """A dosing-calendar status as the page shows it (translated)."""
    return DOSE_STATUS.get(value, value)


@register.filter
def hours_left(value) -> str:
    """A timedelta as 'h h m min left' (or 'due now')."""
    seconds = int(value.total_seconds()) if value is not None else 0
    if seconds <= 0:
        return gettext_lazy("due now")
    return f"{seconds // 3600} h {seconds % 3600 // 60} min " + str(gettext_lazy("left"))
