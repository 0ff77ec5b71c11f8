"""The second step of signing in (services.two_factor does the work): entering the
authenticator app's code, and setting the app up the first time."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login

from hepatrial.services.access import Actor
from hepatrial.services.errors import AccountLockedOut, ActionError
from hepatrial.services.two_factor import (
    device_of,
    do_enrol,
    do_verify,
    key_text,
    needs_two_factor,
    qr_code_data_uri,
    start_enrolment,
)

#: the session's key of its device waiting for a first code (services.two_factor.start_enrolment)
PENDING = "two_factor_pending_device"


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


def _signed_in(request, device):
    """Both factors given: the session is marked verified, under a new session key."""
    otp_login(request, device)
    request.session.cycle_key()
    return redirect(_next(request) or "home")


def _locked_out(request, err: ActionError):
    """Locked out while giving the code: the half-signed session ends."""
    logout(request)
    messages.error(request, err.message)
    return redirect("login")


@never_cache
@login_required
def two_factor_verify(request):
    user = request.user
    if not needs_two_factor(user) or user.is_verified():
        return redirect(_next(request) or "home")
    if device_of(user) is None:
        return redirect("two_factor_setup")
    error, status = None, 200
    if request.method == "POST":
        try:
            device = do_verify(Actor(user), request.POST.get("code", ""))
        except AccountLockedOut as err:
            return _locked_out(request, err)
        except ActionError as err:
            error, status = err.message, err.status
        else:
            return _signed_in(request, device)
    return render(request, "trial/two_factor_verify.html", {"error": error, "next": _next(request)}, status=status)


@never_cache
@login_required
def two_factor_setup(request):
    """Set up an authenticator app (the first sign-in of a role that needs one), or, once
    set up and signed in, see that it is on."""
    user = request.user
    if not needs_two_factor(user):
        return render(request, "trial/two_factor_setup.html", {"not_needed": True})
    enrolled = device_of(user)
    if enrolled is not None:
        if not user.is_verified():
            return redirect("two_factor_verify")
        return render(request, "trial/two_factor_setup.html", {"enrolled": enrolled})
    pending_id = request.session.get(PENDING)
    device = start_enrolment(Actor(user), pending_id)  # this session's own key, never another's
    request.session[PENDING] = device.pk
    error, status = None, 200
    if request.method == "POST" and device.pk != pending_id:  # a page from another (or an ended) session
        error, status = _("This set-up page has expired: scan the new code below, then enter the code it shows."), 409
    elif request.method == "POST":
        try:
            device = do_enrol(Actor(user), device, request.POST.get("code", ""))
        except AccountLockedOut as err:
            return _locked_out(request, err)
        except ActionError as err:
            error, status = err.message, err.status
        else:
            del request.session[PENDING]
            messages.success(request, _("Two-factor sign-in is set up: from now on you sign in with your password and a code."))
            return _signed_in(request, device)
    context = {"device": device, "qr": qr_code_data_uri(device), "key": key_text(device), "error": error, "next": _next(request)}
    return render(request, "trial/two_factor_setup.html", context, status=status)
