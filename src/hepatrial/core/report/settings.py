"""What the report takes from a protocol: the arms in order and the control arm, the survival
days, the change-from-baseline days and how CONSORT words each exclusion criterion. One
place, for the report from the database and the report from hepatrial's own ADaM files."""

from __future__ import annotations

from typing import Any

from hepatrial.core.protocol import Protocol

#: The mark of the demo's simulated trial, on the report and beside its exported datasets.
SIMULATED_NOTICE = ("SIMULATED DATA: the demo's simulated trial (hepatrial demo-trial; the audit trail records it). "
                    "Every subject, value and event is invented; nothing here is evidence about MSC-EVs.")  # fmt: skip
#: The file an export of simulated data carries (read back by ``analyze --adam``).
SIMULATED_FILE = "SIMULATED-DATA.txt"


def mark_simulated(report: Any, numbers: dict[str, Any]) -> None:
    """Mark a report of the demo's simulated trial: its title, its first caveat and its numbers."""
    report.title = f"SIMULATED DATA - {report.title}"
    report.caveats.insert(0, SIMULATED_NOTICE)
    numbers["simulated"] = True


def short_criterion(text: str, limit: int = 30) -> str:
    """A criterion's text cut to fit a box of the CONSORT diagram."""
    text = " ".join(text.split()).rstrip(" ;,.:")
    return text if len(text) <= limit else text[: limit - 3].rstrip(" ;,.:") + "..."


def report_settings(protocol: Protocol) -> dict[str, Any]:
    """build_report's protocol arguments: ``arms`` (labels, in the randomization's order),
    ``reference_arm`` (the first arm that is not Experimental), ``at_days`` (survival_at_days),
    ``change_days``, ``reason_labels`` and ``protocol_outcomes``."""
    arm_ids = protocol.randomization.arms if protocol.randomization else [a.id for a in protocol.arms]
    label = {a.id: a.label for a in protocol.arms}
    return {
        "arms": [label.get(a, a) for a in arm_ids],
        "reference_arm": next((a.label for a in protocol.arms if a.id in arm_ids and a.type != "Experimental"), None),
        "at_days": [float(d) for d in protocol.parameter("survival_at_days", [28, 84, 168])],
        "change_days": [float(d) for d in protocol.parameter("change_days", [])],
        "reason_labels": {c.id: f"{c.id} {short_criterion(c.text)}" for _kind, c in protocol.all_criteria()},
        "protocol_outcomes": True,
    }
