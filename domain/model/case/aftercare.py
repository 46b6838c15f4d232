"""After a case is concluded (办结后): delivery, rating, and what other streams tell it
(supervision orders, complaints) and the alerts the alerter raises on it."""

from __future__ import annotations

from datetime import date

from domain import clock
from domain.calendar import WorkCalendar
from domain.errors import InvalidTransition
from domain.model.base import (
    AlertRaisedEvent,
    HallAggregate,
    RecordContext,
)
from domain.model.case.state import (
    CLOSED,
    CONCLUDED,
    CaseBase,
)
from domain.policy import Policy
from domain.vocabulary import (
    is_bad_rating,
)


class Aftercare(CaseBase):
    """送达, 好差评, 督办 and 投诉 links, 预警/超时."""

    # --- 送达: delivered ----------------------------------------------------------------

    def deliver(
        self, ctx: RecordContext, *, method: str, site_visits: int, cal: WorkCalendar
    ) -> None:
        if self.status != CONCLUDED:
            raise InvalidTransition(f"case {self.case_id} is not concluded: nothing to deliver")
        if self.delivered_at is not None:
            raise InvalidTransition(f"case {self.case_id} was already delivered")
        self.check_order(ctx, self.concluded_at, "conclusion")
        self._emit(self.Delivered, ctx, method=method, site_visits=site_visits)
        self._flag_backdated(ctx, cal)

    class Delivered(HallAggregate.Event):
        """送达: window pickup, post or electronic licence; counts site visits."""

        method: str
        site_visits: int

        def apply(self, case: CaseBase) -> None:
            case.delivered_at = self.occurred_at
            case.delivery_method = self.method
            case.site_visits = self.site_visits

    # --- 好差评: rated and answered -------------------------------------------------------

    def rate(
        self,
        ctx: RecordContext,
        *,
        level: int,
        comment: str | None,
        cal: WorkCalendar,
        policy: Policy,
    ) -> None:
        if self.status not in CLOSED:
            raise InvalidTransition(f"case {self.case_id} is not concluded: it cannot be rated yet")
        if self.rating is not None:
            raise InvalidTransition(f"case {self.case_id} was already rated ({self.rating})")
        self.check_order(ctx, self.concluded_at, "conclusion")
        bad = is_bad_rating(level)
        due = clock.due_date(cal, ctx.day, policy.bad_rating_answer_days) if bad else None
        self._emit(self.Rated, ctx, level=level, comment=comment, bad=bad, answer_due_date=due)
        self._flag_backdated(ctx, cal)

    class Rated(HallAggregate.Event):
        """好差评: level 1 (非常不满意) … 5 (非常满意); 1–2 is a bad review (差评)."""

        level: int
        comment: str | None
        bad: bool
        answer_due_date: date | None

        def apply(self, case: CaseBase) -> None:
            case.rating = self.level
            case.rated_at = self.occurred_at
            case.rating_answer_due = self.answer_due_date

    def answer_rating(self, ctx: RecordContext, *, reply: str, cal: WorkCalendar) -> None:
        if self.rating is None:
            raise InvalidTransition(f"case {self.case_id} has no rating to answer")
        if self.rating_answered_at is not None:
            raise InvalidTransition(f"the rating of case {self.case_id} was already answered")
        self.check_order(ctx, self.rated_at, "rating")
        on_time = None if self.rating_answer_due is None else ctx.day <= self.rating_answer_due
        self._emit(self.RatingAnswered, ctx, reply=reply, on_time=on_time)
        self._flag_backdated(ctx, cal)

    class RatingAnswered(HallAggregate.Event):
        """差评整改答复: the department's answer to a review."""

        reply: str
        on_time: bool | None

        def apply(self, case: CaseBase) -> None:
            case.rating_answered_at = self.occurred_at

    # --- what other streams tell the case --------------------------------------------------

    def link_supervision(
        self, ctx: RecordContext, *, order_id: str, inspector: str, note: str, due_date: date
    ) -> None:
        self._emit(
            self.SupervisionOrdered,
            ctx,
            order_id=order_id,
            inspector=inspector,
            note=note,
            due_date=due_date,
        )

    class SupervisionOrdered(HallAggregate.Event):
        """督办: an inspector ordered the department to act on this case."""

        order_id: str
        inspector: str
        note: str
        due_date: date

        def apply(self, case: CaseBase) -> None:
            case.orders[self.order_id] = {
                "inspector": self.inspector,
                "note": self.note,
                "due_date": self.due_date,
                "answered_at": None,
            }

    def link_supervision_answer(self, ctx: RecordContext, *, order_id: str, on_time: bool) -> None:
        self._emit(self.SupervisionAnswered, ctx, order_id=order_id, on_time=on_time)

    class SupervisionAnswered(HallAggregate.Event):
        """督办反馈: the department answered the order about this case."""

        order_id: str
        on_time: bool

        def apply(self, case: CaseBase) -> None:
            case.orders[self.order_id]["answered_at"] = self.occurred_at

    def link_complaint(self, ctx: RecordContext, *, complaint_id: str) -> None:
        self._emit(self.ComplaintLinked, ctx, complaint_id=complaint_id)

    class ComplaintLinked(HallAggregate.Event):
        """投诉: a complaint was filed about this case."""

        complaint_id: str

        def apply(self, case: CaseBase) -> None:
            case.complaints.append(self.complaint_id)

    class AlertRaised(AlertRaisedEvent):
        """预警/超时: a deadline passed with no new event; raised by the alerter, once."""
