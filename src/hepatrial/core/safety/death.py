"""One rule for a subject's death: which date, which cause, from which record.

The safety metrics (stopping rules), the ADaM datasets and the report must agree on
who died and when, so they all ask this module. The outcome form's date of death is
the recorded fact (ADaM DTHDOM "DS", disposition); a fatal adverse event without an
outcome form saying so is used until that form is filled in (DTHDOM "AE"), dated by
the event's onset, which is the only date the AE form carries: the death may have
come later, so the date is an earliest bound, and the listing says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Death:
    on: date
    cause: str  # the outcome form's cause of death, or the fatal AE's term
    domain: str  # "DS": the outcome form; "AE": a fatal adverse event's onset


def resolve_death(outcome_deaths: list[tuple[date, str]], fatal_events: list[tuple[date, str]]) -> Death | None:
    """``outcome_deaths``: (date of death, cause) from each outcome form saying died;
    ``fatal_events``: (onset, term) of each adverse event whose outcome is fatal.
    The outcome form wins (its earliest date if two forms disagree); else the earliest
    fatal event; None if neither records a death."""
    if outcome_deaths:
        on, cause = min(outcome_deaths, key=lambda d: d[0])
        if not cause:  # the form's cause left empty: the fatal event's term, if one was recorded
            cause = next((term for _, term in sorted(fatal_events) if term), "")
        return Death(on, cause, "DS")
    if fatal_events:
        on, term = min(fatal_events, key=lambda d: d[0])
        return Death(on, term, "AE")
    return None
