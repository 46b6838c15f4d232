"""The event-sourced aggregates of a service hall.

Every fact is a past-tense event nested on its aggregate (``Case.Accepted``,
``Case.CorrectionRequested``).  Command methods check their guards first and
only then trigger events, so a refused record never leaves a half-changed
aggregate.  Dates the clocks compute (due date, warning date, step due dates)
are stored in the events that change them: a reader never needs the calendar
to know what the deadline was.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, OriginatorIDError, OriginatorVersionError
from eventsourcing.utils import get_topic, resolve_topic

from domain import clock
from domain.calendar import WorkCalendar
from domain.catalogue import ItemVersion
from domain.chain import GENESIS, ChainKey, chain_hash
from domain.errors import (
    CaseClosed,
    CatalogueConflict,
    InvalidTransition,
    NotAllowed,
    ReceiptConflict,
    UnknownStep,
)
from domain.policy import Policy
from domain.storage import STORED_BYTES, canonical_json

_NS = uuid5(NAMESPACE_URL, "https://hallwatch.gov.cn/ids")


@lru_cache(maxsize=1 << 17)
def stream_id(kind: str, key: str) -> UUID:
    """Deterministic stream id, so a case is found by its hall case number alone."""
    return uuid5(_NS, f"{kind}:{key}")


def record_key(source: str, record_id: str) -> str:
    """The idempotency key of an intake record: record ids are unique per source."""
    return f"{source}\x1f{record_id}"


class RecordContext:
    """Who said what, when: the envelope of one intake record.

    A slotted class rather than a frozen dataclass: one is built per record.
    """

    __slots__ = (
        "at", "chain_key", "day", "kind", "record_id", "recorded_at", "source", "stored_at",
    )  # fmt: skip

    def __init__(
        self,
        record_id: str,
        source: str,
        kind: str,
        at: datetime,
        recorded_at: datetime,
        stored_at: datetime | None = None,
        chain_key: ChainKey | None = None,
    ) -> None:
        self.record_id = record_id
        self.source = source
        self.kind = kind
        self.at = at
        self.recorded_at = recorded_at
        self.stored_at = stored_at
        self.chain_key = chain_key  # the application's key; None: unkeyed (pure unit tests)
        self.day: date = clock.local_date(at)  # the Asia/Shanghai date it happened on

    def __repr__(self) -> str:
        return f"RecordContext({self.kind} {self.record_id} at {self.at.isoformat()})"


_ITEMS: dict[bytes, ItemVersion] = {}
_DICT_OF: dict[int, tuple[ItemVersion, dict[str, Any]]] = {}  # id(item) -> (item, its dict)
_ITEM_OF: dict[int, tuple[dict[str, Any], ItemVersion]] = {}  # id(dict) -> (dict, its item)


def item_dict(item: ItemVersion) -> dict[str, Any]:
    """``item.to_dict()``, built once per item version for the events that carry it.

    Submitted and Accepted events of the same version share the dict (an event's
    fields are never changed), and ``item_from`` knows it without serialising it.
    """
    hit = _DICT_OF.get(id(item))
    if hit is not None and hit[0] is item:
        return hit[1]
    if len(_DICT_OF) > 10_000:
        _DICT_OF.clear()
        _ITEM_OF.clear()
    d = item.to_dict()
    _DICT_OF[id(item)] = (item, d)
    _ITEM_OF[id(d)] = (d, item)
    return d


def item_from(d: dict[str, Any]) -> ItemVersion:
    """``ItemVersion.from_dict`` memoised: every case event of an item carries the same dict."""
    hit = _ITEM_OF.get(id(d))
    if hit is not None and hit[0] is d:  # the very dict item_dict made (entries keep both alive)
        return hit[1]
    key = canonical_json(d)
    item = _ITEMS.get(key)
    if item is None:
        if len(_ITEMS) > 50_000:
            _ITEMS.clear()
        item = _ITEMS[key] = ItemVersion.from_dict(d)
    return item


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class HallAggregate(Aggregate):
    """Base for hallwatch aggregates: record envelope and hash chain on every event."""

    STREAM: ClassVar[str] = "hall"

    if TYPE_CHECKING:
        chain_head: str
        applied_records: set[str]

    class Event(Aggregate.Event):
        """Common fields: the intake record that caused it, when it happened
        (``occurred_at``, the record's ``at``) and when the source entered it
        (``recorded_at``), and the hash chain (``prev_hash``, ``chain_hash``)."""

        record_id: str
        source: str
        occurred_at: datetime
        recorded_at: datetime
        prev_hash: str
        chain_hash: str

        key_prefix = ""  # alerts keep their identities apart from intake records' keys

        def mutate(self, aggregate: Any) -> Any:
            """Apply to the aggregate, then advance its version, chain head and applied set."""
            if aggregate is None:  # a created event builds the aggregate
                agg: Any = _create(self)
                d = agg.__dict__
            else:
                agg = aggregate
                d = agg.__dict__
                sid = d["_id"]
                if self.originator_id is not sid and self.originator_id != sid:
                    raise OriginatorIDError(self.originator_id, sid)
                if self.originator_version != d["_version"] + 1:
                    raise OriginatorVersionError(self.originator_version, d["_version"] + 1)
                self.apply(agg)
                d["_version"] = self.originator_version
                d["_modified_on"] = self.timestamp
            d["chain_head"] = self.chain_hash
            if self.record_id:
                applied = d.get("applied_records")
                if applied is None:
                    applied = d["applied_records"] = set()
                applied.add(f"{self.key_prefix}{self.source}\x1f{self.record_id}")  # record_key
            return agg

    class Created(Event, Aggregate.Created):
        pass

    # --- hash-chained event emission -------------------------------------------------
    #
    # Events are built directly rather than through ``trigger_event``: at intake
    # rates the generic path (keyword copies, a frozen dataclass __init__ that
    # sets each field through object.__setattr__) costs more than storing them.
    # The field set is still checked against the event class, and the canonical
    # bytes serialised once for the hash are the bytes the mapper stores.

    @classmethod
    def _open(
        cls: type[A], event_class: type[Any], sid: UUID, ctx: RecordContext, **fields: Any
    ) -> A:
        fields["originator_topic"] = get_topic(cls)
        event = _build_event(event_class, sid, 1, GENESIS, ctx, fields)
        agg: A = event.mutate(None)
        agg.pending_events.append(event)
        return agg

    def _emit(self, event_class: type[Any], ctx: RecordContext, **fields: Any) -> None:
        event = _build_event(event_class, self.id, self.version + 1, self.chain_head, ctx, fields)
        event.mutate(self)
        self.pending_events.append(event)

    def raise_alert(
        self,
        *,
        alert: str,
        deadline: date,
        detail: str,
        step: str | None,
        at: datetime,
        now: datetime,
        chain_key: ChainKey | None = None,
    ) -> bool:
        """Record an alert once (预警/超时): False when this one was already raised."""
        if alert_key(alert, deadline, step) in self.__dict__.get("applied_records", ()):
            return False
        ctx = RecordContext(
            alert_id(alert, deadline, step), ALERTER_SOURCE, "alert", at, now, now, chain_key
        )
        event_class = getattr(type(self), "AlertRaised", None)
        if event_class is None:
            raise TypeError(f"{type(self).__name__} has no alerts")
        self._emit(event_class, ctx, alert=alert, deadline=deadline, detail=detail, step=step)
        return True

    def has_applied(self, ctx: RecordContext) -> bool:
        """True when this very record was already applied (idempotency)."""
        return record_key(ctx.source, ctx.record_id) in self.__dict__.get("applied_records", ())

    @classmethod
    def event_type(cls, event: Any) -> str:
        """A stable, language-neutral event type: ``case.correction_requested``."""
        return f"{cls.STREAM}.{_snake(type(event).__name__)}"


A = TypeVar("A", bound=HallAggregate)


ALERTER_SOURCE = "hallwatch-alerter"


def alert_id(alert: str, deadline: date, step: str | None = None) -> str:
    """The record id of an alert: one alert per kind, deadline (and step), ever."""
    return f"alert:{alert}:{deadline.isoformat()}" + (f":{step}" if step else "")


ALERT_KEY_PREFIX = "alert\x1e"
"""Where alerts' entries in an aggregate's applied records begin: no intake record's key
(``source\x1frecord_id``) can equal one, whatever source or record id it claims."""


def alert_key(alert: str, deadline: date, step: str | None = None) -> str:
    """The alert's entry in an aggregate's applied records."""
    return ALERT_KEY_PREFIX + record_key(ALERTER_SOURCE, alert_id(alert, deadline, step))


def _alert_entry(e: Any) -> dict[str, Any]:
    return {
        "alert": e.alert,
        "deadline": e.deadline,
        "step": e.step,
        "detail": e.detail,
        "at": e.occurred_at,
    }


_CHAIN_BLANK = b'"chain_hash":""'
_ONE_DAY = timedelta(days=1)


_COMMON = frozenset(
    {"originator_id", "originator_version", "timestamp", "record_id", "source", "occurred_at"}
    | {"recorded_at", "prev_hash", "chain_hash"}
)
"""Fields every hallwatch event has; ``_build_event`` fills them from the record context."""

_OWN: dict[type[Any], tuple[str, frozenset[str]]] = {}


def _own_fields(event_class: type[Any]) -> tuple[str, frozenset[str]]:
    """The event class's topic and the fields a command must give it (computed once)."""
    own = _OWN.get(event_class)
    if own is None:
        names = frozenset(f.name for f in dataclasses.fields(event_class))
        own = _OWN[event_class] = (get_topic(event_class), names - _COMMON)
    return own


_PLAIN_INIT: dict[type[Any], bool] = {}


def _plain_init(cls: type[Any]) -> bool:
    """True when the aggregate's ``__init__`` takes nothing (every hallwatch aggregate)."""
    plain = _PLAIN_INIT.get(cls)
    if plain is None:
        params = inspect.signature(cls.__init__).parameters
        plain = _PLAIN_INIT[cls] = list(params) == ["self"]  # so it cannot take an id either
    return plain


def _create(event: Any) -> Any:
    """The aggregate a created event starts, as ``CanInitAggregate.mutate`` builds it.

    The library's version filters the event's fields against two signatures on
    every call; for an ``__init__`` without parameters that comes down to this.
    """
    cls = resolve_topic(event.originator_topic)
    if not _plain_init(cls):
        return Aggregate.Created.mutate(event, None)
    agg = cls.__new__(cls)
    agg.__base_init__(event.originator_id, event.originator_version, event.timestamp)
    agg.__init__()
    event.apply(agg)
    return agg


def _build_event(
    event_class: type[Any],
    sid: UUID,
    version: int,
    prev: str,
    ctx: RecordContext,
    fields: dict[str, Any],
) -> Any:
    """A sealed event: its hash chained to ``prev``, its stored bytes ready."""
    topic, own = _own_fields(event_class)
    if fields.keys() != own:
        unknown = sorted(set(fields) - own)
        missing = sorted(own - set(fields))
        raise TypeError(f"{event_class.__qualname__}: unknown {unknown}, missing {missing}")
    state: dict[str, Any] = {
        "timestamp": ctx.stored_at or datetime.now(UTC),
        "record_id": ctx.record_id,
        "source": ctx.source,
        "occurred_at": ctx.at,
        "recorded_at": ctx.recorded_at,
        "prev_hash": prev,
        "chain_hash": "",
        **fields,
    }
    body = canonical_json(state)
    h = chain_hash(prev, topic, sid, version, body, ctx.chain_key)
    state["chain_hash"] = h
    state["originator_id"] = sid
    state["originator_version"] = version
    state[STORED_BYTES] = body.replace(_CHAIN_BLANK, b'"chain_hash":"' + h.encode() + b'"', 1)
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event


# --- case (办件) ----------------------------------------------------------------------

AWAITING_INTAKE = "awaiting_intake"  # 待受理
AWAITING_MATERIALS = "awaiting_materials"  # 补正中 (before acceptance)
IN_PROGRESS = "in_progress"  # 办理中
CORRECTION_PAUSED = "correction_paused"  # 补正中 (after acceptance, clock stopped)
SUSPENDED = "suspended"  # 特别程序中 (clock stopped)
REJECTED = "rejected"  # 不予受理
CONCLUDED = "concluded"  # 办结

OPEN_STATUSES = frozenset(
    {AWAITING_INTAKE, AWAITING_MATERIALS, IN_PROGRESS, CORRECTION_PAUSED, SUSPENDED}
)
ACCEPTED_OPEN = frozenset({IN_PROGRESS, CORRECTION_PAUSED, SUSPENDED})

ONLINE_CHANNELS = frozenset({"web", "app", "kiosk"})


@dataclass
class StepState:
    """One approval step (审批环节) of a case, as the events left it."""

    name: str
    days: int
    started_on: date | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    handler: str | None = None
    due_date: date | None = None
    completed_on: date | None = None
    decision: str | None = None
    on_time: bool | None = None
    running: bool = False


class Case(HallAggregate):
    """A case (办件): one application for one service item, from submission to rating."""

    STREAM = "case"

    if TYPE_CHECKING:  # state set by the events' apply(); hidden from the aggregate metaclass
        case_id: str
        item: ItemVersion
        status: str
        department: str
        town: str
        channel: str
        applicant_kind: str
        applicant_name: str
        applicant_hash: str
        bundle_id: str | None
        online: bool
        submitted_at: datetime
        intake_base: date
        intake_due_date: date
        receipt_no: str | None
        query_code_hash: str | None
        accepted_at: datetime | None
        clock_start: date | None
        limit_days: int
        legal_limit_days: int
        deemed_accepted: bool
        due_date: date | None
        warn_date: date | None
        legal_due_date: date | None
        pause_days: int
        extension_days: int
        paused_since: date | None
        corrections: int
        suspensions: int
        suspension: dict[str, str] | None
        extended_on: date | None
        steps: dict[str, StepState]
        last_completion: date | None
        last_completion_pause: int
        next_step: str | None
        next_step_due: date | None
        correction_requested_at: datetime | None
        suspended_at: datetime | None
        concluded_at: datetime | None
        outcome: str | None
        conclusion_reason: str | None
        concluded_online: bool | None
        on_time: bool | None
        handling_days: int | None
        rejection_reason: str | None
        delivered_at: datetime | None
        delivery_method: str | None
        site_visits: int | None
        rating: int | None
        rated_at: datetime | None
        rating_answer_due: date | None
        rating_answered_at: datetime | None
        violations: list[dict[str, Any]]
        orders: dict[str, dict[str, Any]]
        complaints: list[str]
        alerts: list[dict[str, Any]]

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

        def apply(self, case: Case) -> None:
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
            case.status = AWAITING_INTAKE
            case.submitted_at = self.occurred_at
            case.intake_base = clock.local_date(self.occurred_at)
            case.intake_due_date = self.intake_due_date
            case.receipt_no = None
            case.query_code_hash = None
            case.accepted_at = None
            case.clock_start = None
            case.limit_days = 0
            case.legal_limit_days = 0
            case.deemed_accepted = False
            case.due_date = None
            case.warn_date = None
            case.legal_due_date = None
            case.pause_days = 0
            case.extension_days = 0
            case.paused_since = None
            case.corrections = 0
            case.suspensions = 0
            case.suspension = None
            case.extended_on = None
            case.steps = {s.name: StepState(s.name, s.days) for s in case.item.steps}
            case.last_completion = None
            case.last_completion_pause = 0
            case.next_step = None
            case.next_step_due = None
            case.correction_requested_at = None
            case.suspended_at = None
            case.concluded_at = None
            case.outcome = None
            case.conclusion_reason = None
            case.concluded_online = None
            case.on_time = None
            case.handling_days = None
            case.rejection_reason = None
            case.delivered_at = None
            case.delivery_method = None
            case.site_visits = None
            case.rating = None
            case.rated_at = None
            case.rating_answer_due = None
            case.rating_answered_at = None
            case.violations = []
            case.orders = {}
            case.complaints = []
            case.alerts = []

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

        def apply(self, case: Case) -> None:
            case.status = IN_PROGRESS
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

    class Rejected(HallAggregate.Event):
        """不予受理, with a stated reason (missing reason is a violation)."""

        reason: str

        def apply(self, case: Case) -> None:
            case.status = REJECTED
            case.rejection_reason = self.reason
            case.concluded_at = self.occurred_at

    class CorrectionRequested(HallAggregate.Event):
        """一次性补正告知: all missing materials at once; the clock waits for them."""

        materials: tuple[str, ...]
        count: int
        stage: str  # "intake" or "handling"

        def apply(self, case: Case) -> None:
            case.corrections = self.count
            case.correction_requested_at = self.occurred_at
            if self.stage == "intake":
                case.status = AWAITING_MATERIALS
            else:
                if case.status != CORRECTION_PAUSED:
                    case.paused_since = clock.local_date(self.occurred_at)
                case.status = CORRECTION_PAUSED

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

        def apply(self, case: Case) -> None:
            if self.stage == "intake":
                case.status = AWAITING_INTAKE
                case.intake_base = clock.local_date(self.occurred_at)
                if self.intake_due_date is not None:
                    case.intake_due_date = self.intake_due_date
            else:
                case.status = IN_PROGRESS
                case.paused_since = None
                case.pause_days += self.paused_days
                case.due_date = self.due_date
                case.warn_date = self.warn_date
                case.legal_due_date = self.legal_due_date
                for name, due in self.step_due_dates:
                    case.steps[name].due_date = due
                if case.next_step is not None:
                    case.next_step_due = self.__dict__.get("next_step_due")

    class StepStarted(HallAggregate.Event):
        """审批环节开始, with the step's own due date."""

        step: str
        handler: str
        department: str | None
        due_date: date

        def apply(self, case: Case) -> None:
            st = case.steps[self.step]
            st.started_on = clock.local_date(self.occurred_at)
            st.started_at = self.occurred_at
            if case.next_step == self.step:  # the step waiting for its start has started
                case.next_step = case.next_step_due = None
            st.handler = self.handler
            st.due_date = self.due_date
            st.completed_on = None
            st.decision = None
            st.on_time = None
            st.running = True

    class StepCompleted(HallAggregate.Event):
        """审批环节完成: pass, return (退回) or deny."""

        step: str
        handler: str
        decision: str
        opinion: str | None
        on_time: bool
        next_step: str | None
        next_step_due: date | None

        def apply(self, case: Case) -> None:
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

    class Suspended(HallAggregate.Event):
        """特别程序 (art. 45): hearing, testing, expert review…; the clock stops."""

        procedure: str
        reason: str
        expected_days: int
        expected_resume: date
        count: int

        def apply(self, case: Case) -> None:
            case.status = SUSPENDED
            case.suspensions = self.count
            case.suspended_at = self.occurred_at
            case.paused_since = clock.local_date(self.occurred_at)
            case.suspension = {
                "procedure": self.procedure,
                "reason": self.reason,
                "since": case.paused_since.isoformat(),
                "expected_resume": self.expected_resume.isoformat(),
            }

    class Resumed(HallAggregate.Event):
        """特别程序结束: the due date moves back by the working days paused."""

        paused_days: int
        due_date: date
        warn_date: date
        legal_due_date: date
        step_due_dates: tuple[tuple[str, date], ...]
        next_step_due: date | None

        def apply(self, case: Case) -> None:
            case.status = IN_PROGRESS
            case.paused_since = None
            case.suspension = None
            if case.next_step is not None:
                case.next_step_due = self.__dict__.get("next_step_due")
            case.pause_days += self.paused_days
            case.due_date = self.due_date
            case.warn_date = self.warn_date
            case.legal_due_date = self.legal_due_date
            for name, due in self.step_due_dates:
                case.steps[name].due_date = due

    class Extended(HallAggregate.Event):
        """延期 (art. 42): once, approved, with a reason."""

        days: int
        reason: str
        approved_by: str
        due_date: date
        warn_date: date
        legal_due_date: date

        def apply(self, case: Case) -> None:
            case.extension_days = self.days
            case.extended_on = clock.local_date(self.occurred_at)
            case.due_date = self.due_date
            case.warn_date = self.warn_date
            case.legal_due_date = self.legal_due_date

    class Concluded(HallAggregate.Event):
        """办结: approved / denied / transferred / terminated / withdrawn."""

        outcome: str
        reason: str | None
        online: bool
        due_date: date | None
        on_time: bool | None
        late_days: int
        handling_days: int | None

        def apply(self, case: Case) -> None:
            case.status = CONCLUDED
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

    class Delivered(HallAggregate.Event):
        """送达: window pickup, post or electronic licence; counts site visits."""

        method: str
        site_visits: int

        def apply(self, case: Case) -> None:
            case.delivered_at = self.occurred_at
            case.delivery_method = self.method
            case.site_visits = self.site_visits

    class Rated(HallAggregate.Event):
        """好差评: level 1 (非常不满意) … 5 (非常满意); 1–2 is a bad review (差评)."""

        level: int
        comment: str | None
        bad: bool
        answer_due_date: date | None

        def apply(self, case: Case) -> None:
            case.rating = self.level
            case.rated_at = self.occurred_at
            case.rating_answer_due = self.answer_due_date

    class RatingAnswered(HallAggregate.Event):
        """差评整改答复: the department's answer to a review."""

        reply: str
        on_time: bool | None

        def apply(self, case: Case) -> None:
            case.rating_answered_at = self.occurred_at

    class ViolationFlagged(HallAggregate.Event):
        """违规: a supervision rule broken by the record just applied; recorded, never refused."""

        violation: str
        detail: str

        def apply(self, case: Case) -> None:
            case.violations.append(
                {"violation": self.violation, "detail": self.detail, "at": self.occurred_at}
            )

    class AlertRaised(HallAggregate.Event):
        """预警/超时: a deadline passed with no new event; raised by the alerter, once."""

        key_prefix = ALERT_KEY_PREFIX

        alert: str
        deadline: date
        detail: str
        step: str | None

        def apply(self, case: Case) -> None:
            case.alerts.append(_alert_entry(self))

    class SupervisionOrdered(HallAggregate.Event):
        """督办: an inspector ordered the department to act on this case."""

        order_id: str
        inspector: str
        note: str
        due_date: date

        def apply(self, case: Case) -> None:
            case.orders[self.order_id] = {
                "inspector": self.inspector,
                "note": self.note,
                "due_date": self.due_date,
                "answered_at": None,
            }

    class SupervisionAnswered(HallAggregate.Event):
        """督办反馈: the department answered the order about this case."""

        order_id: str
        on_time: bool

        def apply(self, case: Case) -> None:
            case.orders[self.order_id]["answered_at"] = self.occurred_at

    class ComplaintLinked(HallAggregate.Event):
        """投诉: a complaint was filed about this case."""

        complaint_id: str

        def apply(self, case: Case) -> None:
            case.complaints.append(self.complaint_id)

    # --- guards -------------------------------------------------------------------------

    def check_open(self, what: str) -> None:
        if self.status == CONCLUDED:
            day = clock.local_date(self.concluded_at).isoformat() if self.concluded_at else "?"
            raise CaseClosed(
                f"case {self.case_id} was concluded ({self.outcome}) on {day}: {what} is not "
                "accepted after conclusion"
            )
        if self.status == REJECTED:
            raise CaseClosed(f"case {self.case_id} was rejected at intake: {what} is not accepted")

    def check_status(self, what: str, allowed: frozenset[str] | set[str]) -> None:
        self.check_open(what)
        if self.status not in allowed:
            raise InvalidTransition(
                f"case {self.case_id} is {self.status.replace('_', ' ')}: "
                f"{what} is not possible now"
            )

    def check_step(self, step: str) -> StepState:
        st = self.steps.get(step)
        if st is None:
            names = ", ".join(self.steps) or "none"
            raise UnknownStep(
                f"step '{step}' is not a step of item {self.item.item_code} (steps: {names})"
            )
        return st

    def check_order(self, ctx: RecordContext, after: datetime | None, what: str) -> None:
        """Refuse a record that puts the lifecycle out of time order (it happened before
        ``what``): a case concluded before it was submitted must not count as on time."""
        if after is not None and ctx.at < after:
            raise InvalidTransition(
                f"{ctx.kind} at {ctx.at.isoformat()} is before the {what} of case "
                f"{self.case_id} ({after.isoformat()}): records must follow the case's lifecycle"
            )

    def _last_step_activity(self) -> datetime | None:
        times = [t for st in self.steps.values() for t in (st.started_at, st.completed_at) if t]
        return max(times, default=None)

    def _check_handling(self, ctx: RecordContext) -> None:
        """Every record after acceptance: not before submission, not before acceptance."""
        self.check_order(ctx, self.submitted_at, "submission")
        self.check_order(ctx, self.accepted_at, "acceptance")

    # --- clocks -------------------------------------------------------------------------

    def _waiting_step(self, done: str | None, decision: str | None) -> str | None:
        """The step whose clock starts now (CONTRACTS §3: when the previous step
        completes, the first at acceptance), whether or not anyone records its start."""
        if decision == "deny":
            return None
        if decision == "return":
            return done
        names = list(self.steps)
        start = names.index(done) + 1 if done is not None else 0
        for name in names[start:]:
            st = self.steps[name]
            if st.decision != "pass":
                return None if st.running else name
        return None

    def _waiting_due(self, cal: WorkCalendar, step: str | None, base: date) -> date | None:
        return None if step is None else cal.add_working_days(base, self.steps[step].days)

    def _shifted_waiting_due(self, cal: WorkCalendar, paused: int) -> date | None:
        if self.next_step is None or self.next_step_due is None:
            return None
        return cal.add_working_days(self.next_step_due, paused)

    def _case_dates(
        self, cal: WorkCalendar, policy: Policy, pause: int, extension: int
    ) -> tuple[date, date, date]:
        """Due date, warning date and legal due date for the given pauses and extension."""
        assert self.clock_start is not None
        shift = pause + extension
        n = self.limit_days
        due = cal.add_working_days(self.clock_start, n + shift)
        margin = clock.warning_margin(n, policy.warning_share)
        warn = cal.add_working_days(self.clock_start, max(1, n + shift - margin + 1))
        legal = cal.add_working_days(self.clock_start, self.legal_limit_days + shift)
        return due, warn, legal

    def _step_base(self) -> tuple[date, int]:
        """Where a newly started step's clock starts: the last completion, else acceptance."""
        if self.last_completion is not None:
            return self.last_completion, self.last_completion_pause
        assert self.clock_start is not None
        return self.clock_start, 0

    def _running_step_dues(
        self, cal: WorkCalendar, extra_pause: int
    ) -> tuple[tuple[str, date], ...]:
        out = []
        for st in self.steps.values():
            if st.running and st.due_date is not None:
                out.append((st.name, cal.add_working_days(st.due_date, extra_pause)))
        return tuple(out)

    def _flag(self, ctx: RecordContext, violation: str, detail: str) -> None:
        self._emit(Case.ViolationFlagged, ctx, violation=violation, detail=detail)

    def _flag_backdated(self, ctx: RecordContext, cal: WorkCalendar) -> None:
        if ctx.recorded_at - ctx.at <= _ONE_DAY:  # cannot be a working day late: skip the calendar
            return
        if clock.is_backdated(cal, ctx.at, ctx.recorded_at):
            lag = cal.working_days_between(ctx.day, clock.local_date(ctx.recorded_at))
            self._flag(
                ctx,
                "backdated_entry",
                f"{ctx.kind} of {ctx.day.isoformat()} entered {lag} working days later "
                f"({clock.local_date(ctx.recorded_at).isoformat()})",
            )

    def _check_intake_deadline(self, ctx: RecordContext) -> bool:
        return ctx.day > self.intake_due_date

    def _flag_late_intake(self, ctx: RecordContext) -> None:
        self._flag(
            ctx,
            "late_intake_decision",
            f"intake decision ({ctx.kind}) on {ctx.day.isoformat()}, due by "
            f"{self.intake_due_date.isoformat()}",
        )

    # --- commands -----------------------------------------------------------------------

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
    ) -> Case:
        case = cls._open(
            Case.Submitted,
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
            intake_due_date=cal.add_working_days(ctx.day, policy.intake_days),
            item=item_dict(item),
        )
        case._flag_backdated(ctx, cal)
        return case

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
        self.check_status("acceptance", {AWAITING_INTAKE})
        self.check_order(ctx, self.submitted_at, "submission")
        late = self._check_intake_deadline(ctx)
        start = self.intake_base if late else ctx.day
        self.clock_start = start
        self.limit_days = item.promised_days
        self.legal_limit_days = item.statutory_days
        due, warn, legal = self._case_dates(cal, policy, 0, 0)
        first = item.steps[0] if item.steps else None
        self._emit(
            Case.Accepted,
            ctx,
            receipt_no=receipt_no,
            query_code_hash=query_code_hash,
            item=item_dict(item),
            clock_start=start,
            limit_days=item.promised_days,
            legal_limit_days=item.statutory_days,
            due_date=due,
            warn_date=warn,
            legal_due_date=legal,
            deemed=late,
            next_step=None if first is None else first.name,
            next_step_due=None if first is None else cal.add_working_days(start, first.days),
        )
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal)

    def reject(self, ctx: RecordContext, *, reason: str | None, cal: WorkCalendar) -> None:
        self.check_status("rejection", {AWAITING_INTAKE})
        self.check_order(ctx, self.submitted_at, "submission")
        late = self._check_intake_deadline(ctx)
        self._emit(Case.Rejected, ctx, reason=reason or "")
        if not (reason or "").strip():
            self._flag(ctx, "missing_reason", "rejected at intake without a stated reason")
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal)

    def request_correction(
        self, ctx: RecordContext, *, materials: tuple[str, ...], cal: WorkCalendar
    ) -> None:
        allowed = {AWAITING_INTAKE, AWAITING_MATERIALS, IN_PROGRESS, CORRECTION_PAUSED}
        self.check_status("a correction notice", allowed)
        self._check_handling(ctx)
        at_intake = self.status in (AWAITING_INTAKE, AWAITING_MATERIALS)
        late = self.status == AWAITING_INTAKE and self._check_intake_deadline(ctx)
        count = self.corrections + 1
        self._emit(
            Case.CorrectionRequested,
            ctx,
            materials=materials,
            count=count,
            stage="intake" if at_intake else "handling",
        )
        if count >= 2:
            self._flag(
                ctx,
                "second_correction",
                f"correction notice no. {count}: all missing materials must be listed at once",
            )
        if late:
            self._flag_late_intake(ctx)
        self._flag_backdated(ctx, cal)

    def receive_correction(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_status("receiving corrected materials", {AWAITING_MATERIALS, CORRECTION_PAUSED})
        self._check_handling(ctx)
        self.check_order(ctx, self.correction_requested_at, "correction notice")
        if self.status == AWAITING_MATERIALS:
            self._emit(
                Case.CorrectionReceived,
                ctx,
                stage="intake",
                intake_due_date=cal.add_working_days(ctx.day, policy.intake_days),
                paused_days=0,
                due_date=None,
                warn_date=None,
                legal_due_date=None,
                step_due_dates=(),
                next_step_due=None,
            )
        else:
            assert self.paused_since is not None
            paused = cal.working_days_between(self.paused_since, ctx.day)
            due, warn, legal = self._case_dates(
                cal, policy, self.pause_days + paused, self.extension_days
            )
            self._emit(
                Case.CorrectionReceived,
                ctx,
                stage="handling",
                intake_due_date=None,
                paused_days=paused,
                due_date=due,
                warn_date=warn,
                legal_due_date=legal,
                step_due_dates=self._running_step_dues(cal, paused),
                next_step_due=self._shifted_waiting_due(cal, paused),
            )
        self._flag_backdated(ctx, cal)

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
        if self.status in (AWAITING_INTAKE, AWAITING_MATERIALS):
            raise InvalidTransition(
                f"case {self.case_id} is not accepted yet: step '{step}' cannot start"
            )
        self.check_status(f"starting step '{step}'", {IN_PROGRESS})
        self._check_handling(ctx)
        if st.running:
            raise InvalidTransition(
                f"step '{step}' of case {self.case_id} is already running since {st.started_on}"
            )
        base, base_pause = self._step_base()
        due = cal.add_working_days(base, st.days + (self.pause_days - base_pause))
        self._emit(
            Case.StepStarted, ctx, step=step, handler=handler, department=department, due_date=due
        )
        self._flag_backdated(ctx, cal)

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
        self.check_status(f"completing step '{step}'", {IN_PROGRESS})
        if not st.running:
            raise InvalidTransition(f"step '{step}' of case {self.case_id} was not started")
        self._check_handling(ctx)
        self.check_order(ctx, st.started_at, f"start of step '{step}'")
        assert st.due_date is not None
        waiting = self._waiting_step(step, decision)
        self._emit(
            Case.StepCompleted,
            ctx,
            step=step,
            handler=handler,
            decision=decision,
            opinion=opinion,
            on_time=ctx.day <= st.due_date,
            next_step=waiting,
            next_step_due=self._waiting_due(cal, waiting, ctx.day),
        )
        self._flag_backdated(ctx, cal)

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
        self.check_status("suspension", {IN_PROGRESS})
        self._check_handling(ctx)
        count = self.suspensions + 1
        self._emit(
            Case.Suspended,
            ctx,
            procedure=procedure,
            reason=reason,
            expected_days=expected_days,
            expected_resume=cal.add_working_days(ctx.day, expected_days),
            count=count,
        )
        if count >= 2:
            self._flag(ctx, "repeated_suspension", f"suspension no. {count} ({procedure})")
        self._flag_backdated(ctx, cal)

    def resume(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_open("resumption")
        if self.status != SUSPENDED:
            raise InvalidTransition(f"case {self.case_id} is not suspended: nothing to resume")
        self._check_handling(ctx)
        self.check_order(ctx, self.suspended_at, "suspension")
        assert self.paused_since is not None
        paused = cal.working_days_between(self.paused_since, ctx.day)
        due, warn, legal = self._case_dates(
            cal, policy, self.pause_days + paused, self.extension_days
        )
        self._emit(
            Case.Resumed,
            ctx,
            paused_days=paused,
            due_date=due,
            warn_date=warn,
            legal_due_date=legal,
            step_due_dates=self._running_step_dues(cal, paused),
            next_step_due=self._shifted_waiting_due(cal, paused),
        )
        self._flag_backdated(ctx, cal)

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
        if self.status in (AWAITING_INTAKE, AWAITING_MATERIALS):
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
        due, warn, legal = self._case_dates(cal, policy, self.pause_days, days)
        self._emit(
            Case.Extended,
            ctx,
            days=days,
            reason=reason,
            approved_by=approved_by,
            due_date=due,
            warn_date=warn,
            legal_due_date=legal,
        )
        self._flag_backdated(ctx, cal)

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
        if not accepted and outcome not in ("withdrawn", "terminated"):
            raise InvalidTransition(
                f"case {self.case_id} was never accepted: it can only be withdrawn or terminated"
            )
        self._check_handling(ctx)
        self.check_order(ctx, self._last_step_activity(), "last step activity")
        due = self.due_date
        if due is not None and self.paused_since is not None:
            due = cal.add_working_days(due, cal.working_days_between(self.paused_since, ctx.day))
        on_time = None if due is None else ctx.day <= due
        late_days = 0 if due is None or on_time else cal.working_days_between(due, ctx.day)
        handling = (
            cal.working_days_between(clock.local_date(self.accepted_at), ctx.day)
            if self.accepted_at is not None
            else None
        )
        self._emit(
            Case.Concluded,
            ctx,
            outcome=outcome,
            reason=reason,
            online=online,
            due_date=due,
            on_time=on_time,
            late_days=late_days,
            handling_days=handling,
        )
        if outcome == "denied" and not (reason or "").strip():
            self._flag(ctx, "missing_reason", "denied (不予许可) without a stated reason")
        if accepted and outcome in ("approved", "denied"):
            missing = self._skipped_steps(outcome)
            if missing:
                self._flag(
                    ctx, "skipped_steps", f"{outcome} without completing: {', '.join(missing)}"
                )
        completed = sum(1 for st in self.steps.values() if st.completed_on is not None)
        elapsed = (ctx.at - self.submitted_at).total_seconds()
        if (
            elapsed <= policy.instant_conclusion_seconds
            and completed >= policy.instant_conclusion_min_steps
        ):
            self._flag(
                ctx,
                "instant_conclusion",
                f"submitted, {completed} steps and concluded within {int(elapsed)} seconds",
            )
        self._flag_backdated(ctx, cal)

    def _skipped_steps(self, outcome: str) -> list[str]:
        steps = list(self.steps.values())
        if outcome == "denied":
            if any(st.decision == "deny" for st in steps):
                return []
            return [st.name for st in steps if st.completed_on is None]
        return [st.name for st in steps if st.decision != "pass"]

    def deliver(
        self, ctx: RecordContext, *, method: str, site_visits: int, cal: WorkCalendar
    ) -> None:
        if self.status != CONCLUDED:
            raise InvalidTransition(f"case {self.case_id} is not concluded: nothing to deliver")
        if self.delivered_at is not None:
            raise InvalidTransition(f"case {self.case_id} was already delivered")
        self.check_order(ctx, self.concluded_at, "conclusion")
        self._emit(Case.Delivered, ctx, method=method, site_visits=site_visits)
        self._flag_backdated(ctx, cal)

    def rate(
        self,
        ctx: RecordContext,
        *,
        level: int,
        comment: str | None,
        cal: WorkCalendar,
        policy: Policy,
    ) -> None:
        if self.status not in (CONCLUDED, REJECTED):
            raise InvalidTransition(f"case {self.case_id} is not concluded: it cannot be rated yet")
        if self.rating is not None:
            raise InvalidTransition(f"case {self.case_id} was already rated ({self.rating})")
        self.check_order(ctx, self.concluded_at, "conclusion")
        bad = level <= 2
        due = cal.add_working_days(ctx.day, policy.bad_rating_answer_days) if bad else None
        self._emit(Case.Rated, ctx, level=level, comment=comment, bad=bad, answer_due_date=due)
        self._flag_backdated(ctx, cal)

    def answer_rating(self, ctx: RecordContext, *, reply: str, cal: WorkCalendar) -> None:
        if self.rating is None:
            raise InvalidTransition(f"case {self.case_id} has no rating to answer")
        if self.rating_answered_at is not None:
            raise InvalidTransition(f"the rating of case {self.case_id} was already answered")
        self.check_order(ctx, self.rated_at, "rating")
        on_time = None if self.rating_answer_due is None else ctx.day <= self.rating_answer_due
        self._emit(Case.RatingAnswered, ctx, reply=reply, on_time=on_time)
        self._flag_backdated(ctx, cal)

    def link_supervision(
        self, ctx: RecordContext, *, order_id: str, inspector: str, note: str, due_date: date
    ) -> None:
        self._emit(
            Case.SupervisionOrdered,
            ctx,
            order_id=order_id,
            inspector=inspector,
            note=note,
            due_date=due_date,
        )

    def link_supervision_answer(self, ctx: RecordContext, *, order_id: str, on_time: bool) -> None:
        self._emit(Case.SupervisionAnswered, ctx, order_id=order_id, on_time=on_time)

    def link_complaint(self, ctx: RecordContext, *, complaint_id: str) -> None:
        self._emit(Case.ComplaintLinked, ctx, complaint_id=complaint_id)


# --- complaint (投诉) -----------------------------------------------------------------

C_FILED = "filed"
C_ACCEPTED = "accepted"
C_ASSIGNED = "assigned"
C_REPLIED = "replied"
C_CLOSED = "closed"
C_REJECTED = "rejected"


class Complaint(HallAggregate):
    """A complaint (投诉) about a case or a department, online or by the 12345 hotline."""

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
            c.status = C_FILED
            c.filed_at = self.occurred_at
            c.accept_due_date = self.accept_due_date
            c.accepted_at = None
            c.reply_due_date = None
            c.replied_at = None
            c.closed_at = None
            c.satisfied = None
            c.assigned_to = None
            c.rejection_reason = None
            c.violations = []
            c.alerts = []

    class Accepted(HallAggregate.Event):
        """投诉受理, with the reply deadline."""

        on_time: bool
        reply_due_date: date

        def apply(self, c: Complaint) -> None:
            c.status = C_ACCEPTED
            c.accepted_at = self.occurred_at
            c.reply_due_date = self.reply_due_date

    class Rejected(HallAggregate.Event):
        """投诉不予受理, with a reason."""

        reason: str

        def apply(self, c: Complaint) -> None:
            c.status = C_REJECTED
            c.rejection_reason = self.reason
            c.closed_at = self.occurred_at

    class Assigned(HallAggregate.Event):
        """转办: handed to the department that must answer."""

        department: str

        def apply(self, c: Complaint) -> None:
            c.status = C_ASSIGNED
            c.assigned_to = self.department

    class Replied(HallAggregate.Event):
        """答复."""

        reply: str
        on_time: bool

        def apply(self, c: Complaint) -> None:
            c.status = C_REPLIED
            c.replied_at = self.occurred_at

    class Closed(HallAggregate.Event):
        """回访 and closed; whether the complainant was satisfied."""

        satisfied: bool | None

        def apply(self, c: Complaint) -> None:
            c.status = C_CLOSED
            c.closed_at = self.occurred_at
            c.satisfied = self.satisfied

    class ViolationFlagged(HallAggregate.Event):
        """违规 on the complaint's handling (e.g. rejected without a reason)."""

        violation: str
        detail: str

        def apply(self, c: Complaint) -> None:
            c.violations.append({"violation": self.violation, "detail": self.detail})

    class AlertRaised(HallAggregate.Event):
        """投诉超时: acceptance or reply past its deadline; raised by the alerter, once."""

        key_prefix = ALERT_KEY_PREFIX

        alert: str
        deadline: date
        detail: str
        step: str | None

        def apply(self, c: Complaint) -> None:
            c.alerts.append(_alert_entry(self))

    def check_status(self, what: str, allowed: set[str]) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"complaint {self.complaint_id} is {self.status}: {what} is not possible now"
            )

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
            Complaint.Filed,
            stream_id("complaint", complaint_id),
            ctx,
            complaint_id=complaint_id,
            case_id=case_id,
            department=department,
            channel=channel,
            content=content,
            accept_due_date=cal.add_working_days(ctx.day, policy.complaint_accept_days),
        )

    def accept(self, ctx: RecordContext, *, cal: WorkCalendar, policy: Policy) -> None:
        self.check_status("acceptance", {C_FILED})
        self._emit(
            Complaint.Accepted,
            ctx,
            on_time=ctx.day <= self.accept_due_date,
            reply_due_date=cal.add_working_days(ctx.day, policy.complaint_reply_days),
        )

    def reject(self, ctx: RecordContext, *, reason: str | None) -> None:
        self.check_status("rejection", {C_FILED})
        self._emit(Complaint.Rejected, ctx, reason=reason or "")
        if not (reason or "").strip():
            self._emit(
                Complaint.ViolationFlagged,
                ctx,
                violation="missing_reason",
                detail="complaint rejected without a stated reason",
            )

    def assign(self, ctx: RecordContext, *, department: str) -> None:
        self.check_status("assignment", {C_ACCEPTED, C_ASSIGNED})
        self._emit(Complaint.Assigned, ctx, department=department)

    def reply(self, ctx: RecordContext, *, reply: str) -> None:
        self.check_status("a reply", {C_ACCEPTED, C_ASSIGNED})
        assert self.reply_due_date is not None
        self._emit(Complaint.Replied, ctx, reply=reply, on_time=ctx.day <= self.reply_due_date)

    def close(self, ctx: RecordContext, *, satisfied: bool | None) -> None:
        self.check_status("closing", {C_REPLIED})
        self._emit(Complaint.Closed, ctx, satisfied=satisfied)


