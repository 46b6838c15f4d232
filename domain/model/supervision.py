"""A supervision order (督办单): an inspector orders a department to act by a deadline.

Unanswered by its deadline, it is escalated as a red card (the alerter raises
``supervision_unanswered``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from domain import clock
from domain.calendar import WorkCalendar
from domain.errors import InvalidTransition
from domain.model.base import AlertRaisedEvent, HallAggregate, RecordContext, keep_topics, stream_id
from domain.vocabulary import OrderStatus


@keep_topics
class SupervisionOrder(HallAggregate):
    """An inspector's order (督办单) to a department, and the department's answer (反馈)."""

    STREAM = "supervision"

    if TYPE_CHECKING:
        order_id: str
        status: str
        case_id: str | None
        department: str
        inspector: str
        note: str
        due_date: date
        ordered_at: datetime
        answered_at: datetime | None
        reply: str | None
        alerts: list[dict[str, Any]]

    @classmethod
    def issue(
        cls,
        ctx: RecordContext,
        *,
        order_id: str,
        case_id: str | None,
        department: str,
        inspector: str,
        due_days: int,
        note: str,
        cal: WorkCalendar,
    ) -> SupervisionOrder:
        return cls._open(
            cls.Ordered,
            stream_id("supervision", order_id),
            ctx,
            order_id=order_id,
            case_id=case_id,
            department=department,
            inspector=inspector,
            due_days=due_days,
            note=note,
            due_date=clock.due_date(cal, ctx.day, due_days),
        )

    class Ordered(HallAggregate.Created):
        """督办: issued with a deadline for the department's answer (反馈)."""

        order_id: str
        case_id: str | None
        department: str
        inspector: str
        due_days: int
        note: str
        due_date: date

        def apply(self, o: SupervisionOrder) -> None:
            o.order_id = self.order_id
            o.case_id = self.case_id
            o.department = self.department
            o.inspector = self.inspector
            o.note = self.note
            o.due_date = self.due_date
            o.ordered_at = self.occurred_at
            o.status = self.next_status()
            o.answered_at = None
            o.reply = None
            o.alerts = []

    def answer(self, ctx: RecordContext, *, reply: str) -> None:
        if self.status != OrderStatus.ORDERED:
            raise InvalidTransition(f"supervision order {self.order_id} was already answered")
        self._emit(self.Answered, ctx, reply=reply, on_time=ctx.day <= self.due_date)

    class Answered(HallAggregate.Event):
        """反馈: the department answered."""

        reply: str
        on_time: bool

        def apply(self, o: SupervisionOrder) -> None:
            o.status = self.next_status()
            o.answered_at = self.occurred_at
            o.reply = self.reply

    class AlertRaised(AlertRaisedEvent):
        """督办超期未反馈: the department did not answer by the deadline (red card)."""
