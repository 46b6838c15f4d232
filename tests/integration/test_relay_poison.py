"""An event the broker can never take stops the relay with its name, not a retry loop."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from domain.application import Hallwatch
from infra.kafka import ensure_hallwatch_topics, producer
from infra.settings import Settings
from streams.relay import OutboxRelay, UnpublishableEvent
from tests.support import full_case


def test_an_event_too_large_for_the_broker_stops_the_relay_naming_it(
    app: Hallwatch, settings: Settings, broker: Any
) -> None:
    app.ingest([orjson.dumps(r) for r in full_case("BIG")])
    servers = broker.bootstrap_servers
    topic_settings = Settings(topic_prefix="poison", topic_partitions=1)
    ensure_hallwatch_topics(topic_settings, servers)
    errors: list[Exception] = []
    relay = OutboxRelay(
        app.recorder,
        lambda: producer(servers, max_request_size=600),  # smaller than a catalogue event
        topic=topic_settings.events_topic,
        source="test",
    )
    with pytest.raises(UnpublishableEvent) as caught:
        relay.run(threading.Event(), until_idle=True, on_error=errors.append)
    e = caught.value
    assert e.notification_id == 1 and e.version == 1
    assert "MessageSizeTooLargeError" in str(e) and f"#{e.notification_id}" in str(e)
    assert not errors and relay.stats.position == 0  # not retried, nothing skipped
