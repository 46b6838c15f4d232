"""The hallwatch application: intake of records, the catalogue, lookups and verification.

Intake is idempotent by record: every event carries the ``record_id`` (and
``source``) that caused it, and an aggregate remembers the records it has
applied, so the same record twice -- or a whole file replayed after a crash --
adds nothing.  Records are applied in batches, each batch saved in one
transaction; a write conflict with another writer reloads and retries, and
the retry sees already-applied records as duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Mapper, RecordConflictError, StoredEvent, Transcoder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, ItemVersion, ParsedCatalogue
from domain.chain import ChainKey, ChainVerifier, VerifyReport
from domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidRecord,
    InvalidTransition,
    RecordConflict,
    UnknownCase,
    UnknownComplaint,
    UnknownItem,
    UnknownOrder,
)
from domain.model import (
    Bundle,
    Case,
    Complaint,
    HallAggregate,
    Receipt,
    RecordContext,
    ServiceCatalogue,
    SupervisionOrder,
    record_key,
    stream_id,
)
from domain.policy import Policy
from domain.records import normalize, validation_error
from domain.storage import (
    STORED_BYTES,
    BatchSQLiteRecorder,
    CanonicalTranscoder,
    TypedMapper,
    canonical_json,
    select_record_keys,
)

logger = logging.getLogger(__name__)

A = TypeVar("A", bound=HallAggregate)

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


def _done(status: str, ctx: RecordContext) -> Outcome:
    """``Outcome(status, kind=ctx.kind, record_id=ctx.record_id)``, built for one per record.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``:
    twice the cost of filling the instance dict at once.
    """
    o = _new(Outcome)
    o.__dict__.update(status=status, reason=None, kind=ctx.kind, record_id=ctx.record_id)
    return o


@dataclass
class CatalogueLoad:
    """Result of loading a catalogue file."""

    added: int = 0
    unchanged: int = 0
    refusals: list[tuple[int, str]] = field(default_factory=list)


class _Batch:
    """A unit of work: the aggregates touched by a batch of records, and the
    idempotency keys (source, record_id) it has seen or applied."""

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
            agg = self.app._load(sid)
            if agg is None:
                return None
            self.touched[sid] = agg
        if not isinstance(agg, cls):
            return None
        return agg

    def add(self, agg: HallAggregate) -> None:
        self.touched[agg.id] = agg


class Hallwatch(Application[UUID]):
    """hallwatch's event-sourced application (SQLite file or PostgreSQL)."""

    name = "hallwatch"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        calendar: WorkCalendar,
        secret_key: bytes,
        policy: Policy | None = None,
        cache_size: int = 200_000,
    ) -> None:
        super().__init__(env=dict(env or {}))
        self.calendar = calendar
        self.policy = policy or Policy()
        self._key = secret_key
        self._hmac = hmac.new(secret_key, digestmod=hashlib.sha256)
        self.chain_key = ChainKey.derive(secret_key)  # docs/tamper-evidence.md
        self._cache: OrderedDict[UUID, HallAggregate] = OrderedDict()
        self._cache_size = cache_size
        self._catalogue: Catalogue | None = None

    # --- infrastructure hooks --------------------------------------------------------

    def construct_transcoder(self) -> Transcoder:
        return CanonicalTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return TypedMapper(transcoder=self.construct_transcoder())

    # --- loading, with a write-through cache -----------------------------------------

    def _load(self, sid: UUID) -> HallAggregate | None:
        agg = self._cache.get(sid)
        if agg is not None:
            self._cache.move_to_end(sid)
            return agg
        try:
            agg = cast(HallAggregate, self.repository.get(sid))
        except AggregateNotFoundError:
            return None
        self._remember(agg)
        return agg

    def _remember(self, agg: HallAggregate) -> None:
        self._cache[agg.id] = agg
        self._cache.move_to_end(agg.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop cached aggregates (after a conflict or when another writer is active)."""
        self._cache.clear()
        self._catalogue = None

    # --- secrets ---------------------------------------------------------------------

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256: applicant ids and query codes are never stored in clear."""
        h = self._hmac.copy()  # the keyed state, set up once rather than per record
        h.update(f"{purpose}|{value}".encode())
        return h.hexdigest()

    def derived_query_code(self, receipt_no: str) -> str:
        """The query code (查询码) hallwatch generates when the hall sends none."""
        h = self._hmac.copy()
        h.update(f"query-code|{receipt_no}".encode())
        digest = h.digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"

    def query_code_matches(self, case: Case, code: str) -> bool:
        if case.query_code_hash is None or case.receipt_no is None:
            return False
        expected = self.keyed_hash("query-code", f"{case.receipt_no}|{code.strip()}")
        return hmac.compare_digest(expected, case.query_code_hash)

    # --- catalogue -------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The in-memory catalogue, rebuilt from the ServiceCatalogue stream."""
        if self._catalogue is None:
            agg = self._load(stream_id("catalogue", "main"))
            cat = Catalogue()
            if isinstance(agg, ServiceCatalogue):
                for versions in agg.versions.values():
                    for v in versions.values():
                        cat.add(v)
            self._catalogue = cat
        return self._catalogue

    def load_catalogue(self, parsed: ParsedCatalogue, loaded_from: str) -> CatalogueLoad:
        """Record every new item version; identical re-loads change nothing."""
        result = CatalogueLoad(refusals=[(r.line, r.reason) for r in parsed.refusals])
        now = datetime.now(UTC)
        sid = stream_id("catalogue", "main")
        agg = self._load(sid)
        ctx = RecordContext("", "catalogue", "catalogue", now, now, chain_key=self.chain_key)
        if not isinstance(agg, ServiceCatalogue):
            agg = ServiceCatalogue.open(ctx)
        lines = {id(v): i for i, v in enumerate(parsed.versions)}
        for v in parsed.versions:
            try:
                if agg.check_version(v):
                    agg.add_version(ctx, v, loaded_from)
                    result.added += 1
                else:
                    result.unchanged += 1
            except DomainError as e:
                result.refusals.append((lines[id(v)], e.reason))
        try:
            self.save(agg)
        except RecordConflictError:
            self.forget()
            raise
        self._remember(agg)
        self._catalogue = None
        return result

    # --- intake ----------------------------------------------------------------------

    def ingest(
        self,
        records: Sequence[bytes | str | Mapping[str, Any]],
        *,
        received_at: datetime | None = None,
    ) -> list[Outcome]:
        """Apply a batch of intake records in one transaction; one Outcome per record."""
        received = received_at or datetime.now(UTC)
        prepared = [self._prepare(r, received) for r in records]
        conflicts = 0
        while True:
            batch = _Batch(self)
            self._prefetch(batch, prepared)
            outcomes = self._apply_all(batch, prepared)
            if outcomes is None:  # one record failed unexpectedly: it is refused, the rest rerun
                continue
            dirty = [a for a in batch.touched.values() if a.pending_events]
            if not dirty:
                return outcomes
            try:
                self._save_batch(dirty, batch.new_keys)
            except RecordConflictError:
                # Another writer got there first: reload and retry; records it
                # already applied now show up as duplicates.
                self.forget()
                conflicts += 1
                if conflicts == 5:
                    raise
                continue
            for a in dirty:
                self._remember(a)
            return outcomes

    def _apply_all(self, batch: _Batch, prepared: list[Prepared]) -> list[Outcome] | None:
        """Every record's outcome, or None after a record raised something no rule expects.

        That record is refused in ``prepared`` with the error named, and the caches
        are dropped (it may have half-changed an aggregate), so the caller reruns the
        batch without it: one bad record never stops the good ones around it.
        """
        outcomes: list[Outcome] = []
        for i, p in enumerate(prepared):
            if isinstance(p, Outcome):
                outcomes.append(p)
                continue
            try:
                outcomes.append(self._apply_prepared(batch, *p))
            except Exception as e:
                logger.exception("record %r could not be applied", p[1].record_id[:200])
                reason = f"could not be applied ({type(e).__name__}: {str(e)[:200]})"
                prepared[i] = _refused(p[0], InvalidRecord(reason))
                self.forget()
                return None
        return outcomes

    def _prepare(self, raw: bytes | str | Mapping[str, Any], received: datetime) -> Prepared:
        """Parse and schema-check a record: the refusal, or the record, its envelope
        and the digest of its content."""
        record: Any = None
        try:
            record = _parse(raw)
            reason = validation_error(record)
            if reason is not None:
                raise InvalidRecord(reason)
            normalize(record)
            ctx = _context(record, received, self.chain_key)
            return record, ctx, hashlib.sha256(canonical_json(record)).hexdigest()
        except DomainError as e:
            return _refused(record, e)
        except Exception as e:  # nothing a record holds may stop the batch
            logger.exception("record could not be read")
            return _refused(record, InvalidRecord(f"could not be read ({type(e).__name__})"))

    def _apply_prepared(
        self, batch: _Batch, record: dict[str, Any], ctx: RecordContext, digest: str
    ) -> Outcome:
        key = record_key(ctx.source, ctx.record_id)
        stream = _main_stream(ctx.kind, record)
        seen = batch.keys.get(key)
        if seen is not None:
            if seen[1] == digest:
                return _done(DUPLICATE, ctx)
            return _refused(record, _key_conflict(ctx, seen, stream, digest))
        try:
            outcome = _HANDLERS[ctx.kind](self, batch, record, ctx)
        except DomainError as e:
            return _refused(record, e)
        if outcome.status == APPLIED:
            batch.keys[key] = (stream, digest)
            batch.new_keys.append((key, stream, digest))
        return outcome

    def _prefetch(self, batch: _Batch, prepared: Sequence[Prepared]) -> None:
        """Load, in one query, every stream the batch may touch that is not cached.

        Streams the query does not find are new: the batch knows they are absent
        without asking the database once per record.
        """
        refs: set[tuple[str, str]] = set()  # deduplicated before hashing any UUID
        add = refs.add
        keys_of = _STREAM_KEYS_OF.get
        record_keys = [
            record_key(p[1].source, p[1].record_id) for p in prepared if not isinstance(p, Outcome)
        ]
        if record_keys:
            batch.keys.update(select_record_keys(self.recorder, record_keys))
        for p in prepared:
            if isinstance(p, Outcome):
                continue
            r, ctx, _ = p
            for kind, key in keys_of(ctx.kind, _STREAM_KEYS):
                value = r.get(key)
                if isinstance(value, str) and value:
                    add((kind, value))
        cache = self._cache
        missing = [sid for sid in (stream_id(k, v) for k, v in refs) if sid not in cache]
        if not missing:
            return
        found = self._load_many(missing)
        for sid in missing:
            agg = found.get(sid)
            if agg is None:
                batch.absent.add(sid)
            else:
                self._remember(agg)

    def _load_many(self, ids: Sequence[UUID]) -> dict[UUID, HallAggregate]:
        """Reconstruct many aggregates from one SELECT per chunk of ids."""
        by_stream: dict[UUID, list[StoredEvent]] = {}
        for stored in _select_streams(self.recorder, ids):
            by_stream.setdefault(stored.originator_id, []).append(stored)  # type: ignore[arg-type]
        out: dict[UUID, HallAggregate] = {}
        for sid, rows in by_stream.items():
            agg: Any = None
            for stored in sorted(rows, key=lambda s: s.originator_version):
                agg = cast(Any, self.mapper.to_domain_event(stored)).mutate(agg)
            out[sid] = agg
        return out

    def _save_batch(
        self,
        aggregates: Sequence[HallAggregate],
        record_keys: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Store every pending event of the batch, and the idempotency keys of the
        records applied, in one transaction.

        Same as ``Application.save`` minus its per-object runtime protocol checks
        and the Recording objects nobody here reads, which together cost more than
        the insert itself at intake rates.
        """
        recorder = self.recorder
        mapper = self.mapper
        if (
            isinstance(recorder, BatchSQLiteRecorder)
            and mapper.cipher is None
            and mapper.compressor is None
        ):
            rows: list[tuple[str, int, str, bytes]] = []
            for agg in aggregates:
                hex_id = agg.id.hex
                for e in agg.collect_events():
                    state = e.__dict__.get(STORED_BYTES)
                    if state is None:
                        state = mapper.to_stored_event(e).state
                    rows.append((hex_id, e.originator_version, get_topic(type(e)), state))
            recorder.insert_rows(rows, record_keys)
            return
        to_stored = mapper.to_stored_event
        stored = [to_stored(e) for agg in aggregates for e in agg.collect_events()]
        recorder.insert_events(stored, record_keys=record_keys)

    # --- handlers: each checks its guards before it changes anything ----------------

    def _case(self, batch: _Batch, r: Mapping[str, Any]) -> Case:
        case = batch.get(Case, stream_id("case", r["case_id"]))
        if case is None:
            raise UnknownCase(f"unknown case {r['case_id']}: no submitted record for it")
        return case

    def _on_submitted(self, batch: _Batch, r: dict[str, Any], ctx: RecordContext) -> Outcome:
        case_id = r["case_id"]
        existing = batch.get(Case, stream_id("case", case_id))
        if existing is not None:
            if existing.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            raise AlreadyExists(f"case {case_id} was already submitted by another record")
        item = self._item_on(r["item_code"], ctx.day)
        bundle_id = r.get("bundle_id") or None
        bundle = batch.get(Bundle, stream_id("bundle", bundle_id)) if bundle_id else None
        case = Case.submit(
            ctx,
            case_id=case_id,
            item=item,
            town=r["town"],
            channel=r["channel"],
            applicant_kind=r["applicant_kind"],
            applicant_name=r["applicant_name"],
            applicant_hash=self.keyed_hash("applicant", str(r["applicant_id"])),
            bundle_id=bundle_id,
            cal=self.calendar,
            policy=self.policy,
        )
        batch.add(case)
        if bundle_id:
            if bundle is None:
                batch.add(Bundle.open(ctx, bundle_id=bundle_id, case_id=case_id))
            else:
                bundle.add_case(ctx, case_id=case_id)
        return _done(APPLIED, ctx)

    def _item_on(self, item_code: str, day: date) -> ItemVersion:
        cat = self.catalogue()
        item = cat.version_on(item_code, day)
        if item is None:
            if item_code in cat:
                raise UnknownItem(f"item {item_code} has no catalogue version in force on {day}")
            raise UnknownItem(f"unknown service item {item_code}: not in the catalogue")
        return item

    def _on_accepted(self, batch: _Batch, r: dict[str, Any], ctx: RecordContext) -> Outcome:
        case = self._case(batch, r)
        if case.has_applied(ctx):
            return _done(DUPLICATE, ctx)
        receipt_no = r["receipt_no"]
        receipt = batch.get(Receipt, stream_id("receipt", receipt_no))
        if receipt is not None:
            receipt.check_can_add(case.case_id, case.bundle_id)
        code = r.get("query_code") or self.derived_query_code(receipt_no)
        item = case.item  # the version in force when the case was received (submitted)
        case.accept(
            ctx,
            receipt_no=receipt_no,
            query_code_hash=self.keyed_hash("query-code", f"{receipt_no}|{str(code).strip()}"),
            item=item,
            cal=self.calendar,
            policy=self.policy,
        )
        if receipt is None:
            batch.add(
                Receipt.issue(
                    ctx, receipt_no=receipt_no, case_id=case.case_id, bundle_id=case.bundle_id
                )
            )
        else:
            receipt.add_case(ctx, case_id=case.case_id)
        return _done(APPLIED, ctx)

    def _case_command(
        self, fn: Callable[[Case, dict[str, Any], RecordContext], None]
    ) -> Callable[[_Batch, dict[str, Any], RecordContext], Outcome]:
        def handle(batch: _Batch, r: dict[str, Any], ctx: RecordContext) -> Outcome:
            case = self._case(batch, r)
            if case.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            fn(case, r, ctx)
            return _done(APPLIED, ctx)

        return handle

    def _complaint(self, batch: _Batch, r: Mapping[str, Any]) -> Complaint:
        c = batch.get(Complaint, stream_id("complaint", r["complaint_id"]))
        if c is None:
            raise UnknownComplaint(f"unknown complaint {r['complaint_id']}: it was never filed")
        return c

    def _on_complaint_filed(self, batch: _Batch, r: dict[str, Any], ctx: RecordContext) -> Outcome:
        cid = r["complaint_id"]
        existing = batch.get(Complaint, stream_id("complaint", cid))
        if existing is not None:
            if existing.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            raise AlreadyExists(f"complaint {cid} was already filed by another record")
        case = self._case(batch, r) if r.get("case_id") else None
        if case is not None:
            case.check_order(ctx, case.submitted_at, "submission")
        department = r.get("department") or (case.department if case else "")
        complaint = Complaint.file(
            ctx,
            complaint_id=cid,
            case_id=case.case_id if case else None,
            department=department,
            channel=r["channel"],
            content=r["content"],
            cal=self.calendar,
            policy=self.policy,
        )
        batch.add(complaint)
        if case is not None:
            case.link_complaint(ctx, complaint_id=cid)
        return _done(APPLIED, ctx)

    def _complaint_command(
        self, fn: Callable[[Complaint, dict[str, Any], RecordContext], None]
    ) -> Callable[[_Batch, dict[str, Any], RecordContext], Outcome]:
        def handle(batch: _Batch, r: dict[str, Any], ctx: RecordContext) -> Outcome:
            c = self._complaint(batch, r)
            if c.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            fn(c, r, ctx)
            return _done(APPLIED, ctx)

        return handle

    def _on_supervision_ordered(
        self, batch: _Batch, r: dict[str, Any], ctx: RecordContext
    ) -> Outcome:
        oid = r["order_id"]
        existing = batch.get(SupervisionOrder, stream_id("supervision", oid))
        if existing is not None:
            if existing.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            raise AlreadyExists(f"supervision order {oid} was already issued by another record")
        case = self._case(batch, r) if r.get("case_id") else None
        if case is not None:
            case.check_order(ctx, case.submitted_at, "submission")
        order = SupervisionOrder.issue(
            ctx,
            order_id=oid,
            case_id=case.case_id if case else None,
            department=r.get("department") or (case.department if case else ""),
            inspector=r["inspector"],
            due_days=r["due_days"],
            note=r["note"],
            cal=self.calendar,
        )
        batch.add(order)
        if case is not None:
            case.link_supervision(
                ctx,
                order_id=oid,
                inspector=order.inspector,
                note=order.note,
                due_date=order.due_date,
            )
        return _done(APPLIED, ctx)

    def _on_supervision_answered(
        self, batch: _Batch, r: dict[str, Any], ctx: RecordContext
    ) -> Outcome:
        order = batch.get(SupervisionOrder, stream_id("supervision", r["order_id"]))
        if order is None:
            raise UnknownOrder(f"unknown supervision order {r['order_id']}: it was never issued")
        if order.has_applied(ctx):
            return _done(DUPLICATE, ctx)
        _not_before(ctx, order.ordered_at, f"issue of supervision order {order.order_id}")
        case = batch.get(Case, stream_id("case", order.case_id)) if order.case_id else None
        order.answer(ctx, reply=r["reply"])
        if case is not None:
            case.link_supervision_answer(
                ctx, order_id=order.order_id, on_time=ctx.day <= order.due_date
            )
        return _done(APPLIED, ctx)

    # --- lookups ---------------------------------------------------------------------

    def find_cases(self, ref: str) -> list[UUID]:
        """A case_id or a receipt number (受理号) to case stream ids."""
        ref = ref.strip()
        sid = stream_id("case", ref)
        if self._exists(sid):
            return [sid]
        receipt = self._load(stream_id("receipt", ref))
        if isinstance(receipt, Receipt):
            return [stream_id("case", c) for c in receipt.case_ids]
        raise UnknownCase(f"no case or receipt number '{ref}'")

    def _exists(self, sid: UUID) -> bool:
        if sid in self._cache:
            return True
        return bool(self.recorder.select_events(sid, limit=1))

    def history(self, sid: UUID) -> list[HallAggregate.Event]:
        """Every stored event of a stream, in order."""
        return cast(list[HallAggregate.Event], list(self.events.get(sid)))

    def as_of(
        self, sid: UUID, when: datetime | None
    ) -> tuple[HallAggregate | None, list[HallAggregate.Event]]:
        """The aggregate as it stood at ``when`` (by when things happened), with its events."""
        events = self.history(sid)
        if when is not None:
            cut = len(events)
            for i, e in enumerate(events):
                if e.occurred_at > when:
                    cut = i
                    break
            events = events[:cut]
        agg: Any = None
        for e in events:
            agg = e.mutate(agg)
        return agg, events

    def get_complaint(self, ref: str) -> Complaint:
        agg = self._load(stream_id("complaint", ref.strip()))
        if not isinstance(agg, Complaint):
            raise UnknownComplaint(f"no complaint '{ref}'")
        return agg

    def get_order(self, ref: str) -> SupervisionOrder:
        agg = self._load(stream_id("supervision", ref.strip()))
        if not isinstance(agg, SupervisionOrder):
            raise UnknownOrder(f"no supervision order '{ref}'")
        return agg

    # --- tamper evidence -------------------------------------------------------------

    def stored_rows(self, page: int = 5000) -> Iterator[tuple[int, UUID, int, str, bytes]]:
        """Every stored event in notification order, as raw rows."""
        start = 1
        while True:
            rows = self.recorder.select_notifications(start, page)
            if not rows:
                return
            for n in rows:
                oid = (
                    n.originator_id
                    if isinstance(n.originator_id, UUID)
                    else UUID(str(n.originator_id))
                )
                yield n.id, oid, n.originator_version, n.topic, n.state
            start = rows[-1].id + 1

    def verify(
        self,
        progress: Callable[[int], None] | None = None,
        verifier: ChainVerifier | None = None,
    ) -> VerifyReport:
        """Check every keyed chain, the notification sequence and, when ``verifier`` was
        given them, the signed checkpoints, from the raw stored rows."""
        verifier = verifier or ChainVerifier(self.chain_key)
        for row in self.stored_rows():
            verifier.check(*row)
            if progress is not None and verifier.events % 5000 == 0:
                progress(verifier.events)
        return verifier.finish()


# --- record parsing --------------------------------------------------------------------

_STREAM_KEYS = (
    ("case", "case_id"),
    ("receipt", "receipt_no"),
    ("bundle", "bundle_id"),
    ("complaint", "complaint_id"),
    ("supervision", "order_id"),
)


def _not_before(ctx: RecordContext, after: datetime, what: str) -> None:
    if ctx.at < after:
        raise InvalidTransition(
            f"{ctx.kind} at {ctx.at.isoformat()} is before the {what} ({after.isoformat()})"
        )


def _refused(record: Any, e: DomainError) -> Outcome:
    kind = record.get("kind") if isinstance(record, dict) else None
    rid = record.get("record_id") if isinstance(record, dict) else None
    return Outcome(
        REFUSED,
        e.reason,
        kind if isinstance(kind, str) else None,
        rid if isinstance(rid, str) else None,
    )


def _select_streams(recorder: Any, ids: Sequence[UUID], chunk: int = 900) -> Iterator[StoredEvent]:
    """Every stored event of the given streams (SQLite or PostgreSQL recorder)."""
    table = recorder.events_table_name
    cols = "originator_id, originator_version, topic, state"
    for i in range(0, len(ids), chunk):
        part = ids[i : i + chunk]
        if isinstance(recorder, SQLiteApplicationRecorder):
            marks = ",".join("?" * len(part))
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT {cols} FROM {table} WHERE originator_id IN ({marks})",
                    [u.hex for u in part],
                )
                rows = c.fetchall()
            for row in rows:
                yield StoredEvent(UUID(row[0]), row[1], row[2], row[3])
        else:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(f"SELECT {cols} FROM {table} WHERE originator_id = ANY(%s)", [list(part)])
                rows = c.fetchall()
            for row in rows:
                yield StoredEvent(
                    row["originator_id"],
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )


MAX_RECORD_BYTES = 64 * 1024
"""A record over this size is refused before it is parsed (a record is a few hundred bytes)."""

_BOM = b"\xef\xbb\xbf"
_SPACED = re.compile(rb'"\s')
"""Every key ends ``":`` unless space follows its quote: when none does, counting ``":``
(string values may add some, never hide one) tells a record without duplicate keys."""


def _parse(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    # bytes and str first: the Mapping check is an ABC check, slow for what is not one
    if not isinstance(raw, (bytes, str)) and isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError as e:
            raise InvalidRecord(
                f"not valid text: a lone surrogate at character {e.start}"
            ) from None
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"record of {len(raw)} bytes exceeds the {MAX_RECORD_BYTES} allowed")
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRecord(_json_error(raw, e)) from None
    if not isinstance(value, dict):
        raise InvalidRecord(f"a record must be a JSON object, not {type(value).__name__}")
    if raw.count(b'":') != _count_keys(value) or _SPACED.search(raw) is not None:
        _refuse_duplicate_keys(raw)  # the exact (slower) check
    return value


def _json_error(raw: bytes, e: orjson.JSONDecodeError) -> str:
    """Where the text breaks, as a byte offset: invalid UTF-8 first, then JSON syntax."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return (
            f"not valid JSON: invalid UTF-8 byte 0x{raw[u.start]:02x} at byte offset {u.start} "
            f"({u.reason})"
        )
    offset = len(raw.decode("utf-8")[: e.pos].encode())
    return f"not valid JSON at byte offset {offset} (line {e.lineno}, column {e.colno}): {e.msg}"


def _count_keys(value: dict[str, Any]) -> int:
    """Keys of every object in the record (records are shallow: a loop, not recursion)."""
    count = len(value)
    nested = [x for x in value.values() if x.__class__ is dict or x.__class__ is list]
    if not nested:
        return count  # the usual flat record
    count = 0
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            count += len(v)
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))
    return count


