"""Thin views: read what the user may see, call an action, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from hepatrial.services.access import Actor, visible_sites
from hepatrial.web.trial.models import Screening, Subject


@login_required
def home(request):
    actor = Actor(request.user)
    sites = visible_sites(actor)
    return render(
        request,
        "trial/home.html",
        {
            "sites": sites,
            "subjects": Subject.objects.filter(site__in=sites).select_related("site"),
            "screenings": Screening.objects.filter(site__in=sites).select_related("site")[:50],
        },
    )