# --- supervision order (督办单) --------------------------------------------------------


class SupervisionOrder(HallAggregate):
    """An inspector's order (督办单) to a department to act by a deadline."""

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
            o.status = "ordered"
            o.answered_at = None
            o.reply = None
            o.alerts = []

    class Answered(HallAggregate.Event):
        """反馈: the department answered."""

        reply: str
        on_time: bool

        def apply(self, o: SupervisionOrder) -> None:
            o.status = "answered"
            o.answered_at = self.occurred_at
            o.reply = self.reply

    class AlertRaised(HallAggregate.Event):
        """督办超期未反馈: the department did not answer by the deadline (red card)."""

        key_prefix = ALERT_KEY_PREFIX

        alert: str
        deadline: date
        detail: str
        step: str | None

        def apply(self, o: SupervisionOrder) -> None:
            o.alerts.append(_alert_entry(self))

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
            SupervisionOrder.Ordered,
            stream_id("supervision", order_id),
            ctx,
            order_id=order_id,
            case_id=case_id,
            department=department,
            inspector=inspector,
            due_days=due_days,
            note=note,
            due_date=cal.add_working_days(ctx.day, due_days),
        )

    def answer(self, ctx: RecordContext, *, reply: str) -> None:
        if self.status != "ordered":
            raise InvalidTransition(f"supervision order {self.order_id} was already answered")
        self._emit(SupervisionOrder.Answered, ctx, reply=reply, on_time=ctx.day <= self.due_date)