def _refuse_duplicate_keys(raw: bytes) -> None:
    """Refuse a record that names a field twice (which value would be meant?)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in items:
            if k in seen:
                raise InvalidRecord(f"field {k[:40]!r} appears twice in one object")
            seen[k] = v
        return seen

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # orjson read it; the stdlib may be stricter
        return


_EARLIEST_YEAR, _LATEST_YEAR = 2000, 2099
_FUTURE_SLACK = timedelta(days=1)
"""How far ``at`` may lie after ``recorded_at`` (clock skew between hall systems)."""

RESERVED_SOURCE_PREFIX = "hallwatch"
"""Sources of hallwatch's own writers (alerter, dashboard): no intake record may use them."""


def _parse_time(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"{name} is not an RFC 3339 date-time: {value[:40]!r}") from None
    if t.tzinfo is None:
        raise InvalidRecord(f"{name} has no UTC offset: {value[:40]!r}")
    if not _EARLIEST_YEAR <= t.year <= _LATEST_YEAR:
        raise InvalidRecord(
            f"{name} {value[:40]!r} is outside the years {_EARLIEST_YEAR}–{_LATEST_YEAR}"
        )
    return t


def _context(
    r: Mapping[str, Any], received: datetime, chain_key: ChainKey | None = None
) -> RecordContext:
    at_text = r["at"]
    at = _parse_time(at_text, "at")
    rec_text = r.get("recorded_at")
    if not rec_text:
        rec = received
    elif rec_text == at_text:  # entered as it happened: the usual case, parsed once
        rec = at
    else:
        rec = _parse_time(rec_text, "recorded_at")
    if at - rec > _FUTURE_SLACK:
        told = "recorded_at" if rec_text else "the time hallwatch received it"
        raise InvalidRecord(f"at {at_text} lies more than a day after {told}")
    source = r.get("source") or ""
    if source.strip().lower().startswith(RESERVED_SOURCE_PREFIX):
        raise InvalidRecord(f"source {source[:40]!r} is reserved for hallwatch's own writers")
    if r["record_id"].startswith("alert:"):
        raise InvalidRecord("record_id 'alert:…' is reserved for hallwatch's alerts")
    return RecordContext(r["record_id"], source, r["kind"], at, rec, received, chain_key)


