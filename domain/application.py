"""The hallwatch application: intake of records, the catalogue, lookups and verification.

Intake is idempotent by record (domain/intake.py): the same record twice, or a
whole file replayed after a crash, adds nothing. Records are applied in
batches, each saved in one transaction; a write conflict with another writer
reloads and retries, and the retry sees already-applied records as duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Mapper, RecordConflictError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, ItemVersion, ParsedCatalogue
from domain.chain import ChainBreak, ChainKey, ChainVerifier, VerifyReport, verify_stream
from domain.encoding import STORED_BYTES, CanonicalTranscoder, TypedMapper, canonical_json
from domain.errors import (
    DomainError,
    InvalidRecord,
    RecordConflict,
    UnknownCase,
    UnknownComplaint,
    UnknownItem,
    UnknownOrder,
)
from domain.intake import (
    APPLIED,
    COMMANDS,
    DUPLICATE,
    REFUSED,
    Batch,
    Outcome,
    apply_once,
    done,
    main_stream,
    refused,
)
from domain.model import (
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
from domain.reading import MAX_RECORD_BYTES, parse_record, record_context
from domain.records import normalize, validation_error
from domain.store import BatchRecorder, StoredRow

__all__ = [
    "APPLIED",
    "DUPLICATE",
    "MAX_RECORD_BYTES",
    "REFUSED",
    "CatalogueLoad",
    "Hallwatch",
    "Outcome",
    "iter_batches",
]

logger = logging.getLogger(__name__)

#: A record ready to apply (the record, its envelope, the digest of its content), or
#: the outcome it already has (refused while being read).
Prepared = Outcome | tuple[dict[str, Any], RecordContext, str]


@dataclass
class CatalogueLoad:
    """Result of loading a catalogue file."""

    added: int = 0
    unchanged: int = 0
    refusals: list[tuple[int, str]] = field(default_factory=list)


class Hallwatch(Application[UUID]):
    """hallwatch's event-sourced application (SQLite file or PostgreSQL)."""

    name = "hallwatch"
    calendar: WorkCalendar
    policy: Policy

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
        self._hmac = hmac.new(secret_key, digestmod=hashlib.sha256)
        self.chain_key = ChainKey.derive(secret_key)  # docs/tamper-evidence.md
        self._cache: OrderedDict[UUID, HallAggregate] = OrderedDict()
        self._cache_size = cache_size
        self._catalogue: Catalogue | None = None
        if not isinstance(self.recorder, BatchRecorder):
            raise TypeError(
                f"{type(self.recorder).__name__} is not a hallwatch event store "
                "(infra/persistence.py)"
            )
        self._store: BatchRecorder = self.recorder

    def construct_transcoder(self) -> Transcoder:
        return CanonicalTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return TypedMapper(transcoder=self.construct_transcoder())

    # --- loading and saving, with a write-through cache ---------------------------------

    def load(self, sid: UUID) -> HallAggregate | None:
        """The aggregate of a stream (cached), or None when the stream does not exist."""
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

    def load_many(self, ids: Sequence[UUID]) -> dict[UUID, HallAggregate]:
        """Reconstruct many aggregates from one SELECT per chunk of ids (not cached)."""
        by_stream: dict[UUID, list[StoredEvent]] = {}
        for stored in self._store.select_streams(ids):
            by_stream.setdefault(stored.originator_id, []).append(stored)  # type: ignore[arg-type]
        out: dict[UUID, HallAggregate] = {}
        for sid, rows in by_stream.items():
            agg: Any = None
            for stored in sorted(rows, key=lambda s: s.originator_version):
                agg = cast(Any, self.mapper.to_domain_event(stored)).mutate(agg)
            out[sid] = agg
        return out

    def save_batch(
        self,
        aggregates: Sequence[HallAggregate],
        record_keys: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Store every pending event of these aggregates, and the idempotency keys of the
        records applied, in one transaction (``Application.save`` minus its per-object
        checks and the Recording objects nobody here reads)."""
        mapper = self.mapper
        plain = mapper.cipher is None and mapper.compressor is None
        rows: list[StoredRow] = []
        for agg in aggregates:
            for e in agg.collect_events():
                state = e.__dict__.get(STORED_BYTES) if plain else None
                if state is None:
                    state = mapper.to_stored_event(e).state
                rows.append((agg.id, e.originator_version, get_topic(type(e)), state))
        self._store.insert_batch(rows, record_keys)

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
        return f"{int.from_bytes(h.digest()[:8], 'big') % 1_000_000:06d}"

    def query_code_matches(self, case: Case, code: str) -> bool:
        if case.query_code_hash is None or case.receipt_no is None:
            return False
        expected = self.keyed_hash("query-code", f"{case.receipt_no}|{code.strip()}")
        return hmac.compare_digest(expected, case.query_code_hash)

    def complaint_query_code(self, complaint_id: str) -> str:
        """The query code (查询码) a complainant tracks a complaint with: eight digits keyed
        on the complaint id, so it is never stored and any complaint has one."""
        h = self._hmac.copy()
        h.update(f"complaint-query-code|{complaint_id.strip()}".encode())
        return f"{int.from_bytes(h.digest()[:8], 'big') % 100_000_000:08d}"

    def complaint_code_matches(self, complaint_id: str, code: str) -> bool:
        """Whether ``code`` is the complaint's query code (compared in constant time)."""
        expected = self.complaint_query_code(complaint_id).encode()
        return hmac.compare_digest(expected, code.strip().encode("utf-8", "replace"))

    # --- catalogue -------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The in-memory catalogue, rebuilt from the ServiceCatalogue stream."""
        if self._catalogue is None:
            agg = self.load(stream_id("catalogue", "main"))
            cat = Catalogue()
            if isinstance(agg, ServiceCatalogue):
                for versions in agg.versions.values():
                    for v in versions.values():
                        cat.add(v)
            self._catalogue = cat
        return self._catalogue

    def item_on(self, item_code: str, day: date) -> ItemVersion:
        """The item's version in force on ``day``; UnknownItem when there is none."""
        cat = self.catalogue()
        item = cat.version_on(item_code, day)
        if item is None:
            if item_code in cat:
                raise UnknownItem(f"item {item_code} has no catalogue version in force on {day}")
            raise UnknownItem(f"unknown service item {item_code}: not in the catalogue")
        return item

    def load_catalogue(self, parsed: ParsedCatalogue, loaded_from: str) -> CatalogueLoad:
        """Record every new item version; identical re-loads change nothing."""
        result = CatalogueLoad(refusals=[(r.line, r.reason) for r in parsed.refusals])
        now = datetime.now(UTC)
        agg = self.load(stream_id("catalogue", "main"))
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
        own: bool = False,
    ) -> list[Outcome]:
        """Apply a batch of intake records in one transaction; one Outcome per record.
        ``own``: records hallwatch writes itself (the dashboard), under its reserved
        sources, checked and applied exactly as intake records are."""
        received = received_at or datetime.now(UTC)
        prepared = [self._prepare(r, received, own) for r in records]
        conflicts = 0
        while True:
            batch = Batch(self)
            self._prefetch(batch, prepared)
            outcomes = self._apply_all(batch, prepared)
            if outcomes is None:  # one record failed unexpectedly: it is refused, the rest rerun
                continue
            dirty = [a for a in batch.touched.values() if a.pending_events]
            if not dirty:
                return outcomes
            try:
                self.save_batch(dirty, batch.new_keys)
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

    def _prepare(
        self, raw: bytes | str | Mapping[str, Any], received: datetime, own: bool = False
    ) -> Prepared:
        """Parse and schema-check a record: its refusal, or the record, its envelope and
        the digest of its content."""
        record: Any = None
        try:
            record = parse_record(raw)
            reason = validation_error(record)
            if reason is not None:
                raise InvalidRecord(reason)
            normalize(record)
            ctx = record_context(record, received, self.chain_key, own=own)
            return record, ctx, hashlib.sha256(canonical_json(record)).hexdigest()
        except DomainError as e:
            return refused(record, e)
        except Exception as e:  # nothing a record holds may stop the batch
            logger.exception("record could not be read")
            return refused(record, InvalidRecord(f"could not be read ({type(e).__name__})"))

    def _apply_all(self, batch: Batch, prepared: list[Prepared]) -> list[Outcome] | None:
        """Every record's outcome, or None after a record raised something no rule expects:
        that record is refused in ``prepared`` with the error named and the caches dropped
        (it may have half-changed an aggregate), so the caller reruns the batch without it."""
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
                prepared[i] = refused(p[0], InvalidRecord(reason))
                self.forget()
                return None
        return outcomes

    def _apply_prepared(
        self, batch: Batch, record: dict[str, Any], ctx: RecordContext, digest: str
    ) -> Outcome:
        key = record_key(ctx.source, ctx.record_id)
        stream = main_stream(ctx.kind, record)
        seen = batch.keys.get(key)
        if seen is not None:
            if seen[1] == digest:
                return done(DUPLICATE, ctx)
            return refused(record, _key_conflict(ctx, seen, stream, digest))
        try:
            status = apply_once(self, batch, record, ctx)
        except DomainError as e:
            return refused(record, e)
        if status == APPLIED:
            batch.keys[key] = (stream, digest)
            batch.new_keys.append((key, stream, digest))
        return done(status, ctx)

    def _prefetch(self, batch: Batch, prepared: Sequence[Prepared]) -> None:
        """Load, in one query, every stream the batch may touch that is not cached; streams
        the query does not find are new (the batch knows them absent without asking again)."""
        ready = [p for p in prepared if not isinstance(p, Outcome)]
        if ready:
            keys = [record_key(ctx.source, ctx.record_id) for _, ctx, _ in ready]
            batch.keys.update(self._store.select_record_keys(keys))
        refs: set[tuple[str, str]] = set()  # deduplicated before hashing any UUID
        for r, ctx, _ in ready:
            for kind, key in COMMANDS[ctx.kind].prefetch():
                value = r.get(key)
                if isinstance(value, str) and value:
                    refs.add((kind, value))
        cache = self._cache
        missing = [sid for sid in (stream_id(k, v) for k, v in refs) if sid not in cache]
        if not missing:
            return
        found = self.load_many(missing)
        for sid in missing:
            agg = found.get(sid)
            if agg is None:
                batch.absent.add(sid)
            else:
                self._remember(agg)

    # --- lookups ---------------------------------------------------------------------

    def find_cases(self, ref: str) -> list[UUID]:
        """A case_id or a receipt number (受理号) to case stream ids."""
        ref = ref.strip()
        sid = stream_id("case", ref)
        if self._exists(sid):
            return [sid]
        receipt = self.load(stream_id("receipt", ref))
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
            cut = next((i for i, e in enumerate(events) if e.occurred_at > when), len(events))
            events = events[:cut]
        agg: Any = None
        for e in events:
            agg = e.mutate(agg)
        return agg, events

    def get_complaint(self, ref: str) -> Complaint:
        agg = self.load(stream_id("complaint", ref.strip()))
        if not isinstance(agg, Complaint):
            raise UnknownComplaint(f"no complaint '{ref}'")
        return agg

    def get_order(self, ref: str) -> SupervisionOrder:
        agg = self.load(stream_id("supervision", ref.strip()))
        if not isinstance(agg, SupervisionOrder):
            raise UnknownOrder(f"no supervision order '{ref}'")
        return agg

    # --- tamper evidence -------------------------------------------------------------

    def verify_stream(self, sid: UUID) -> ChainBreak | None:
        """One stream's keyed chain, from its stored rows: the first break, or None."""
        rows = [
            (s.originator_version, s.topic, bytes(s.state))
            for s in self.recorder.select_events(sid)
        ]
        return verify_stream(sid, rows, self.chain_key)

    def stored_rows(self, page: int = 5000) -> Iterator[tuple[int, UUID, int, str, bytes]]:
        """Every stored event in notification order, as raw rows."""
        start = 1
        while True:
            rows = self.recorder.select_notifications(start, page)
            if not rows:
                return
            for n in rows:
                oid = n.originator_id
                yield (
                    n.id,
                    oid if isinstance(oid, UUID) else UUID(str(oid)),
                    n.originator_version,
                    n.topic,
                    n.state,
                )
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


def iter_batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