# --- bundle (一件事一次办) and the receipt index ----------------------------------------


class Bundle(HallAggregate):
    """一件事一次办: several items applied for together, under one receipt."""

    STREAM = "bundle"

    class Opened(HallAggregate.Created):
        bundle_id: str
        case_id: str

        def apply(self, b: Bundle) -> None:
            b.bundle_id = self.bundle_id
            b.case_ids = [self.case_id]

    class CaseAdded(HallAggregate.Event):
        case_id: str

        def apply(self, b: Bundle) -> None:
            b.case_ids.append(self.case_id)

    if TYPE_CHECKING:
        bundle_id: str
        case_ids: list[str]

    @classmethod
    def open(cls, ctx: RecordContext, *, bundle_id: str, case_id: str) -> Bundle:
        return cls._open(
            Bundle.Opened, stream_id("bundle", bundle_id), ctx, bundle_id=bundle_id, case_id=case_id
        )

    def add_case(self, ctx: RecordContext, *, case_id: str) -> None:
        if case_id not in self.case_ids:
            self._emit(Bundle.CaseAdded, ctx, case_id=case_id)


class Receipt(HallAggregate):
    """受理号 index: which case (or bundle of cases) a receipt number belongs to."""

    STREAM = "receipt"

    if TYPE_CHECKING:
        receipt_no: str
        case_ids: list[str]
        bundle_id: str | None

    class Issued(HallAggregate.Created):
        receipt_no: str
        case_id: str
        bundle_id: str | None

        def apply(self, r: Receipt) -> None:
            r.receipt_no = self.receipt_no
            r.case_ids = [self.case_id]
            r.bundle_id = self.bundle_id

    class CaseAdded(HallAggregate.Event):
        case_id: str

        def apply(self, r: Receipt) -> None:
            r.case_ids.append(self.case_id)

    @classmethod
    def issue(
        cls, ctx: RecordContext, *, receipt_no: str, case_id: str, bundle_id: str | None
    ) -> Receipt:
        return cls._open(
            Receipt.Issued,
            stream_id("receipt", receipt_no),
            ctx,
            receipt_no=receipt_no,
            case_id=case_id,
            bundle_id=bundle_id,
        )

    def check_can_add(self, case_id: str, bundle_id: str | None) -> None:
        if case_id in self.case_ids:
            return
        if self.bundle_id is None or bundle_id != self.bundle_id:
            raise ReceiptConflict(
                f"receipt number {self.receipt_no} was already issued to case {self.case_ids[0]}"
            )

    def add_case(self, ctx: RecordContext, *, case_id: str) -> None:
        if case_id not in self.case_ids:
            self._emit(Receipt.CaseAdded, ctx, case_id=case_id)