def _main_stream(kind: str, r: Mapping[str, Any]) -> str:
    """The stream a record is about, for idempotency: ``case:DG2026…``."""
    if kind.startswith("complaint_"):
        return f"complaint:{r['complaint_id']}"
    if kind.startswith("supervision_"):
        return f"supervision:{r['order_id']}"
    return f"case:{r['case_id']}"


def _key_conflict(
    ctx: RecordContext, seen: tuple[str, str], stream: str, digest: str
) -> DomainError:
    who = f"record {ctx.source + '/' if ctx.source else ''}{ctx.record_id[:80]}"
    if seen[0] != stream:
        return RecordConflict(
            f"{who} was already applied to {seen[0][:100]}: a record id is unique in its source "
            f"(stored digest {seen[1][:16]}, this one {digest[:16]})"
        )
    return RecordConflict(
        f"{who} was already applied with other content (stored digest {seen[1][:16]}, "
        f"this one {digest[:16]}): a record id cannot be reused for new content"
    )


Prepared = Outcome | tuple[dict[str, Any], RecordContext, str]


def _case_handlers() -> dict[str, Callable[[Case, dict[str, Any], RecordContext, Hallwatch], None]]:
    def rejected(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.reject(ctx, reason=r.get("reason"), cal=app.calendar)

    def correction_requested(
        c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch
    ) -> None:
        c.request_correction(ctx, materials=tuple(r["materials"]), cal=app.calendar)

    def correction_received(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.receive_correction(ctx, cal=app.calendar, policy=app.policy)

    def step_started(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.start_step(
            ctx,
            step=r["step"],
            handler=r["handler"],
            department=r.get("department"),
            cal=app.calendar,
        )

    def step_completed(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.complete_step(
            ctx,
            step=r["step"],
            handler=r["handler"],
            decision=r["decision"],
            opinion=r.get("opinion"),
            cal=app.calendar,
        )

    def suspended(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.suspend(
            ctx,
            procedure=r["procedure"],
            reason=r["reason"],
            expected_days=r["expected_days"],
            cal=app.calendar,
        )

    def resumed(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.resume(ctx, cal=app.calendar, policy=app.policy)

    def extended(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.extend(
            ctx,
            days=r["days"],
            reason=r["reason"],
            approved_by=r["approved_by"],
            cal=app.calendar,
            policy=app.policy,
        )

    def concluded(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.conclude(
            ctx,
            outcome=r["outcome"],
            reason=r.get("reason"),
            online=r["online"],
            cal=app.calendar,
            policy=app.policy,
        )

    def delivered(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.deliver(ctx, method=r["method"], site_visits=r["site_visits"], cal=app.calendar)

    def rated(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.rate(ctx, level=r["level"], comment=r.get("comment"), cal=app.calendar, policy=app.policy)

    def rating_answered(c: Case, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.answer_rating(ctx, reply=r["reply"], cal=app.calendar)

    return {
        "rejected": rejected,
        "correction_requested": correction_requested,
        "correction_received": correction_received,
        "step_started": step_started,
        "step_completed": step_completed,
        "suspended": suspended,
        "resumed": resumed,
        "extended": extended,
        "concluded": concluded,
        "delivered": delivered,
        "rated": rated,
        "rating_answered": rating_answered,
    }


def _complaint_handlers() -> dict[
    str, Callable[[Complaint, dict[str, Any], RecordContext, Hallwatch], None]
]:
    def accepted(c: Complaint, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.accept(ctx, cal=app.calendar, policy=app.policy)

    def rejected(c: Complaint, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.reject(ctx, reason=r.get("reason"))

    def assigned(c: Complaint, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.assign(ctx, department=r["department"])

    def replied(c: Complaint, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.reply(ctx, reply=r["reply"])

    def closed(c: Complaint, r: dict[str, Any], ctx: RecordContext, app: Hallwatch) -> None:
        c.close(ctx, satisfied=r.get("satisfied"))

    return {
        "complaint_accepted": accepted,
        "complaint_rejected": rejected,
        "complaint_assigned": assigned,
        "complaint_replied": replied,
        "complaint_closed": closed,
    }


Handler = Callable[[Hallwatch, _Batch, dict[str, Any], RecordContext], Outcome]


def _build_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "submitted": Hallwatch._on_submitted,
        "accepted": Hallwatch._on_accepted,
        "complaint_filed": Hallwatch._on_complaint_filed,
        "supervision_ordered": Hallwatch._on_supervision_ordered,
        "supervision_answered": Hallwatch._on_supervision_answered,
    }

    for kind, fn in _case_handlers().items():

        def case_handler(
            app: Hallwatch,
            batch: _Batch,
            r: dict[str, Any],
            ctx: RecordContext,
            fn: Callable[[Case, dict[str, Any], RecordContext, Hallwatch], None] = fn,
        ) -> Outcome:
            case = app._case(batch, r)
            if case.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            fn(case, r, ctx, app)
            return _done(APPLIED, ctx)

        handlers[kind] = case_handler

    for kind, cfn in _complaint_handlers().items():

        def complaint_handler(
            app: Hallwatch,
            batch: _Batch,
            r: dict[str, Any],
            ctx: RecordContext,
            fn: Callable[[Complaint, dict[str, Any], RecordContext, Hallwatch], None] = cfn,
        ) -> Outcome:
            c = app._complaint(batch, r)
            if c.has_applied(ctx):
                return _done(DUPLICATE, ctx)
            latest = max(t for t in (c.filed_at, c.accepted_at, c.replied_at) if t is not None)
            _not_before(ctx, latest, f"last record of complaint {c.complaint_id}")
            fn(c, r, ctx, app)
            return _done(APPLIED, ctx)

        handlers[kind] = complaint_handler
    return handlers


_HANDLERS = _build_handlers()

_CASE_KEY = (("case", "case_id"),)
_STREAM_KEYS_OF: dict[str, tuple[tuple[str, str], ...]] = {
    "submitted": (*_CASE_KEY, ("bundle", "bundle_id")),
    "accepted": (*_CASE_KEY, ("receipt", "receipt_no")),
    "complaint_filed": (("complaint", "complaint_id"), *_CASE_KEY),
    "supervision_ordered": (("supervision", "order_id"), *_CASE_KEY),
    "supervision_answered": (("supervision", "order_id"),),
    **{kind: _CASE_KEY for kind in _case_handlers()},
    **{kind: (("complaint", "complaint_id"),) for kind in _complaint_handlers()},
}
"""The streams each kind's handler looks up from the record, for ``_prefetch``.

Only a shortcut: a stream missed here is still loaded, one query, when the handler
asks for it; a kind not listed has every key looked at.
"""


def handled_kinds() -> frozenset[str]:
    """Record kinds the application knows how to apply (checked against the schema)."""
    return frozenset(_HANDLERS)


def iter_batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
