"""``hallwatch tail``: read CloudEvents from the events topic, filtered, for operators."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from domain.vocabulary import EVENT_TYPE_PREFIX


@dataclass(frozen=True)
class TailFilter:
    """Which events to show: by subject (case/complaint/order id) and type substring."""

    subject: str | None = None
    type_contains: str | None = None
    department: str | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        if self.subject and event.get("subject") != self.subject:
            return False
        if self.type_contains and self.type_contains not in str(event.get("type", "")):
            return False
        return not (self.department and event.get("department") != self.department)


def tail_events(
    consumer_factory: Callable[[], Any],
    topic: str,
    flt: TailFilter,
    *,
    follow: bool,
    idle_seconds: float = 3.0,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Events from the beginning of ``topic``; stops after ``idle_seconds`` unless following.

    Uses no consumer group and commits nothing: tailing never disturbs the projectors.
    """
    from kafka import TopicPartition

    consumer = consumer_factory()
    try:
        partitions = _partitions(consumer, topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        shown = 0
        last_seen = time.monotonic()
        while True:
            polled = consumer.poll(timeout_ms=500, max_records=1000)
            got = False
            for records in polled.values():
                for r in records:
                    got = True
                    try:
                        event = orjson.loads(r.value)
                    except orjson.JSONDecodeError:
                        continue
                    if flt.matches(event):
                        yield event
                        shown += 1
                        if limit is not None and shown >= limit:
                            return
            if got:
                last_seen = time.monotonic()
            elif not follow and time.monotonic() - last_seen > idle_seconds:
                return
    finally:
        consumer.close()


def _partitions(consumer: Any, topic: str, timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        time.sleep(0.2)
    raise RuntimeError(f"topic {topic} does not exist (or the broker does not answer)")


def format_line(event: dict[str, Any]) -> str:
    """One line per event: time, type, subject, version, department."""
    etype = str(event.get("type", "")).removeprefix(EVENT_TYPE_PREFIX)
    return (
        f"{event.get('time', '')[:19]:19}  {etype:32}  {event.get('subject', ''):18}  "
        f"v{event.get('streamversion', '')}  {event.get('department', '')}"
    )