# --- the service catalogue (事项目录) ---------------------------------------------------


class ServiceCatalogue(HallAggregate):
    """The versioned service catalogue, one stream: every loaded item version is a fact."""

    STREAM = "catalogue"

    if TYPE_CHECKING:
        versions: dict[str, dict[date, ItemVersion]]

    class Opened(HallAggregate.Created):
        def apply(self, c: ServiceCatalogue) -> None:
            c.versions = {}

    class VersionAdded(HallAggregate.Event):
        """A new version of a service item, in force from ``valid_from``."""

        item: dict[str, Any]
        loaded_from: str

        def apply(self, c: ServiceCatalogue) -> None:
            v = item_from(self.item)
            c.versions.setdefault(v.item_code, {})[v.valid_from] = v

    @classmethod
    def open(cls, ctx: RecordContext) -> ServiceCatalogue:
        return cls._open(ServiceCatalogue.Opened, stream_id("catalogue", "main"), ctx)

    def check_version(self, v: ItemVersion) -> bool:
        """True when the version is new; False when already loaded identically."""
        existing = self.versions.get(v.item_code, {}).get(v.valid_from)
        if existing is None:
            return True
        if existing == v:
            return False
        raise CatalogueConflict(
            f"item {v.item_code} already has a version valid from {v.valid_from} with different "
            "content; publish the change with a later valid_from"
        )

    def add_version(self, ctx: RecordContext, v: ItemVersion, loaded_from: str) -> None:
        self._emit(ServiceCatalogue.VersionAdded, ctx, item=v.to_dict(), loaded_from=loaded_from)


AGGREGATES: tuple[type[HallAggregate], ...] = (
    Case,
    Complaint,
    SupervisionOrder,
    Bundle,
    Receipt,
    ServiceCatalogue,
)
