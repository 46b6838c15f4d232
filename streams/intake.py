"""Intake over Kafka (``hallwatch intake``): the intake topic into the event store.

Same idempotent application as ``hallwatch ingest``.  For each polled batch:
apply the records (one transaction), send every refused or unreadable record to
the dead-letter topic with its original bytes, the reason and where it came
from, wait for those to be acknowledged, and only then commit the offsets.  A
crash anywhere re-delivers the batch; records already applied come back as
duplicates and change nothing.  Hall systems should key intake messages by
case, complaint or order id so each one's records stay in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from domain.application import DUPLICATE, REFUSED, Hallwatch, Outcome
from streams.loop import next_offsets, run_batches
from streams.relay import Producer

MAX_RECORD_BYTES = 1_000_000


class IntakeConsumer(Protocol):
    """What intake needs of a Kafka consumer (kafka-python's KafkaConsumer fits)."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]: ...

    def commit(self, offsets: Any = None) -> None: ...


@dataclass
class IntakeStats:
    """Counters for ``hallwatch intake``'s status line."""

    applied: int = 0
    duplicates: int = 0
    refused: int = 0
    batches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def dead_letter(
    raw: bytes | None, reason: str, *, topic: str, partition: int, offset: int, key: bytes | None
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The dead-letter message: the original bytes as value, why and where in headers."""
    headers = [
        ("hallwatch_reason", reason.encode("utf-8", "replace")[:2000]),
        ("hallwatch_source_topic", topic.encode()),
        ("hallwatch_source_partition", str(partition).encode()),
        ("hallwatch_source_offset", str(offset).encode()),
        ("content-type", b"application/json"),
    ]
    if key is not None:
        headers.append(("hallwatch_source_key", key))
    return raw if raw is not None else b"", headers


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
        on_batch: Callable[[Sequence[Outcome]], None] | None = None,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.max_records = max_records
        self.ack_timeout = ack_timeout
        self.stats = IntakeStats()
        self.on_batch = on_batch

    def run_once(self, timeout_ms: int = 500) -> int:
        """Poll, apply, dead-letter, commit; returns how many messages were handled."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        messages = [m for part in polled.values() for m in part]
        if not messages:
            return 0
        # Empty and oversized messages are refused before parsing; the rest are applied.
        early: dict[int, str] = {}
        raws: list[bytes] = []
        for i, m in enumerate(messages):
            if m.value is None or len(m.value) == 0:
                early[i] = "empty message (no value)"
            elif len(m.value) > MAX_RECORD_BYTES:
                early[i] = f"record of {len(m.value)} bytes exceeds the {MAX_RECORD_BYTES} allowed"
            else:
                raws.append(bytes(m.value))
        applied = iter(self.app.ingest(raws))
        outcomes = [
            Outcome(REFUSED, early[i]) if i in early else next(applied)
            for i in range(len(messages))
        ]
        futures = []
        for m, outcome in zip(messages, outcomes, strict=True):
            if outcome.status == REFUSED:
                reason = outcome.reason or "refused"
                value, headers = dead_letter(
                    m.value,
                    reason,
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
                self.stats.refused += 1
                short = reason[:80]
                self.stats.reasons[short] = self.stats.reasons.get(short, 0) + 1
            elif outcome.status == DUPLICATE:
                self.stats.duplicates += 1
            else:
                self.stats.applied += 1
        if futures:
            self.dead_letters.flush(timeout=self.ack_timeout)
            for f in futures:
                f.get(timeout=self.ack_timeout)
        self.consumer.commit(next_offsets(messages))
        self.stats.batches += 1
        if self.on_batch is not None:
            self.on_batch(outcomes)
        return len(messages)

    def run(
        self,
        stop: threading.Event,
        *,
        until_idle: bool = False,
        on_error: Callable[[Exception], None] | None = None,
        max_backoff: float = 5.0,
    ) -> IntakeStats:
        """Consume until ``stop``; a failed batch (broker away, commit refused during a
        rebalance) is not committed, so it is delivered again and its applied records
        come back as duplicates."""

        def failed(e: Exception) -> None:
            if on_error is not None:
                on_error(e)

        run_batches(
            lambda: self.run_once(),
            stop,
            done=lambda handled: handled == 0 and until_idle,
            on_failure=failed,
            max_backoff=max_backoff,
        )
        return self.stats


def describe(outcome: Outcome) -> bytes:
    """A refused outcome as JSON (for logs)."""
    return orjson.dumps({"status": outcome.status, "reason": outcome.reason, "kind": outcome.kind})
