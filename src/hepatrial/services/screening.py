"""Screening a candidate and the investigator's eligibility decision."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.candidate import ScreeningInputError, parse_candidate
from hepatrial.core.screening import screen
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import EligibilityDecision, Identity, Screening, Site

IDENTITY_FIELDS = ("name", "hospital_record_number", "phone")


def invalid_candidate(err: ScreeningInputError) -> Invalid:
    errors: dict[str, list[str]] = {}
    for path, reason in err.problems:
        errors.setdefault(path, []).append(reason)
    return Invalid(_("The screening data has errors; nothing was saved."), errors=errors)


@transaction.atomic
def do_screen(actor: Actor, site: Site, candidate_data: dict[str, Any], identity: dict[str, str] | None = None) -> Screening:
    """Validate the candidate, run the protocol's screening, keep it in the screening log."""
    require(actor, "screen", site)
    protocol = current_protocol()
    try:
        candidate = parse_candidate(candidate_data)
    except ScreeningInputError as err:
        raise invalid_candidate(err) from None
    result = screen(candidate, protocol)
    out = result.to_dict()
    screening = Screening.objects.create(
        site=site,
        protocol_id=protocol.id,
        screened_at=timezone.now(),
        screened_by=actor.user,
        assessed_at=candidate.assessed_at,
        age=candidate.age,
        sex=candidate.sex or "",
        candidate=candidate.model_dump(mode="json"),
        result=out,
        verdict=result.verdict,
        failing=[c.id for c in result.criteria if c.excludes],
    )
    record(actor, "screen", screening, new={"verdict": result.verdict, "failing": screening.failing}, site=site)
    identity = {k: (identity or {}).get(k, "").strip() for k in IDENTITY_FIELDS}
    if any(identity.values()):
        person = Identity.objects.create(screening=screening, **identity)
        record(actor, "create_identity", person, new={k: bool(v) for k, v in identity.items()}, site=site)
    return screening


@transaction.atomic
def do_decide_eligibility(actor: Actor, screening: Screening, decision: str, reason: str = "") -> EligibilityDecision:
    """The investigator confirms the computed verdict, overrides it (with a reason), or declines."""
    screening = Screening.objects.select_for_update(no_key=True).get(pk=screening.pk)
    require(actor, "decide_eligibility", screening.site)
    choices = EligibilityDecision.Decision
    if decision not in choices.values:
        raise Invalid(_("Unknown decision."), field="decision")
    reason = reason.strip()
    if decision == choices.CONFIRMED and screening.verdict != "eligible":
        raise ActionError(_("The screening is not 'eligible': override with a reason instead."), field="decision")
    if decision == choices.OVERRIDDEN:
        if not reason:
            raise Invalid(_("An override needs a reason."), field="reason")
        if screening.failing:
            # GCP allows no eligibility waivers: an investigator resolves what the
            # data left unknown, never a criterion the data decided.
            raise ActionError(
                _("An override can only resolve criteria the data left unknown; %(ids)s excluded the candidate.")
                % {"ids": ", ".join(screening.failing)},
                field="decision",
            )
    if decision == choices.NOT_ELIGIBLE and screening.verdict == "eligible" and not reason:
        raise Invalid(_("Say why a candidate the criteria found eligible is not eligible."), field="reason")
    existing = EligibilityDecision.objects.filter(screening=screening).first()
    now = timezone.now()
    if existing is None:
        made = EligibilityDecision.objects.create(
            screening=screening, decision=decision, reason=reason, decided_by=actor.user, decided_at=now
        )
        record(actor, "decide_eligibility", made, field="decision", new=decision, reason=_with_unknown(screening, reason),
               site=screening.site)  # fmt: skip
        return made
    if hasattr(screening, "subject"):
        raise ActionError(_("The subject is enrolled; the eligibility decision can no longer change."))
    if not reason:
        raise Invalid(_("Changing a recorded decision needs a reason."), field="reason")
    old = existing.decision
    existing.decision, existing.reason, existing.decided_by, existing.decided_at = decision, reason, actor.user, now
    existing.save()
    record(actor, "decide_eligibility", existing, field="decision", old=old, new=decision,
           reason=_with_unknown(screening, reason), site=screening.site)  # fmt: skip
    return existing


def unknown_criteria(screening: Screening) -> list[str]:
    return [c["id"] for c in screening.result.get("criteria", []) if c.get("status") == "unknown"]


def _with_unknown(screening: Screening, reason: str) -> str:
    """The reason as given, with the criteria the decision resolves (an override's subject)."""
    unknown = unknown_criteria(screening)
    return f"{reason} [unknown criteria resolved: {', '.join(unknown)}]" if unknown and reason else reason
