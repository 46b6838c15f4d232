"""The status machine (状态流转): which status each event leaves its stream in.

The aggregates apply it, the ``cases``/``complaints``/``supervision_orders``
projectors apply it to their rows, and the as-of SQL is generated from it, so
the three can never disagree (docs/domain.md, "The case lifecycle").
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.vocabulary import CaseStatus, ComplaintStatus, CorrectionStage, OrderStatus

_INTAKE, _HANDLING = CorrectionStage.INTAKE.value, CorrectionStage.HANDLING.value

#: event name -> the status after it, or per correction stage for the two correction events.
STATUS_AFTER: Mapping[str, str | Mapping[str, str]] = {
    "case.submitted": CaseStatus.AWAITING_INTAKE.value,
    "case.accepted": CaseStatus.IN_PROGRESS.value,
    "case.rejected": CaseStatus.REJECTED.value,
    "case.correction_requested": {
        _INTAKE: CaseStatus.AWAITING_MATERIALS.value,
        _HANDLING: CaseStatus.CORRECTION_PAUSED.value,
    },
    "case.correction_received": {
        _INTAKE: CaseStatus.AWAITING_INTAKE.value,
        _HANDLING: CaseStatus.IN_PROGRESS.value,
    },
    "case.suspended": CaseStatus.SUSPENDED.value,
    "case.resumed": CaseStatus.IN_PROGRESS.value,
    "case.concluded": CaseStatus.CONCLUDED.value,
    "complaint.filed": ComplaintStatus.FILED.value,
    "complaint.accepted": ComplaintStatus.ACCEPTED.value,
    "complaint.rejected": ComplaintStatus.REJECTED.value,
    "complaint.assigned": ComplaintStatus.ASSIGNED.value,
    "complaint.replied": ComplaintStatus.REPLIED.value,
    "complaint.closed": ComplaintStatus.CLOSED.value,
    "supervision.ordered": OrderStatus.ORDERED.value,
    "supervision.answered": OrderStatus.ANSWERED.value,
}


def changes_status(name: str) -> bool:
    """True for the events that move their stream's status (the lifecycle events)."""
    return name in STATUS_AFTER


def status_after(name: str, stage: str | None = None) -> str:
    """The status an event leaves its stream in; ``stage`` for the correction events
    (``intake`` before acceptance, anything else after). KeyError for other events."""
    after = STATUS_AFTER[name]
    if isinstance(after, str):
        return after
    return after[_INTAKE if stage == _INTAKE else _HANDLING]


def lifecycle_events(stream: str) -> tuple[str, ...]:
    """The lifecycle events of a stream kind (``case``), short names (``accepted``)."""
    prefix = f"{stream}."
    return tuple(n[len(prefix) :] for n in STATUS_AFTER if n.startswith(prefix))
