"""Intake over Kafka (``hallwatch intake``): the intake topic into the event store.

The same idempotent application as ``hallwatch ingest``; offsets are committed only
past records applied, recognised as duplicates, or refused and acknowledged on the
dead-letter topic, and no message can stick the loop (docs/intake.md, "Over Kafka").
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from domain.application import DUPLICATE, MAX_RECORD_BYTES, REFUSED, Hallwatch, Outcome
from domain.privacy import redact_raw
from streams.loop import first_offsets, next_offsets, run_batches
from streams.relay import Producer

logger = logging.getLogger(__name__)

#: Largest dead letter kept whole (a larger refused record keeps its size and digest).
MAX_DEAD_LETTER_BYTES = 1_000_000
#: Longest exception message kept in a "could not be applied" reason.
MAX_ERROR_CHARS = 300
#: Longest reason header (bytes).
MAX_REASON_BYTES = 2000
#: Fields whose values never leave the event store in clear (PIPL).
PERSONAL_FIELDS = ("applicant_id", "query_code")
#: Seconds without a message, once the partitions are assigned, that count as idle.
IDLE_SECONDS = 3.0
#: Seconds ``--until-idle`` waits for the group to assign the partitions.
ASSIGN_TIMEOUT = 30.0


class IntakeConsumer(Protocol):
    """What intake needs of a Kafka consumer (kafka-python's KafkaConsumer fits)."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]: ...

    def commit(self, offsets: Any = None) -> None: ...


class NoAssignment(RuntimeError):
    """The consumer group never assigned this consumer its partitions."""


@dataclass
class IntakeStats:
    """Counters for ``hallwatch intake``'s status line; every message handled is counted
    once as applied, duplicate or refused (dead-lettered)."""

    applied: int = 0
    duplicates: int = 0
    refused: int = 0
    #: of ``refused``: records whose application raised (dead-lettered "could not be applied")
    unapplicable: int = 0
    batches: int = 0
    #: batches that failed (storage or broker) and were rewound to be tried again
    failures: int = 0
    #: batches applied again in parts because applying them whole raised
    isolated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.applied + self.duplicates + self.refused


def _transient_kinds() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(exceptions that say the store or the broker is unwell, those of them that a
    record can cause: a PostgreSQL limit such as an index row too large)."""
    import sqlite3

    from eventsourcing.persistence import (
        InterfaceError,
        InternalError,
        OperationalError,
        RecordConflictError,
    )
    from kafka.errors import KafkaError

    kinds: list[type[BaseException]] = [
        InterfaceError,
        InternalError,
        OperationalError,
        RecordConflictError,
        sqlite3.OperationalError,
        sqlite3.InterfaceError,
        KafkaError,
        OSError,  # connections, disks, timeouts
    ]
    record_caused: list[type[BaseException]] = []
    try:
        import psycopg

        kinds += [psycopg.OperationalError, psycopg.InterfaceError]
        record_caused.append(psycopg.errors.ProgramLimitExceeded)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(kinds), tuple(record_caused)


_KINDS: tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]] | None = None


def is_transient(e: BaseException) -> bool:
    """True when the store or the broker is away, locked or busy (the batch is retried
    whole, nothing dead-lettered); False when the record may be the cause."""
    global _KINDS
    if _KINDS is None:
        _KINDS = _transient_kinds()
    transient, record_caused = _KINDS
    chain: list[BaseException] = []
    seen: BaseException | None = e
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(x, record_caused) for x in chain):
        return False
    return isinstance(e, transient)


def _personal_values(raw: bytes | None) -> list[str]:
    """The record's applicant id and query code values (to keep them out of reasons)."""
    if not raw:
        return []
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(record, dict):
        return []
    found = []
    for name in PERSONAL_FIELDS:
        value = record.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 4:  # shorter ones would blank out ordinary words
                found.append(text)
    return found


def scrub(reason: str, raw: bytes | None) -> str:
    """The reason with the record's own personal values replaced by ``***``."""
    for value in _personal_values(raw):
        reason = reason.replace(value, "***")
    return reason


def redact(raw: bytes) -> bytes:
    """The record as dead-lettered: applicant ids and query codes replaced, the
    applicant name masked (also in records that do not parse)."""
    return redact_raw(raw)


def unapplicable(e: BaseException) -> str:
    """The dead-letter reason of a record whose application raised."""
    message = " ".join(str(e).split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    return f"could not be applied: {type(e).__name__}: {message}"


def dead_letter(
    raw: bytes | None, reason: str, *, topic: str, partition: int, offset: int, key: bytes | None
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The dead-letter message: the record (personal data redacted) as value, why and
    where in headers.  Records too large to keep are replaced by their size and digest."""
    original = raw if raw is not None else b""
    headers = [
        ("hallwatch_reason", scrub(reason, raw).encode("utf-8", "replace")[:MAX_REASON_BYTES]),
        ("hallwatch_source_topic", topic.encode()),
        ("hallwatch_source_partition", str(partition).encode()),
        ("hallwatch_source_offset", str(offset).encode()),
        ("content-type", b"application/json"),
    ]
    if len(original) > MAX_DEAD_LETTER_BYTES:
        value = b""
        headers += [
            ("hallwatch_original_bytes", str(len(original)).encode()),
            ("hallwatch_original_sha256", hashlib.sha256(original).hexdigest().encode()),
        ]
    else:
        value = redact(original) if original else b""
    if key is not None:
        headers.append(("hallwatch_source_key", key[:1000]))
    return value, headers


class KafkaIntake:
    """Applies intake records from Kafka; refused ones go to the dead-letter topic."""

    def __init__(
        self,
        app: Hallwatch,
        consumer: IntakeConsumer,
        dead_letters: Producer,
        *,
        dead_letter_topic: str,
        max_records: int = 500,
        ack_timeout: float = 60.0,
        max_attempts: int = 5,
        suspect_after: int = 15,
        retry_wait: float = 0.1,
        on_batch: Callable[[Sequence[Any], Sequence[Outcome]], None] | None = None,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.max_records = max_records
        self.ack_timeout = ack_timeout
        #: tries of one record (or one batch failing alike) before it is dead-lettered
        self.max_attempts = max_attempts
        #: transient-looking failures of one batch, while the store answers, before the
        #: batch itself is suspected and isolated (a record that breaks the connection)
        self.suspect_after = suspect_after
        self.retry_wait = retry_wait
        self.stats = IntakeStats()
        #: called after each committed batch with its messages and their outcomes
        self.on_batch = on_batch
        #: the batch that last failed on storage while the store answered, and how often
        self._strikes: tuple[tuple[tuple[str, int, int], ...], int] | None = None
        self._assigned: bool | None = None  # None: no listener (cannot tell)
        self._watch_assignment()

    # -- the group -------------------------------------------------------------------

    def _watch_assignment(self) -> None:
        """Subscribe again, same topics, with a listener that notes the assignment (also
        an empty one), so ``--until-idle`` can tell "joined" from "not yet"."""
        subscription = getattr(self.consumer, "subscription", None)
        subscribe = getattr(self.consumer, "subscribe", None)
        topics = subscription() if subscription is not None else None
        if not topics or subscribe is None:
            return
        from kafka import ConsumerRebalanceListener

        intake = self

        class _Noted(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                intake._assigned = False

            def on_partitions_assigned(self, assigned: Any) -> None:
                intake._assigned = True

        self._assigned = False
        unsubscribe = getattr(self.consumer, "unsubscribe", None)
        if unsubscribe is not None:  # not joined yet: nothing to leave; no "unchanged" warning
            unsubscribe()
        subscribe(topics=sorted(topics), listener=_Noted())

    def _is_assigned(self) -> bool:
        if self._assigned is not None:
            return self._assigned
        assignment = getattr(self.consumer, "assignment", None)
        return bool(assignment()) if assignment is not None else True

    def _known_positions(self, timeout: float) -> None:
        """Wait until every assigned partition's position is known (its committed offset
        fetched or reset), so the next polls really fetch."""
        assignment = getattr(self.consumer, "assignment", None)
        position = getattr(self.consumer, "position", None)
        if assignment is None or position is None:
            return
        for tp in sorted(assignment() or ()):
            try:
                position(tp, timeout_ms=max(1, int(timeout * 1000)))
            except Exception as e:  # revoked meanwhile: the next assignment is waited for
                logger.debug("position of %s unknown yet: %s", tp, e)

    def _rewind(self, messages: Sequence[Any]) -> None:
        """Seek back to the batch's first message on every partition still assigned, so a
        failed batch is read again rather than committed past by the next one."""
        seek = getattr(self.consumer, "seek", None)
        if seek is None:
            return
        for tp, offset in first_offsets(messages).items():
            try:
                seek(tp, offset)
            except Exception:  # no longer assigned: its new owner starts from the commit
                continue

    # -- one batch -------------------------------------------------------------------

    def run_once(self, timeout_ms: int = 500) -> int:
        """Poll, apply, dead-letter, commit; returns how many messages were handled."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        messages = [m for part in polled.values() for m in part]
        if not messages:
            return 0
        try:
            outcomes = self._outcomes(messages)
            self._send_dead_letters(messages, outcomes)
            self.consumer.commit(next_offsets(messages))
        except Exception:
            self.stats.failures += 1
            self.app.forget()  # the cache may hold what the failed batch did not store
            self._rewind(messages)
            raise
        self._strikes = None
        self._count(outcomes)
        if self.on_batch is not None:
            self.on_batch(messages, outcomes)
        return len(messages)

    def _outcomes(self, messages: Sequence[Any]) -> list[Outcome]:
        """One outcome per message: empty and oversized ones refused before parsing."""
        early: dict[int, str] = {}
        raws: list[bytes] = []
        for i, m in enumerate(messages):
            if m.value is None or len(m.value) == 0:
                early[i] = "empty message (no value)"
            elif len(m.value) > MAX_RECORD_BYTES:
                early[i] = f"record of {len(m.value)} bytes exceeds the {MAX_RECORD_BYTES} allowed"
            else:
                raws.append(bytes(m.value))
        applied = iter(self._apply(messages, raws) if raws else [])
        return [
            Outcome(REFUSED, early[i]) if i in early else next(applied)
            for i in range(len(messages))
        ]

    def _apply(self, messages: Sequence[Any], raws: list[bytes]) -> list[Outcome]:
        """The whole batch in one transaction; if that raises, in parts."""
        try:
            return self._checked(self.app.ingest(raws), len(raws))
        except Exception as e:
            self.app.forget()
            suspect = is_transient(e) and self._suspect(messages, e)
            if is_transient(e) and not suspect:
                raise
            logger.warning(
                "intake: a batch of %d records raised %s; applying it in parts",
                len(raws),
                type(e).__name__,
            )
        self.stats.isolated += 1
        return self._bisect(raws, suspect)

    def _suspect(self, messages: Sequence[Any], e: BaseException) -> bool:
        """Whether a batch failing as if the store were away is to be isolated after all:
        it failed so :attr:`suspect_after` times in a row while the store answered."""
        if not self._store_answers():
            return False
        where = tuple(
            sorted((tp.topic, tp.partition, o) for tp, o in first_offsets(messages).items())
        )
        strikes = self._strikes[1] + 1 if self._strikes and self._strikes[0] == where else 1
        self._strikes = (where, strikes)
        if strikes < self.suspect_after:
            return False
        logger.warning("intake: the same batch failed %d times (%s); isolating it", strikes, e)
        return True

    def _store_answers(self) -> bool:
        try:
            self.app.recorder.max_notification_id()
        except Exception:
            return False
        return True

    def _bisect(self, raws: list[bytes], suspect: bool) -> list[Outcome]:
        """Apply in halves, left first (records keep their topic order), down to single
        records; each half that applies cleanly is one transaction.  The store going
        away meanwhile fails the whole batch (unless it is ``suspect``)."""
        if len(raws) == 1:
            return [self._one(raws[0], suspect)]
        mid = len(raws) // 2
        out: list[Outcome] = []
        for part in (raws[:mid], raws[mid:]):
            try:
                out += self._checked(self.app.ingest(part), len(part))
            except Exception as e:
                self.app.forget()
                if is_transient(e) and not suspect:
                    raise
                out += self._bisect(part, suspect)
        return out

    def _one(self, raw: bytes, suspect: bool) -> Outcome:
        """One record, tried up to ``max_attempts`` times; dead-lettered if it still
        raises.  A transient failure is the store's, not the record's: it fails the
        batch, which is tried again later -- unless the batch is ``suspect`` and the
        store answers, so that no record can hold the intake for ever."""
        last: Exception | None = None
        wait = self.retry_wait
        for _ in range(self.max_attempts):
            try:
                return self._checked(self.app.ingest([raw]), 1)[0]
            except Exception as e:
                self.app.forget()
                last = e
                if is_transient(e):
                    if not suspect or not self._store_answers():
                        raise
                    time.sleep(wait)
                    wait = min(wait * 2, 2.0)
        assert last is not None
        kind, record_id = _identity(raw)
        logger.error(
            "intake: record %s (%s) could not be applied after %d attempts: %s",
            record_id or "?",
            kind or "?",
            self.max_attempts,
            type(last).__name__,
        )
        return Outcome(REFUSED, unapplicable(last), kind, record_id)

    @staticmethod
    def _checked(outcomes: Sequence[Outcome], expected: int) -> list[Outcome]:
        if len(outcomes) != expected:
            raise RuntimeError(f"ingest returned {len(outcomes)} outcomes for {expected} records")
        return list(outcomes)

    def _send_dead_letters(self, messages: Sequence[Any], outcomes: Sequence[Outcome]) -> None:
        """Send every refused record and wait until the broker acknowledged them all."""
        futures = []
        for m, outcome in zip(messages, outcomes, strict=True):
            if outcome.status != REFUSED:
                continue
            value, headers = dead_letter(
                m.value,
                outcome.reason or "refused",
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key,
            )
            futures.append(
                self.dead_letters.send(
                    self.dead_letter_topic, value=value, key=m.key, headers=headers
                )
            )
        if futures:
            self.dead_letters.flush(timeout=self.ack_timeout)
            for f in futures:
                f.get(timeout=self.ack_timeout)

    def _count(self, outcomes: Sequence[Outcome]) -> None:
        s = self.stats
        s.batches += 1
        for outcome in outcomes:
            if outcome.status == REFUSED:
                s.refused += 1
                reason = outcome.reason or "refused"
                if reason.startswith("could not be applied"):
                    s.unapplicable += 1
                short = reason[:80]
                s.reasons[short] = s.reasons.get(short, 0) + 1
            elif outcome.status == DUPLICATE:
                s.duplicates += 1
            else:
                s.applied += 1

    # -- the loop --------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        until_idle: bool = False,
        idle_seconds: float = IDLE_SECONDS,
        assign_timeout: float = ASSIGN_TIMEOUT,
        on_error: Callable[[Exception], None] | None = None,
        max_backoff: float = 5.0,
    ) -> IntakeStats:
        """Consume until ``stop``, or with ``until_idle`` until nothing arrived for
        ``idle_seconds`` after the partitions were assigned and their positions known
        (:class:`NoAssignment` when that takes over ``assign_timeout``).  A failed batch
        is not committed: it is read again after a back-off."""
        started = time.monotonic()
        ready_at: float | None = None
        last_seen = started

        def failed(e: Exception) -> None:
            if on_error is not None:
                on_error(e)

        def done(handled: int) -> bool:
            nonlocal ready_at, last_seen
            now = time.monotonic()
            if handled:
                last_seen = now
                return False
            if not until_idle:
                return False
            if ready_at is None:
                if not self._is_assigned():
                    if now - started > assign_timeout:
                        raise NoAssignment(
                            f"the consumer group assigned no partitions within "
                            f"{assign_timeout:g}s (is the broker up, or another member stuck?)"
                        )
                    return False
                self._known_positions(max(1.0, assign_timeout - (now - started)))
                ready_at = now = time.monotonic()
            return now - max(last_seen, ready_at) >= idle_seconds

        run_batches(
            lambda: self.run_once(),
            stop,
            done=done,
            on_failure=failed,
            max_backoff=max_backoff,
        )
        return self.stats


def _identity(raw: bytes) -> tuple[str | None, str | None]:
    """The record's kind and record id, when it has them (for outcomes and logs)."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(record, dict):
        return None, None
    kind, rid = record.get("kind"), record.get("record_id")
    return (
        kind[:100] if isinstance(kind, str) else None,
        rid[:200] if isinstance(rid, str) else None,
    )


def describe(outcome: Outcome) -> bytes:
    """A refused outcome as JSON (for logs)."""
    return orjson.dumps({"status": outcome.status, "reason": outcome.reason, "kind": outcome.kind})
