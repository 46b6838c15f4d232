"""A complaint (投诉) about a case or a department, filed online or through 12345.

Commands sit next to the events they trigger; the status after each event is in
domain/lifecycle.py, the deadlines are computed by domain/clock.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from domain import clock
from domain.calendar import WorkCalendar
from domain.errors import InvalidTransition
from domain.model.base import AlertRaisedEvent, HallAggregate, RecordContext, keep_topics, stream_id
from domain.policy import Policy
from domain.vocabulary import ComplaintStatus, ViolationKind


@keep_topics
class Complaint(HallAggregate):
    """A complaint, its acceptance and reply deadlines, and how it ended."""

    STREAM = "complaint"

    if TYPE_CHECKING:
        complaint_id: str
        status: str
        case_id: str | None
        department: str
        channel: str
        content: str
        filed_at: datetime
        accept_due_date: date
        accepted_at: datetime | None
        reply_due_date: date | None
        replied_at: datetime | None
        closed_at: datetime | None
        satisfied: bool | None
        assigned_to: str | None
        rejection_reason: str | None
        violations: list[dict[str, Any]]
        alerts: list[dict[str, Any]]

    @classmethod
    def file(
        cls,
        ctx: RecordContext,
        *,
        complaint_id: str,
        case_id: str | None,
        department: str,
        channel: str,
        content: str,
        cal: WorkCalendar,
        policy: Policy,
    ) -> Complaint:
        return cls._open(
            cls.Filed,
            stream_id("complaint", complaint_id),
            ctx,
            complaint_id=complaint_id,
            case_id=case_id,
            department=department,
            channel=channel,
            content=content,
            accept_due_date=clock.due_date(cal, ctx.day, policy.complaint_accept_days),
        )

    class Filed(HallAggregate.Created):
        """投诉受理登记: filed, with the acceptance deadline."""

        complaint_id: str
        case_id: str | None
        department: str
        channel: str
        content: str
        accept_due_date: date

        def apply(self, c: Complaint) -> None:
            c.complaint_id = self.complaint_id
            c.case_id = self.case_id
            c.department = self.department
            c.channel = self.channel
            c.content = self.content
            c.status = self.next_status()
            c.filed_at = self.occurred_at
            c.accept_due_date = self.accept_due_date
            c.accepted_at = c.reply_due_date = c.replied_at = c.closed_at = None
            c.satisfied = c.assigned_to = c.rejection_reason = None
            c.violations = []
            c.alerts = []

    def accept(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_status("acceptance", {ComplaintStatus.FILED})
        self._emit(
            self.Accepted,
            ctx,
            on_time=ctx.day <= self.accept_due_date,
            reply_due_date=clock.due_date(cal, ctx.day, policy.complaint_reply_days),
        )

    class Accepted(HallAggregate.Event):
        """投诉受理, with the reply deadline."""

        on_time: bool
        reply_due_date: date

        def apply(self, c: Complaint) -> None:
            c.status = self.next_status()
            c.accepted_at = self.occurred_at
            c.reply_due_date = self.reply_due_date

    def reject(self, ctx: RecordContext, *, reason: str | None) -> None:
        self.check_status("rejection", {ComplaintStatus.FILED})
        self._emit(self.Rejected, ctx, reason=reason or "")
        if not (reason or "").strip():
            self._emit(
                self.ViolationFlagged,
                ctx,
                violation=ViolationKind.MISSING_REASON.value,
                detail="complaint rejected without a stated reason",
            )

    class Rejected(HallAggregate.Event):
        """投诉不予受理, with a reason."""

        reason: str

        def apply(self, c: Complaint) -> None:
            c.status = self.next_status()
            c.rejection_reason = self.reason
            c.closed_at = self.occurred_at

    def assign(self, ctx: RecordContext, *, department: str) -> None:
        self.check_status("assignment", {ComplaintStatus.ACCEPTED, ComplaintStatus.ASSIGNED})
        self._emit(self.Assigned, ctx, department=department)

    class Assigned(HallAggregate.Event):
        """转办: handed to the department that must answer."""

        department: str

        def apply(self, c: Complaint) -> None:
            c.status = self.next_status()
            c.assigned_to = self.department

    def reply(self, ctx: RecordContext, *, reply: str) -> None:
        self.check_status("a reply", {ComplaintStatus.ACCEPTED, ComplaintStatus.ASSIGNED})
        assert self.reply_due_date is not None
        self._emit(self.Replied, ctx, reply=reply, on_time=ctx.day <= self.reply_due_date)

    class Replied(HallAggregate.Event):
        """答复."""

        reply: str
        on_time: bool

        def apply(self, c: Complaint) -> None:
            c.status = self.next_status()
            c.replied_at = self.occurred_at

    def close(self, ctx: RecordContext, *, satisfied: bool | None) -> None:
        self.check_status("closing", {ComplaintStatus.REPLIED})
        self._emit(self.Closed, ctx, satisfied=satisfied)

    class Closed(HallAggregate.Event):
        """回访 and closed; whether the complainant was satisfied."""

        satisfied: bool | None

        def apply(self, c: Complaint) -> None:
            c.status = self.next_status()
            c.closed_at = self.occurred_at
            c.satisfied = self.satisfied

    class ViolationFlagged(HallAggregate.Event):
        """违规 on the complaint's handling (e.g. rejected without a reason)."""

        violation: str
        detail: str

        def apply(self, c: Complaint) -> None:
            c.violations.append({"violation": self.violation, "detail": self.detail})

    class AlertRaised(AlertRaisedEvent):
        """投诉超时: acceptance or reply past its deadline; raised by the alerter, once."""

    def check_status(self, what: str, allowed: set[str]) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"complaint {self.complaint_id} is {self.status}: {what} is not possible now"
            )

    def latest_activity(self) -> datetime:
        """When the complaint last moved (filed, accepted or replied): no later record of
        it may claim to have happened before."""
        return max(t for t in (self.filed_at, self.accepted_at, self.replied_at) if t is not None)
