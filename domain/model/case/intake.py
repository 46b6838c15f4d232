"""A case's intake (受理): submitted, then accepted, rejected or asked for corrections.

Each command checks its guards, computes its dates through domain/clock.py and
triggers the past-tense event written right after it; only the event's
``apply`` changes the case.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain import clock
from domain.calendar import WorkCalendar
from domain.catalogue import ItemVersion
from domain.model.base import HallAggregate, RecordContext, item_dict, item_from, stream_id
from domain.model.case.state import (
    AWAITING_CORRECTION,
    AWAITING_INTAKE,
    AWAITING_MATERIALS,
    CORRECTABLE,
    CORRECTION_PAUSED,
    ONLY_AWAITING_INTAKE,
    OPEN_BEFORE_ACCEPTANCE,
    CaseBase,
    StepState,
    case_dates,
    resume_clock,
)
from domain.policy import Policy
from domain.vocabulary import (
    ONLINE_CHANNELS,
    CorrectionStage,
    ViolationKind,
)


class Intake(CaseBase):
    """申报, 受理, 不予受理, 一次性补正告知 and 补正材料收到."""

    # --- 申报: submitted ------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        ctx: RecordContext,
        *,
        case_id: str,
        item: ItemVersion,
        town: str,
        channel: str,
        applicant_kind: str,
        applicant_name: str,
        applicant_hash: str,
        bundle_id: str | None,
        cal: WorkCalendar,
        policy: Policy,
    ) -> CaseBase:
        case = cls._open(
            cls.Submitted,
            stream_id("case", case_id),
            ctx,
            case_id=case_id,
            item_code=item.item_code,
            item_name=item.item_name,
            item_valid_from=item.valid_from,
            department=item.department,
            town=town,
            channel=channel,
            applicant_kind=applicant_kind,
            applicant_name=applicant_name,
            applicant_hash=applicant_hash,
            bundle_id=bundle_id,
            online=channel in ONLINE_CHANNELS,
            intake_due_date=clock.intake_deadline(cal, ctx.day, policy.intake_days),
            item=item_dict(item),
        )
        case._flag_backdated(ctx, cal, policy)
        return case

    class Submitted(HallAggregate.Created):
        """申报: the application reached the hall through a channel."""

        case_id: str
        item_code: str
        item_name: str
        item_valid_from: date
        department: str
        town: str
        channel: str
        applicant_kind: str
        applicant_name: str
        applicant_hash: str
        bundle_id: str | None
        online: bool
        intake_due_date: date
        item: dict[str, Any]

        def apply(self, case: CaseBase) -> None:
            case.case_id = self.case_id
            case.item = item_from(self.item)
            case.department = self.department
            case.town = self.town
            case.channel = self.channel
            case.applicant_kind = self.applicant_kind
            case.applicant_name = self.applicant_name
            case.applicant_hash = self.applicant_hash
            case.bundle_id = self.bundle_id
            case.online = self.online
            case.status = self.next_status()
            case.submitted_at = self.occurred_at
            case.intake_base = clock.local_date(self.occurred_at)
            case.intake_due_date = self.intake_due_date
            case.receipt_no = case.query_code_hash = case.accepted_at = None
            case.clock_start = case.due_date = case.warn_date = case.legal_due_date = None
            case.limit_days = case.legal_limit_days = 0
            case.deemed_accepted = False
            case.pause_days = case.extension_days = 0
            case.paused_since = case.extended_on = None
            case.corrections = case.suspensions = 0
            case.suspension = None
            case.steps = {s.name: StepState(s.name, s.days) for s in case.item.steps}
            case.last_completion = None
            case.last_completion_pause = 0
            case.next_step = case.next_step_due = None
            case.correction_requested_at = case.suspended_at = case.concluded_at = None
            case.outcome = case.conclusion_reason = case.concluded_online = None
            case.on_time = case.handling_days = case.rejection_reason = None
            case.delivered_at = case.delivery_method = case.site_visits = None
            case.rating = case.rated_at = case.rating_answer_due = None
            case.rating_answered_at = None
            case.violations = []
            case.orders = {}
            case.complaints = []
            case.alerts = []

    # --- 受理: accepted -------------------------------------------------------------------

    def accept(
        self,
        ctx: RecordContext,
        *,
        receipt_no: str,
        query_code_hash: str,
        item: ItemVersion,
        cal: WorkCalendar,
        policy: Policy,
    ) -> None:
        self.check_status("acceptance", ONLY_AWAITING_INTAKE)
        self.check_order(ctx, self.submitted_at, "submission")
        late = ctx.day > self.intake_due_date
        start = self.intake_base if late else ctx.day  # deemed accepted (art. 32)
        n, legal_n = item.promised_days, item.statutory_days
        due, warn, legal = case_dates(cal, policy, start, n, legal_n, 0)
        first = item.steps[0] if item.steps else None
        self._emit(
            self.Accepted,
            ctx,
            receipt_no=receipt_no,
            query_code_hash=query_code_hash,
            item=item_dict(item),
            clock_start=start,
            limit_days=n,
            legal_limit_days=legal_n,
            due_date=due,
            warn_date=warn,
            legal_due_date=legal,
            deemed=late,
            next_step=None if first is None else first.name,
            next_step_due=None if first is None else clock.due_date(cal, start, first.days),
        )
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal, policy)

    class Accepted(HallAggregate.Event):
        """受理: a receipt with a receipt number and the promised completion date."""

        receipt_no: str
        query_code_hash: str
        item: dict[str, Any]
        clock_start: date
        limit_days: int
        legal_limit_days: int
        due_date: date
        warn_date: date
        legal_due_date: date
        deemed: bool
        next_step: str | None
        next_step_due: date | None

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            case.next_step = self.__dict__.get("next_step")
            case.next_step_due = self.__dict__.get("next_step_due")
            case.receipt_no = self.receipt_no
            case.query_code_hash = self.query_code_hash
            case.item = item_from(self.item)
            case.steps = {s.name: StepState(s.name, s.days) for s in case.item.steps}
            case.accepted_at = self.occurred_at
            case.clock_start = self.clock_start
            case.limit_days = self.limit_days
            case.legal_limit_days = self.legal_limit_days
            case.due_date = self.due_date
            case.warn_date = self.warn_date
            case.legal_due_date = self.legal_due_date
            case.deemed_accepted = self.deemed

    # --- 不予受理: rejected ---------------------------------------------------------------

    def reject(self, ctx: RecordContext, *, reason: str | None, cal: WorkCalendar) -> None:
        self.check_status("rejection", ONLY_AWAITING_INTAKE)
        self.check_order(ctx, self.submitted_at, "submission")
        late = ctx.day > self.intake_due_date
        self._emit(self.Rejected, ctx, reason=reason or "")
        if not (reason or "").strip():
            self._flag(
                ctx, ViolationKind.MISSING_REASON, "rejected at intake without a stated reason"
            )
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal)

    class Rejected(HallAggregate.Event):
        """不予受理, with a stated reason (missing reason is a violation)."""

        reason: str

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            case.rejection_reason = self.reason
            case.concluded_at = self.occurred_at

    # --- 一次性补正告知: correction requested ----------------------------------------------

    def request_correction(
        self, ctx: RecordContext, *, materials: tuple[str, ...], cal: WorkCalendar
    ) -> None:
        allowed = CORRECTABLE
        self.check_status("a correction notice", allowed)
        self._check_handling(ctx)
        at_intake = self.status in OPEN_BEFORE_ACCEPTANCE
        late = self.status == AWAITING_INTAKE and ctx.day > self.intake_due_date
        count = self.corrections + 1
        stage = CorrectionStage.INTAKE if at_intake else CorrectionStage.HANDLING
        self._emit(
            self.CorrectionRequested, ctx, materials=materials, count=count, stage=stage.value
        )
        if count >= 2:
            self._flag(
                ctx,
                ViolationKind.SECOND_CORRECTION,
                f"correction notice no. {count}: all missing materials must be listed at once",
            )
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal)

    class CorrectionRequested(HallAggregate.Event):
        """一次性补正告知: all missing materials at once; the clock waits for them."""

        materials: tuple[str, ...]
        count: int
        stage: str  # "intake" or "handling"

        def apply(self, case: CaseBase) -> None:
            case.corrections = self.count
            case.correction_requested_at = self.occurred_at
            status = self.next_status()
            if status == CORRECTION_PAUSED and case.status != status:
                case.paused_since = clock.local_date(self.occurred_at)
            case.status = status

    # --- 补正材料收到: correction received -------------------------------------------------

    def receive_correction(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_status(
            "receiving corrected materials",
            AWAITING_CORRECTION,
        )
        self._check_handling(ctx)
        self.check_order(ctx, self.correction_requested_at, "correction notice")
        if self.status == AWAITING_MATERIALS:
            self._emit(
                self.CorrectionReceived,
                ctx,
                stage=CorrectionStage.INTAKE.value,
                intake_due_date=clock.intake_deadline(cal, ctx.day, policy.intake_days),
                paused_days=0,
                due_date=None,
                warn_date=None,
                legal_due_date=None,
                step_due_dates=(),
                next_step_due=None,
            )
        else:
            self._emit(
                self.CorrectionReceived,
                ctx,
                stage=CorrectionStage.HANDLING.value,
                intake_due_date=None,
                **self._after_pause(ctx, cal, policy),
            )
        self._flag_backdated(ctx, cal)

    class CorrectionReceived(HallAggregate.Event):
        """补正材料收到: intake restarts, or the handling clock runs again."""

        stage: str
        intake_due_date: date | None
        paused_days: int
        due_date: date | None
        warn_date: date | None
        legal_due_date: date | None
        step_due_dates: tuple[tuple[str, date], ...]
        next_step_due: date | None

        def apply(self, case: CaseBase) -> None:
            case.status = self.next_status()
            if self.stage == CorrectionStage.INTAKE:
                case.intake_base = clock.local_date(self.occurred_at)
                if self.intake_due_date is not None:
                    case.intake_due_date = self.intake_due_date
                return
            resume_clock(case, self)
