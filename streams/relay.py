"""The outbox relay (发布): every stored event, in store order, onto ``hallwatch.events``.

Follows the event store's notification order; publishes each event as a
CloudEvent keyed by its stream id (so a stream stays in order on one
partition); waits until the broker has acknowledged the whole batch (acks=all,
idempotent producer) and only then moves its durable position.  A crash
re-publishes at most the unacknowledged tail, with the same event ids.

With a ``checkpointer`` it also signs a checkpoint of what it published (at
most every ``checkpoint_every`` seconds and at the end of a run) and publishes
it after the events it covers (docs/tamper-evidence.md).  An event the broker
can never take stops the relay with an error naming it, rather than retrying.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import orjson

from streams.cloudevents import (
    Message,
    StreamInfo,
    checkpoint_cloudevent,
    stream_info,
    to_cloudevent,
)
from streams.loop import PermanentFailure, run_batches
from streams.positions import PositionStore

logger = logging.getLogger(__name__)

#: Broker and client errors that repeating the same message cannot cure.
PERMANENT_ERRORS = frozenset(
    {"MessageSizeTooLargeError", "RecordTooLargeError", "InvalidRecordError", "CorruptRecordError"}
)


class UnpublishableEvent(PermanentFailure):
    """A stored event that cannot be published; names it (the relay stops on it)."""

    def __init__(self, notification_id: int, stream_id: UUID, version: int, reason: str) -> None:
        super().__init__(
            f"event #{notification_id} (stream {stream_id}, version {version}) cannot be "
            f"published: {reason}"
        )
        self.notification_id = notification_id
        self.stream_id = stream_id
        self.version = version


def _permanent(e: BaseException) -> bool:
    return type(e).__name__ in PERMANENT_ERRORS


class Producer(Protocol):
    """What the relay needs of a Kafka producer (kafka-python's KafkaProducer fits)."""

    def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass
class RelayStats:
    """Counters an operator can read (``hallwatch relay`` prints them)."""

    published: int = 0
    batches: int = 0
    errors: int = 0
    position: int = 0
    checkpoints: int = 0
    last_lag_ms: list[float] = field(default_factory=list)


class OutboxRelay:
    """Publishes stored events to Kafka, at least once, in order per stream."""

    def __init__(
        self,
        recorder: Any,
        producer: Producer | Callable[[], Producer],
        *,
        topic: str,
        source: str,
        name: str = "relay",
        batch_size: int = 2000,
        poll_interval: float = 0.05,
        ack_timeout: float = 60.0,
        on_batch: Callable[[list[Message]], None] | None = None,
        checkpointer: Callable[[int], dict[str, Any] | None] | None = None,
        checkpoint_every: float = 60.0,
    ) -> None:
        self.recorder = recorder
        # A factory lets the relay replace its producer after the broker went away.
        self._factory: Callable[[], Producer] | None = None
        if callable(producer) and not hasattr(producer, "send"):
            self._factory = producer
            self.producer = producer()
        else:
            self.producer = producer  # type: ignore[assignment]
        self.topic = topic
        self.source = source
        self.name = f"{name}:{topic}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.positions = PositionStore(recorder)
        self.stats = RelayStats(position=self.positions.get(self.name))
        self.on_batch = on_batch
        self._infos: OrderedDict[UUID, StreamInfo] = OrderedDict()
        # ``checkpointer(position)`` signs and anchors a checkpoint, returning its JSON
        self.checkpointer = checkpointer
        self.checkpoint_every = checkpoint_every
        self._checkpointed = -1  # position of the last checkpoint made
        self._last_checkpoint = time.monotonic()
        self._unsent: Message | None = None  # a checkpoint anchored but not yet published

    def _info(self, sid: UUID, version: int, topic: str, state: bytes) -> StreamInfo:
        info = self._infos.get(sid)
        if info is None:
            if version == 1:
                first_topic, first_state = topic, state
            else:
                first = self.recorder.select_events(sid, limit=1)[0]
                first_topic, first_state = first.topic, first.state
            info = stream_info(first_topic, orjson.loads(first_state), sid)
            self._infos[sid] = info
            if len(self._infos) > 200_000:
                self._infos.popitem(last=False)
        else:
            self._infos.move_to_end(sid)
        return info

    def run_once(self) -> int:
        """Publish the next batch; returns how many events were published. The position
        moves only after the broker acknowledged every message of the batch."""
        rows = self.recorder.select_notifications(self.stats.position + 1, self.batch_size)
        if not rows:
            return 0
        sent: list[tuple[Any, tuple[int, UUID, int], Message]] = []
        for n in rows:
            sid = (
                n.originator_id if isinstance(n.originator_id, UUID) else UUID(str(n.originator_id))
            )
            where = (n.id, sid, n.originator_version)
            msg = self._message(n, sid)
            sent.append((self._send(msg, where), where, msg))
        self.producer.flush(timeout=self.ack_timeout)
        for future, where, msg in sent:
            with _unpublishable(where, msg):  # raises if any message was not acknowledged
                future.get(timeout=self.ack_timeout)
        last = rows[-1].id
        self.positions.set(self.name, last)
        self.stats.position = last
        self.stats.published += len(rows)
        self.stats.batches += 1
        if self.on_batch is not None:
            self.on_batch([msg for _, _, msg in sent])
        return len(rows)

    def _message(self, n: Any, sid: UUID) -> Message:
        """The CloudEvent of a stored row; UnpublishableEvent when it cannot be one (it
        would fail every time)."""
        state = bytes(n.state)
        try:
            return to_cloudevent(
                notification_id=n.id,
                stream_id=sid,
                version=n.originator_version,
                topic=n.topic,
                state=state,
                info=self._info(sid, n.originator_version, n.topic, state),
                source=self.source,
            )
        except Exception as e:
            raise UnpublishableEvent(
                n.id, sid, n.originator_version, f"{type(e).__name__}: {str(e)[:200]}"
            ) from e

    def _send(self, msg: Message, where: tuple[int, UUID, int]) -> Any:
        with _unpublishable(where, msg):
            return self.producer.send(self.topic, value=msg.value, key=msg.key, headers=msg.headers)

    def run(
        self,
        stop: threading.Event,
        *,
        until_idle: bool = False,
        on_error: Callable[[Exception], None] | None = None,
        max_backoff: float = 5.0,
    ) -> RelayStats:
        """Follow the store until ``stop`` is set (or, with ``until_idle``, it is caught up).

        A failed batch (broker down, acknowledgement timed out) is retried with a
        fresh producer after a back-off; the position did not move, so the same
        events are sent again with the same ids.
        """

        def failed(e: Exception) -> None:
            self.stats.errors += 1
            if on_error is not None:
                on_error(e)
            self._replace_producer()

        def step() -> int:
            published = self.run_once()
            if time.monotonic() - self._last_checkpoint >= self.checkpoint_every:
                self.checkpoint()
            return published

        run_batches(
            step,
            stop,
            done=lambda published: published == 0 and until_idle,
            on_failure=failed,
            idle_wait=self.poll_interval,
            max_backoff=max_backoff,
        )
        try:
            self.checkpoint()
        except Exception as e:  # the broker went away at the very end: anchored, not published
            self.stats.errors += 1
            if on_error is not None:
                on_error(e)
        return self.stats

    def checkpoint(self) -> bool:
        """Sign a checkpoint of everything published so far (when anything is new) and
        publish it after the events it covers; True when one was published."""
        if self.checkpointer is None:
            return False
        self._last_checkpoint = time.monotonic()
        if self._unsent is None:
            if self.stats.position == self._checkpointed:
                return False
            made = self.checkpointer(self.stats.position)
            self._checkpointed = self.stats.position
            if made is None:
                return False
            self._unsent = checkpoint_cloudevent(made, source=self.source)
        msg = self._unsent
        future = self.producer.send(self.topic, value=msg.value, key=msg.key, headers=msg.headers)
        self.producer.flush(timeout=self.ack_timeout)
        future.get(timeout=self.ack_timeout)
        self._unsent = None
        self.stats.checkpoints += 1
        logger.info("published checkpoint %s at #%s", msg.event_id, self._checkpointed)
        return True

    def _replace_producer(self) -> None:
        if self._factory is None:
            return
        close = getattr(self.producer, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close(timeout=1)
        with contextlib.suppress(Exception):  # broker still down: the next attempt retries
            self.producer = self._factory()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout``; used by tests and the CLI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def _unpublishable(where: tuple[int, UUID, int], msg: Message) -> Iterator[None]:
    """A failure the broker will repeat forever (a message it refuses) becomes an
    UnpublishableEvent naming the event; any other failure is left to be retried."""
    try:
        yield
    except Exception as e:
        if _permanent(e):
            raise UnpublishableEvent(
                *where, f"{type(e).__name__}: {str(e)[:200]} ({len(msg.value)} bytes)"
            ) from e
        raise
