"""Electronic signatures (21 CFR 11.50, 11.70, 11.100, 11.200): an investigator signs one
visit of a subject, or the subject's whole casebook, by entering their password again.

A signature shows the signer's printed name, the date and time, and its meaning. It is
bound to the signed content: SHA-256 over every form entry it covers, in one canonical
form. Any later change to that content voids it. The void is audited, and the visit or
casebook shows as needing a new signature. A signature whose stored hash no longer
matches the content is shown as broken, whatever its state says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.audit_chain import canonical_json
from hepatrial.services.access import Actor, require
from hepatrial.services.accounts import locked_out_until, record_access
from hepatrial.services.audit import hold_chain, record
from hepatrial.services.errors import Invalid, NotAllowed
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import FormEntry, Signature, Subject


def signed_entries(subject: Subject, visit_id: str = ""):
    """The form entries a signature of ``visit_id`` (the whole casebook if empty) covers."""
    entries = FormEntry.objects.filter(subject=subject)
    if visit_id:
        entries = entries.filter(visit_id=visit_id)
    return entries.order_by("visit_id", "form_id", "sequence")


def content_hash(subject: Subject, visit_id: str = "") -> tuple[str, int]:
    """(SHA-256 of what a signature of ``visit_id`` covers, how many form entries)."""
    return _digest(subject, visit_id, signed_entries(subject, visit_id))


def content_hashes(subject: Subject, visit_ids) -> dict[str, str]:
    """``content_hash(subject, v)[0]`` for each of ``visit_ids`` ("" the casebook), from one
    query: the casebook's entries in the order signed_entries gives (the database's), each
    visit's a part of it in the same order."""
    everything = list(signed_entries(subject))
    return {v: _digest(subject, v, [e for e in everything if e.visit_id == v] if v else everything)[0] for v in set(visit_ids)}


def _digest(subject: Subject, visit_id: str, entries) -> tuple[str, int]:
    rows = [{"visit_id": e.visit_id, "form_id": e.form_id, "sequence": e.sequence,
             "visit_date": e.visit_date.isoformat() if e.visit_date else None, "status": e.status, "data": e.data}
            for e in entries]  # fmt: skip
    body = canonical_json({"subject": subject.subject_id, "visit": visit_id, "entries": rows})
    return hashlib.sha256(body).hexdigest(), len(rows)


def printed_name(user) -> str:
    return user.get_full_name().strip() or user.get_username()


def do_sign(actor: Actor, subject: Subject, *, visit_id: str = "", meaning: str, password: str) -> Signature:
    """Sign ``subject``'s ``visit_id`` (its casebook if empty), re-authenticating with
    ``password``. A wrong password is refused and audited (in a transaction of its own)."""
    require(actor, "sign", subject.site)
    if visit_id and visit_id not in {v.id for v in current_protocol().visits}:
        raise Invalid(_("The protocol has no visit %(visit)s.") % {"visit": visit_id}, field="visit_id")
    if meaning not in Signature.Meaning.values:
        raise Invalid(_("Choose what the signature means."), field="meaning")
    if (until := locked_out_until(actor.user.get_username())) is not None:
        raise NotAllowed(_("Too many failed attempts: signing is locked until %(until)s UTC.") % {"until": f"{until:%H:%M}"},
                         field="password")  # fmt: skip
    if not password or not actor.user.check_password(password):
        record_access("signature_failed", username=actor.user.get_username(), user=actor.user, route=actor.route,
                      detail=f"wrong password signing {subject.subject_id} {visit_id or 'casebook'}")  # fmt: skip
        raise NotAllowed(_("The password is not right: nothing was signed."), field="password")
    return _sign(actor, subject, visit_id, meaning)


@transaction.atomic
def _sign(actor: Actor, subject: Subject, visit_id: str, meaning: str) -> Signature:
    hold_chain()  # no save passes between reading the content and signing it
    digest, count = content_hash(subject, visit_id)
    if count == 0:
        raise Invalid(_("There is nothing to sign: no form of it has been saved."), field="visit_id")
    signature = Signature.objects.create(
        subject=subject, visit_id=visit_id, signer=actor.user, printed_name=printed_name(actor.user), meaning=meaning,
        signed_at=timezone.now(), content_hash=digest, entries=count,
    )  # fmt: skip
    record(actor, "sign", signature, new=signature.summary(), site=subject.site, subject_id=subject.subject_id)
    return signature


def void_signatures(actor: Actor, subject: Subject, visit_id: str, what: str) -> list[Signature]:
    """Void the signatures a change to ``subject``'s ``visit_id`` breaks (that visit's and
    the casebook's); called inside the changing action's transaction."""
    voided = []
    now = timezone.now()
    for signature in Signature.objects.filter(subject=subject, voided_at__isnull=True, visit_id__in=(visit_id, "")):
        signature.voided_at = now
        signature.void_reason = _("%(what)s changed by %(user)s") % {"what": what, "user": actor.user.get_username()}
        signature.save(update_fields=["voided_at", "void_reason"])
        record(actor, "void_signature", signature, old=signature.summary(), reason=signature.void_reason,
               site=subject.site, subject_id=subject.subject_id)  # fmt: skip
        voided.append(signature)
    return voided


@dataclass(frozen=True)
class SignatureState:
    signature: Signature
    state: str  # valid | void | broken (content differs from what was signed, yet not voided)


def subject_signatures(subject: Subject) -> list[Signature]:
    """Every signature of ``subject``, oldest first (one query, for the two functions below)."""
    return list(subject.signatures.select_related("signer").order_by("signed_at", "pk"))


def signature_states(subject: Subject, signatures: list[Signature] | None = None) -> list[SignatureState]:
    """Every signature of ``subject`` (``signatures``: as :func:`subject_signatures` gave them),
    newest first, each checked against the content now."""
    signatures = subject_signatures(subject) if signatures is None else signatures
    standing = [signature.visit_id for signature in signatures if signature.voided_at is None]
    hashes = content_hashes(subject, standing) if standing else {}
    states = []
    for signature in reversed(signatures):
        if signature.voided_at is not None:
            states.append(SignatureState(signature, "void"))
            continue
        states.append(SignatureState(signature, "valid" if hashes[signature.visit_id] == signature.content_hash else "broken"))
    return states


def needs_signing(subject: Subject, signatures: list[Signature] | None = None) -> list[str]:
    """The visits (and "" for the casebook) whose latest signature was voided and not renewed
    (``signatures``: as :func:`subject_signatures` gave them)."""
    latest: dict[str, Signature] = {}
    for signature in subject_signatures(subject) if signatures is None else signatures:
        latest[signature.visit_id] = signature
    return [visit for visit, s in latest.items() if s.voided_at is not None]
