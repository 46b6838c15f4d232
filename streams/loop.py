"""The loop every long-running stream worker shares (relay, intake, projector).

Run one batch at a time until told to stop; a failed batch is not acknowledged
or committed, so backing off and trying again repeats it -- which the sinks
absorb, as they deduplicate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


class PermanentFailure(Exception):
    """A failure that trying again cannot cure (an event the broker will never take):
    ``run_batches`` stops and raises it instead of retrying forever."""


def run_batches(
    step: Callable[[], int],
    stop: threading.Event,
    *,
    done: Callable[[int], bool],
    on_failure: Callable[[Exception], None] | None = None,
    idle_wait: float = 0.0,
    max_backoff: float = 5.0,
) -> None:
    """Call ``step`` (returns how much it handled) until ``stop`` or ``done(handled)``.

    On an exception: ``on_failure``, then wait 0.5 s, doubling up to ``max_backoff``.
    When a step handled nothing, wait ``idle_wait`` before the next one.
    """
    backoff = 0.5
    while not stop.is_set():
        try:
            handled = step()
            backoff = 0.5
        except PermanentFailure:
            raise
        except Exception as e:  # the broker or the sink is away: keep trying
            if on_failure is not None:
                on_failure(e)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        if done(handled):
            break
        if handled == 0 and idle_wait:
            stop.wait(idle_wait)


def next_offsets(messages: Sequence[Any]) -> dict[Any, Any]:
    """The offsets to commit: one past the last message handled, per partition."""
    from kafka.structs import OffsetAndMetadata, TopicPartition

    last: dict[Any, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        last[tp] = max(last.get(tp, -1), m.offset)
    return {tp: OffsetAndMetadata(off + 1, "", -1) for tp, off in last.items()}


def first_offsets(messages: Sequence[Any]) -> dict[Any, int]:
    """Where to seek back to after a failed batch: its first message, per partition
    (else the next poll reads on and a later commit passes the failed messages)."""
    from kafka.structs import TopicPartition

    first: dict[Any, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        first[tp] = min(first.get(tp, m.offset), m.offset)
    return first
