"""A case's handling (办理): approval steps, special procedures, the extension, the
conclusion; the clocks that run, pause and move while it is handled."""

from __future__ import annotations

from datetime import date

from domain import clock
from domain.calendar import WorkCalendar
from domain.errors import InvalidTransition, NotAllowed
from domain.model.base import HallAggregate, RecordContext
from domain.model.case.state import (
    ONLY_IN_PROGRESS,
    OPEN_BEFORE_ACCEPTANCE,
    SUSPENDED,
    CaseBase,
    resume_clock,
)
from domain.policy import Policy
from domain.vocabulary import (
    ACCEPTED_OPEN,
    Decision,
    Outcome,
    ViolationKind,
)


class Handling(CaseBase):
    """审批环节, 特别程序, 延期 and 办结."""

    # --- 审批环节: step started and completed ---------------------------------------------

    def start_step(
        self,
        ctx: RecordContext,
        *,
        step: str,
        handler: str,
        department: str | None,
        cal: WorkCalendar,
    ) -> None:
        self.check_open(f"step '{step}'")
        st = self.check_step(step)
        if self.status in OPEN_BEFORE_ACCEPTANCE:
            raise InvalidTransition(
                f"case {self.case_id} is not accepted yet: step '{step}' cannot start"
            )
        self.check_status(f"starting step '{step}'", ONLY_IN_PROGRESS)
        self._check_handling(ctx)
        if st.running:
            raise InvalidTransition(
                f"step '{step}' of case {self.case_id} is already running since {st.started_on}"
            )
        base, base_pause = self._step_base()
        due = clock.due_date(cal, base, st.days + (self.pause_days - base_pause))
        self._emit(
            self.StepStarted, ctx, step=step, handler=handler, department=department, due_date=due
        )
        self._flag_backdated(ctx, cal)

    class StepStarted(HallAggregate.Event):
        """审批环节开始, with the step's own due date."""

        step: str
        handler: str
        department: str | None
        due_date: date

        def apply(self, case: CaseBase) -> None:
            st = case.steps[self.step]
            st.started_on = clock.local_date(self.occurred_at)
            st.started_at = self.occurred_at
            if case.next_step == self.step:  # the step waiting for its start has started
                case.next_step = case.next_step_due = None
            st.handler = self.handler
            st.due_date = self.due_date
            st.completed_on = st.decision = st.on_time = None
            st.running = True

    def complete_step(
        self,
        ctx: RecordContext,
        *,
        step: str,
        handler: str,
        decision: str,
        opinion: str | None,
        cal: WorkCalendar,
    ) -> None:
        self.check_open(f"step '{step}'")
        st = self.check_step(step)
        self.check_status(f"completing step '{step}'", ONLY_IN_PROGRESS)
        if not st.running:
            raise InvalidTransition(f"step '{step}' of case {self.case_id} was not started")
        self._check_handling(ctx)
        self.check_order(ctx, st.started_at, f"start of step '{step}'")
        assert st.due_date is not None
        waiting = self._waiting_step(step, decision)
        self._emit(
            self.StepCompleted,
            ctx,
            step=step,
            handler=handler,
            decision=decision,
            opinion=opinion,
            on_time=ctx.day <= st.due_date,
            next_step=waiting,
            next_step_due=(
                None if waiting is None else clock.due_date(cal, ctx.day, self.steps[waiting].days)
            ),
        )
        self._flag_backdated(ctx, cal)

    class StepCompleted(HallAggregate.Event):
        """审批环节完成: pass, return (退回) or deny."""

        step: str
        handler: str
        decision: str
        opinion: str | None
        on_time: bool
        next_step: str | None
        next_step_due: date | None

        def apply(self, case: CaseBase) -> None:
            case.next_step = self.__dict__.get("next_step")
            case.next_step_due = self.__dict__.get("next_step_due")
            st = case.steps[self.step]
            st.completed_on = clock.local_date(self.occurred_at)
            st.completed_at = self.occurred_at
            st.decision = self.decision
            st.on_time = self.on_time
            st.running = False
            st.handler = self.handler
            case.last_completion = st.completed_on
            case.last_completion_pause = case.pause_days

    # --- 特别程序: suspended and resumed ---------------------------------------------------

    def suspend(
        self,
        ctx: RecordContext,
        *,
        procedure: str,
        reason: str,
        expected_days: int,
        cal: WorkCalendar,
    ) -> None:
        self.check_open("suspension")
        if not self.item.suspendable:
            raise NotAllowed(
                f"item {self.item.item_code} does not allow special procedures: the clock cannot "
                "be suspended"
            )
        if self.status == SUSPENDED:
            raise InvalidTransition(f"case {self.case_id} is already suspended")
        self.check_status("suspension", ONLY_IN_PROGRESS)
        self._check_handling(ctx)
        count = self.suspensions + 1
        self._emit(
            self.Suspended,
            ctx,
            procedure=procedure,
            reason=reason,
            expected_days=expected_days,
            expected_resume=clock.due_date(cal, ctx.day, expected_days),
            count=count,
        )
        if count >= 2:
            self._flag(
                ctx, ViolationKind.REPEATED_SUSPENSION, f"suspension no. {count} ({procedure})"
            )
        self._flag_backdated(ctx, cal)

    class Suspended(HallAggregate.Event):
        """特别程序 (art. 45): hearing, testing, expert review…; the clock stops."""

        procedure: str
        reason: str
        expected_days: int
        expected_resume: date
        count: int

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            case.suspensions = self.count
            case.suspended_at = self.occurred_at
            case.paused_since = clock.local_date(self.occurred_at)
            case.suspension = {
                "procedure": self.procedure,
                "reason": self.reason,
                "since": case.paused_since.isoformat(),
                "expected_resume": self.expected_resume.isoformat(),
            }

    def resume(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_open("resumption")
        if self.status != SUSPENDED:
            raise InvalidTransition(f"case {self.case_id} is not suspended: nothing to resume")
        self._check_handling(ctx)
        self.check_order(ctx, self.suspended_at, "suspension")
        self._emit(self.Resumed, ctx, **self._after_pause(ctx, cal, policy))
        self._flag_backdated(ctx, cal)

    class Resumed(HallAggregate.Event):
        """特别程序结束: the due date moves back by the working days paused."""

        paused_days: int
        due_date: date
        warn_date: date
        legal_due_date: date
        step_due_dates: tuple[tuple[str, date], ...]
        next_step_due: date | None

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            case.suspension = None
            resume_clock(case, self)

    # --- 延期: extended -----------------------------------------------------------------

    def extend(
        self,
        ctx: RecordContext,
        *,
        days: int,
        reason: str,
        approved_by: str,
        cal: WorkCalendar,
        policy: Policy,
    ) -> None:
        self.check_open("an extension")
        if self.status in OPEN_BEFORE_ACCEPTANCE:
            raise InvalidTransition(f"case {self.case_id} is not accepted yet: nothing to extend")
        self._check_handling(ctx)
        if self.extended_on is not None:
            raise NotAllowed(
                f"case {self.case_id} was already extended on {self.extended_on}: "
                "one extension per case"
            )
        if self.item.extension_days == 0:
            raise NotAllowed(f"item {self.item.item_code} allows no extension")
        if days > self.item.extension_days:
            raise NotAllowed(
                f"an extension of {days} working days exceeds the {self.item.extension_days} "
                f"allowed for item {self.item.item_code}"
            )
        due, warn, legal = self._dates(cal, policy, self.pause_days + days)
        self._emit(
            self.Extended,
            ctx,
            days=days,
            reason=reason,
            approved_by=approved_by,
            due_date=due,
            warn_date=warn,
            legal_due_date=legal,
        )
        self._flag_backdated(ctx, cal)

    class Extended(HallAggregate.Event):
        """延期 (art. 42): once, approved, with a reason."""

        days: int
        reason: str
        approved_by: str
        due_date: date
        warn_date: date
        legal_due_date: date

        def apply(self, case: CaseBase) -> None:
            case.extension_days = self.days
            case.extended_on = clock.local_date(self.occurred_at)
            case.due_date = self.due_date
            case.warn_date = self.warn_date
            case.legal_due_date = self.legal_due_date

    # --- 办结: concluded -----------------------------------------------------------------

    def conclude(
        self,
        ctx: RecordContext,
        *,
        outcome: str,
        reason: str | None,
        online: bool,
        cal: WorkCalendar,
        policy: Policy,
    ) -> None:
        self.check_open("conclusion")
        accepted = self.status in ACCEPTED_OPEN
        if not accepted and outcome not in (Outcome.WITHDRAWN, Outcome.TERMINATED):
            raise InvalidTransition(
                f"case {self.case_id} was never accepted: it can only be withdrawn or terminated"
            )
        self._check_handling(ctx)
        self.check_order(ctx, self._last_step_activity(), "last step activity")
        due = self.due_date
        if due is not None and self.paused_since is not None:
            due = clock.paused_due(cal, due, self.paused_since, ctx.day)
        on_time = None if due is None else ctx.day <= due
        self._emit(
            self.Concluded,
            ctx,
            outcome=outcome,
            reason=reason,
            online=online,
            due_date=due,
            on_time=on_time,
            late_days=0 if due is None or on_time else clock.days_between(cal, due, ctx.day),
            handling_days=(
                None
                if self.accepted_at is None
                else clock.days_between(cal, clock.local_date(self.accepted_at), ctx.day)
            ),
        )
        self._flag_conclusion(ctx, outcome, reason, accepted, policy)
        self._flag_backdated(ctx, cal)

    class Concluded(HallAggregate.Event):
        """办结: approved / denied / transferred / terminated / withdrawn."""

        outcome: str
        reason: str | None
        online: bool
        due_date: date | None
        on_time: bool | None
        late_days: int
        handling_days: int | None

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            case.outcome = self.outcome
            case.conclusion_reason = self.reason
            case.concluded_online = self.online
            case.concluded_at = self.occurred_at
            case.on_time = self.on_time
            case.handling_days = self.handling_days
            if self.due_date is not None:
                case.due_date = self.due_date
            case.paused_since = None
            case.suspension = None
            case.next_step = case.next_step_due = None
            for st in case.steps.values():
                st.running = False

    def _flag_conclusion(
        self, ctx: RecordContext, outcome: str, reason: str | None, accepted: bool, policy: Policy
    ) -> None:
        """The violations a conclusion can reveal: no reason, skipped steps, 体外循环."""
        if outcome == Outcome.DENIED and not (reason or "").strip():
            self._flag(
                ctx, ViolationKind.MISSING_REASON, "denied (不予许可) without a stated reason"
            )
        if accepted and outcome in (Outcome.APPROVED, Outcome.DENIED):
            missing = self._skipped_steps(outcome)
            if missing:
                self._flag(
                    ctx,
                    ViolationKind.SKIPPED_STEPS,
                    f"{outcome} without completing: {', '.join(missing)}",
                )
        completed = sum(1 for st in self.steps.values() if st.completed_on is not None)
        elapsed = (ctx.at - self.submitted_at).total_seconds()
        if (
            elapsed <= policy.instant_conclusion_seconds
            and completed >= policy.instant_conclusion_min_steps
        ):
            self._flag(
                ctx,
                ViolationKind.INSTANT_CONCLUSION,
                f"submitted, {completed} steps and concluded within {int(elapsed)} seconds",
            )

    def _skipped_steps(self, outcome: str) -> list[str]:
        steps = list(self.steps.values())
        if outcome == Outcome.DENIED:
            if any(st.decision == Decision.DENY for st in steps):
                return []
            return [st.name for st in steps if st.completed_on is None]
        return [st.name for st in steps if st.decision != Decision.PASS]
