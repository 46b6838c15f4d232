"""Intake commands (办件数据接入): what each record kind does, applied once.

``COMMANDS`` is the one place that maps a record kind to its command: the stream
it is about, whether it starts that stream, what it runs. ``apply_once`` is the
one idempotency rule: a record already applied to its stream is a duplicate; a
record for a stream that does not exist (or exists already, for a starting one)
is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidTransition,
    UnknownCase,
    UnknownComplaint,
    UnknownOrder,
)
from domain.model import (
    Bundle,
    Case,
    Complaint,
    HallAggregate,
    Receipt,
    RecordContext,
    SupervisionOrder,
    stream_id,
)
from domain.vocabulary import STREAM_KEY, RecordKind, StreamKind

if TYPE_CHECKING:
    from domain.application import Hallwatch

A = TypeVar("A", bound=HallAggregate)
Record = dict[str, Any]

APPLIED = "applied"
DUPLICATE = "duplicate"
REFUSED = "refused"


@dataclass(frozen=True)
class Outcome:
    """What became of one intake record."""

    status: str
    reason: str | None = None
    kind: str | None = None
    record_id: str | None = None


_new = object.__new__


def done(status: str, ctx: RecordContext) -> Outcome:
    """``Outcome(status, kind=…, record_id=…)`` filled at once (one per record: a frozen
    dataclass's ``__init__`` costs twice as much)."""
    o = _new(Outcome)
    o.__dict__.update(status=status, reason=None, kind=ctx.kind, record_id=ctx.record_id)
    return o


def refused(record: Any, e: DomainError) -> Outcome:
    kind = record.get("kind") if isinstance(record, dict) else None
    rid = record.get("record_id") if isinstance(record, dict) else None
    return Outcome(
        REFUSED,
        e.reason,
        kind if isinstance(kind, str) else None,
        rid if isinstance(rid, str) else None,
    )


class Batch:
    """A unit of work: the aggregates a batch of records touched, and the idempotency keys
    (source, record_id) it has seen or applied."""

    def __init__(self, app: Hallwatch) -> None:
        self.app = app
        self.touched: dict[UUID, HallAggregate] = {}
        self.absent: set[UUID] = set()
        self.keys: dict[str, tuple[str, str]] = {}  # key -> (stream, digest)
        self.new_keys: list[tuple[str, str, str]] = []

    def get(self, cls: type[A], sid: UUID) -> A | None:
        agg = self.touched.get(sid)
        if agg is None:
            if sid in self.absent:
                return None
            agg = self.app.load(sid)
            if agg is None:
                return None
            self.touched[sid] = agg
        return agg if isinstance(agg, cls) else None

    def add(self, agg: HallAggregate) -> None:
        self.touched[agg.id] = agg


# --- the streams commands are about ----------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A stream kind records are about: its aggregate, the record field naming it, and
    how a missing or existing one is reported."""

    kind: str
    aggregate: type[HallAggregate]
    unknown: str  # for a record whose stream does not exist
    exists: str  # for a second record starting it
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", STREAM_KEY[self.kind])


CASE = Stream(
    StreamKind.CASE.value,
    Case,
    "unknown case {}: no submitted record for it",
    "case {} was already submitted by another record",
)
COMPLAINT = Stream(
    StreamKind.COMPLAINT.value,
    Complaint,
    "unknown complaint {}: it was never filed",
    "complaint {} was already filed by another record",
)
ORDER = Stream(
    StreamKind.SUPERVISION.value,
    SupervisionOrder,
    "unknown supervision order {}: it was never issued",
    "supervision order {} was already issued by another record",
)
_UNKNOWN: Mapping[str, type[DomainError]] = {
    CASE.kind: UnknownCase,
    COMPLAINT.kind: UnknownComplaint,
    ORDER.kind: UnknownOrder,
}

Run = Callable[["Hallwatch", Batch, Any, Record, RecordContext], None]


@dataclass(frozen=True)
class Command:
    """What a record kind does: to which stream, whether it starts it, what it runs
    (``run(app, batch, aggregate or None, record, ctx)``), and the other streams it reads
    (prefetched with the batch)."""

    stream: Stream
    run: Run
    starts: bool = False
    reads: tuple[tuple[str, str], ...] = ()

    def prefetch(self) -> tuple[tuple[str, str], ...]:
        return ((self.stream.kind, self.stream.key), *self.reads)


def apply_once(app: Hallwatch, batch: Batch, record: Record, ctx: RecordContext) -> str:
    """Apply a record through its command, once: APPLIED, or DUPLICATE when its stream
    already holds it; a DomainError names why it cannot be applied."""
    cmd = COMMANDS[ctx.kind]
    s = cmd.stream
    ref = record[s.key]
    target = batch.get(s.aggregate, stream_id(s.kind, ref))
    if target is not None and target.has_applied(ctx):
        return DUPLICATE
    if cmd.starts and target is not None:
        raise AlreadyExists(s.exists.format(ref))
    if not cmd.starts and target is None:
        raise _UNKNOWN[s.kind](s.unknown.format(ref))
    cmd.run(app, batch, target, record, ctx)
    return APPLIED


def _case(batch: Batch, case_id: str) -> Case:
    case = batch.get(Case, stream_id(CASE.kind, case_id))
    if case is None:
        raise UnknownCase(CASE.unknown.format(case_id))
    return case


def not_before(ctx: RecordContext, after: datetime, what: str) -> None:
    if ctx.at < after:
        raise InvalidTransition(
            f"{ctx.kind} at {ctx.at.isoformat()} is before the {what} ({after.isoformat()})"
        )


# --- the commands that start streams or touch several ---------------------------------


def _submit(app: Hallwatch, batch: Batch, _: None, r: Record, ctx: RecordContext) -> None:
    bundle_id = r.get("bundle_id") or None
    bundle = batch.get(Bundle, stream_id("bundle", bundle_id)) if bundle_id else None
    case = Case.submit(
        ctx,
        case_id=r["case_id"],
        item=app.item_on(r["item_code"], ctx.day),
        town=r["town"],
        channel=r["channel"],
        applicant_kind=r["applicant_kind"],
        applicant_name=r["applicant_name"],
        applicant_hash=app.keyed_hash("applicant", str(r["applicant_id"])),
        bundle_id=bundle_id,
        cal=app.calendar,
        policy=app.policy,
    )
    batch.add(case)
    if bundle_id and bundle is None:
        batch.add(Bundle.open(ctx, bundle_id=bundle_id, case_id=case.case_id))
    elif bundle is not None:
        bundle.add_case(ctx, case_id=case.case_id)


def _accept(app: Hallwatch, batch: Batch, case: Case, r: Record, ctx: RecordContext) -> None:
    receipt_no = r["receipt_no"]
    receipt = batch.get(Receipt, stream_id("receipt", receipt_no))
    if receipt is not None:
        receipt.check_can_add(case.case_id, case.bundle_id)
    code = r.get("query_code") or app.derived_query_code(receipt_no)
    case.accept(
        ctx,
        receipt_no=receipt_no,
        query_code_hash=app.keyed_hash("query-code", f"{receipt_no}|{str(code).strip()}"),
        item=case.item,  # the version in force when the case was received (submitted)
        cal=app.calendar,
        policy=app.policy,
    )
    if receipt is None:
        batch.add(
            Receipt.issue(
                ctx, receipt_no=receipt_no, case_id=case.case_id, bundle_id=case.bundle_id
            )
        )
    else:
        receipt.add_case(ctx, case_id=case.case_id)


def _file_complaint(app: Hallwatch, batch: Batch, _: None, r: Record, ctx: RecordContext) -> None:
    case = _case(batch, r["case_id"]) if r.get("case_id") else None
    if case is not None:
        case.check_order(ctx, case.submitted_at, "submission")
    cid = r["complaint_id"]
    complaint = Complaint.file(
        ctx,
        complaint_id=cid,
        case_id=case.case_id if case else None,
        department=r.get("department") or (case.department if case else ""),
        channel=r["channel"],
        content=r["content"],
        cal=app.calendar,
        policy=app.policy,
    )
    batch.add(complaint)
    if case is not None:
        case.link_complaint(ctx, complaint_id=cid)


def _order(app: Hallwatch, batch: Batch, _: None, r: Record, ctx: RecordContext) -> None:
    case = _case(batch, r["case_id"]) if r.get("case_id") else None
    if case is not None:
        case.check_order(ctx, case.submitted_at, "submission")
    order = SupervisionOrder.issue(
        ctx,
        order_id=r["order_id"],
        case_id=case.case_id if case else None,
        department=r.get("department") or (case.department if case else ""),
        inspector=r["inspector"],
        due_days=r["due_days"],
        note=r["note"],
        cal=app.calendar,
    )
    batch.add(order)
    if case is not None:
        case.link_supervision(
            ctx,
            order_id=order.order_id,
            inspector=order.inspector,
            note=order.note,
            due_date=order.due_date,
        )


def _answer_order(
    app: Hallwatch, batch: Batch, order: SupervisionOrder, r: Record, ctx: RecordContext
) -> None:
    not_before(ctx, order.ordered_at, f"issue of supervision order {order.order_id}")
    case = batch.get(Case, stream_id("case", order.case_id)) if order.case_id else None
    order.answer(ctx, reply=r["reply"])
    if case is not None:
        case.link_supervision_answer(
            ctx, order_id=order.order_id, on_time=ctx.day <= order.due_date
        )


def _complaint(run: Callable[[Hallwatch, Complaint, Record, RecordContext], None]) -> Run:
    """A command on a filed complaint: never before the complaint's last record."""

    def command(app: Hallwatch, batch: Batch, c: Complaint, r: Record, ctx: RecordContext) -> None:
        not_before(ctx, c.latest_activity(), f"last record of complaint {c.complaint_id}")
        run(app, c, r, ctx)

    return command


_CASE_ID = (("case", "case_id"),)

#: Every record kind and its command (docs/contracts.md §2; the kinds are the intake
#: schema's, tests/unit/test_intake_schema.py holds the two together).
# fmt: off
_TABLE: dict[RecordKind, Command] = {
    RecordKind.SUBMITTED: Command(CASE, _submit, starts=True, reads=(("bundle", "bundle_id"),)),
    RecordKind.ACCEPTED: Command(CASE, _accept, reads=(("receipt", "receipt_no"),)),
    RecordKind.REJECTED: Command(CASE, lambda app, b, c, r, x: c.reject(
        x, reason=r.get("reason"), cal=app.calendar)),
    RecordKind.CORRECTION_REQUESTED: Command(CASE, lambda app, b, c, r, x: c.request_correction(
        x, materials=tuple(r["materials"]), cal=app.calendar)),
    RecordKind.CORRECTION_RECEIVED: Command(CASE, lambda app, b, c, r, x: c.receive_correction(
        x, cal=app.calendar, policy=app.policy)),
    RecordKind.STEP_STARTED: Command(CASE, lambda app, b, c, r, x: c.start_step(
        x, step=r["step"], handler=r["handler"], department=r.get("department"),
        cal=app.calendar)),
    RecordKind.STEP_COMPLETED: Command(CASE, lambda app, b, c, r, x: c.complete_step(
        x, step=r["step"], handler=r["handler"], decision=r["decision"],
        opinion=r.get("opinion"), cal=app.calendar)),
    RecordKind.SUSPENDED: Command(CASE, lambda app, b, c, r, x: c.suspend(
        x, procedure=r["procedure"], reason=r["reason"], expected_days=r["expected_days"],
        cal=app.calendar)),
    RecordKind.RESUMED: Command(CASE, lambda app, b, c, r, x: c.resume(
        x, cal=app.calendar, policy=app.policy)),
    RecordKind.EXTENDED: Command(CASE, lambda app, b, c, r, x: c.extend(
        x, days=r["days"], reason=r["reason"], approved_by=r["approved_by"], cal=app.calendar,
        policy=app.policy)),
    RecordKind.CONCLUDED: Command(CASE, lambda app, b, c, r, x: c.conclude(
        x, outcome=r["outcome"], reason=r.get("reason"), online=r["online"], cal=app.calendar,
        policy=app.policy)),
    RecordKind.DELIVERED: Command(CASE, lambda app, b, c, r, x: c.deliver(
        x, method=r["method"], site_visits=r["site_visits"], cal=app.calendar)),
    RecordKind.RATED: Command(CASE, lambda app, b, c, r, x: c.rate(
        x, level=r["level"], comment=r.get("comment"), cal=app.calendar, policy=app.policy)),
    RecordKind.RATING_ANSWERED: Command(CASE, lambda app, b, c, r, x: c.answer_rating(
        x, reply=r["reply"], cal=app.calendar)),
    RecordKind.COMPLAINT_FILED: Command(COMPLAINT, _file_complaint, starts=True, reads=_CASE_ID),
    RecordKind.COMPLAINT_ACCEPTED: Command(COMPLAINT, _complaint(lambda app, c, r, x: c.accept(
        x, cal=app.calendar, policy=app.policy))),
    RecordKind.COMPLAINT_REJECTED: Command(COMPLAINT, _complaint(lambda app, c, r, x: c.reject(
        x, reason=r.get("reason")))),
    RecordKind.COMPLAINT_ASSIGNED: Command(COMPLAINT, _complaint(lambda app, c, r, x: c.assign(
        x, department=r["department"]))),
    RecordKind.COMPLAINT_REPLIED: Command(COMPLAINT, _complaint(lambda app, c, r, x: c.reply(
        x, reply=r["reply"]))),
    RecordKind.COMPLAINT_CLOSED: Command(COMPLAINT, _complaint(lambda app, c, r, x: c.close(
        x, satisfied=r.get("satisfied")))),
    RecordKind.SUPERVISION_ORDERED: Command(ORDER, _order, starts=True, reads=_CASE_ID),
    RecordKind.SUPERVISION_ANSWERED: Command(ORDER, _answer_order),
}
# fmt: on
COMMANDS: dict[str, Command] = {kind.value: command for kind, command in _TABLE.items()}
"""The same table keyed by plain strings, as records name their kind."""


def handled_kinds() -> frozenset[str]:
    """Record kinds the application knows how to apply (checked against the schema)."""
    return frozenset(COMMANDS)


def main_stream(kind: str, record: Mapping[str, Any]) -> str:
    """The stream a record is about, for idempotency: ``case:DG2026…``."""
    s = COMMANDS[kind].stream
    return f"{s.kind}:{record[s.key]}"
