"""Locks and electronic signatures in the web app (services.locks, services.signatures do
the work): an investigator signs a visit or a casebook on the subject's page; a data
manager locks a visit there, a record on its form, and the database on the locks page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hepatrial.services.access import Actor, can, visible_sites
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.locks import active_locks, describe, do_lock, do_unlock
from hepatrial.services.signatures import do_sign, needs_signing, signature_states, subject_signatures
from hepatrial.web.trial import views
from hepatrial.web.trial.models import FormEntry, Lock, Signature, Subject


def record_context(actor: Actor, subject: Subject, grid) -> dict:
    """What the subject's page shows of its signatures and locks."""
    locks = list(active_locks().filter(Q(subject=subject) | Q(scope=Lock.Scope.DATABASE)))
    saved_visits = [(row.visit_id, row.label) for row in grid if any(cell.entry for cell in row.cells)]
    signatures = subject_signatures(subject)
    return {
        "signatures": signature_states(subject, signatures),
        "needs_signing": needs_signing(subject, signatures),
        "can_sign": can(actor, "sign", subject.site) and bool(saved_visits),
        "sign_visits": saved_visits,
        "meanings": Signature.Meaning.choices,
        "locks": [(lock, describe(lock)) for lock in locks],
        "locked_visits": {lock.visit_id for lock in locks if lock.scope == Lock.Scope.VISIT},
        "database_locked": any(lock.scope == Lock.Scope.DATABASE for lock in locks),
        "can_lock": can(actor, "lock", subject.site),
        "lock_visits": [(row.visit_id, row.label) for row in grid],
    }


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


@login_required
@require_POST
def subject_sign(request, subject_id: str):
    actor = views._actor(request)
    subject = views._subject_or_404(actor, subject_id)
    try:
        signature = do_sign(actor, subject, visit_id=request.POST.get("visit_id", ""), meaning=request.POST.get("meaning", ""),
                            password=request.POST.get("password", ""))  # fmt: skip
    except ActionError as err:
        return views._render_subject(request, subject, status=err.status, error=err.message)
    messages.success(request, _("Signed %(what)s (%(meaning)s) as %(name)s.") % {
        "what": signature.visit_id or _("the casebook"), "meaning": signature.get_meaning_display(), "name": signature.printed_name})
    return redirect("subject_detail", subject_id=subject.subject_id)


@login_required
@require_POST
def subject_lock(request, subject_id: str):
    """Lock one of the subject's visits, or one record (a form entry)."""
    actor = views._actor(request)
    subject = views._subject_or_404(actor, subject_id)
    scope = request.POST.get("scope", "")
    visit_id = request.POST.get("visit_id", "")
    try:
        entry = None
        if scope == Lock.Scope.RECORD:
            try:
                sequence = int(request.POST.get("sequence", "1"))
            except ValueError:
                raise Invalid(_("The form's number is not a number."), field="sequence") from None
            entry = FormEntry.objects.filter(subject=subject, visit_id=visit_id, form_id=request.POST.get("form_id", ""),
                                             sequence=sequence).first()  # fmt: skip
            if entry is None:
                raise Invalid(_("Only a saved form can be locked."), field="form_id")
        elif scope != Lock.Scope.VISIT:
            raise Invalid(_("A subject's lock is of a visit or a record."), field="scope")
        lock = do_lock(actor, scope, subject=subject, visit_id=visit_id, entry=entry, reason=request.POST.get("reason", ""))
    except ActionError as err:
        return views._render_subject(request, subject, status=err.status, error=err.message)
    messages.success(request, describe(lock))
    return _back(request, reverse("subject_detail", args=[subject.subject_id]))


@login_required
@require_POST
def lock_unlock(request, pk: int):
    actor = views._actor(request)
    lock = get_object_or_404(Lock.objects.select_related("subject__site"), pk=pk)
    if lock.subject is not None and not visible_sites(actor).filter(pk=lock.subject.site_id).exists():
        raise Http404  # another site's: its existence never leaks
    try:
        do_unlock(actor, lock, reason=request.POST.get("reason", ""))
    except ActionError as err:
        return _render_locks(request, actor, error=err.message, status=err.status)
    messages.success(request, _("Unlocked: %(what)s.") % {"what": lock.record_label or lock.visit_id or _("the database")})
    return _back(request, reverse("lock_list"))


@login_required
def lock_list(request):
    """Every lock of the sites the user sees (in force, then lifted); a data manager locks
    the database here (POST, with the reason)."""
    actor = views._actor(request)
    if actor.profile is None:
        raise PermissionDenied
    if request.method == "POST":
        try:
            do_lock(actor, Lock.Scope.DATABASE, reason=request.POST.get("reason", ""))
        except ActionError as err:
            return _render_locks(request, actor, error=err.message, status=err.status)
        messages.success(request, _("The database is locked."))
        return redirect("lock_list")
    return _render_locks(request, actor)


def _render_locks(request, actor: Actor, *, error: str | None = None, status: int = 200):
    sites = visible_sites(actor)
    locks = list(Lock.objects.select_related("locked_by", "unlocked_by", "subject", "form_entry")
                 .filter(Q(subject__isnull=True) | Q(subject__site__in=sites)).order_by("-locked_at", "-pk"))  # fmt: skip
    active = [lock for lock in locks if lock.unlocked_at is None]
    return render(request, "trial/locks.html", {
        "active": [(lock, describe(lock)) for lock in active], "past": [lock for lock in locks if lock.unlocked_at is not None][:200],
        "can_lock": can(actor, "lock"), "database_locked": any(lock.scope == Lock.Scope.DATABASE for lock in active),
        "error": error,
    }, status=status)  # fmt: skip
