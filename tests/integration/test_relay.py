"""The outbox relay against the real local broker (tansu on rclone's S3), as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.checkpoint import CHECKPOINT_TYPE
from infra.broker import BrokerConfig, LocalBroker, ensure_topics
from infra.kafka import consumer, producer
from infra.settings import Settings
from infra.simulate import generate_records
from infra.wiring import open_app
from streams.cloudevents import event_id
from streams.positions import PositionStore
from streams.relay import OutboxRelay, wait_for
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY_HEX = "cd" * 32


def _settings(tmp: Path, broker: LocalBroker, prefix: str) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        secret_key=bytes.fromhex(KEY_HEX),
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix=prefix,
        hall="test-hall",
    )


def _ingest(app: Hallwatch, records: list[dict[str, Any]]) -> None:
    lines = [orjson.dumps(r) for r in records]
    for i in range(0, len(lines), 1000):
        app.ingest(lines[i : i + 1000])


def _store_ids(app: Hallwatch) -> dict[str, tuple[str, int]]:
    return {event_id(sid, v): (str(sid), v) for _, sid, v, _, _ in app.stored_rows()}


def _read_topic(
    servers: str, topic: str, expect: set[str], timeout: float = 180.0
) -> list[dict[str, Any]]:
    """Every message on the topic, from the beginning, until every expected id was seen
    and the topic stayed quiet (a re-sent tail adds duplicates, so counting is not enough)."""
    from kafka import TopicPartition

    c = consumer(servers, None)
    try:
        assert wait_for(lambda: bool(c.partitions_for_topic(topic)), 20)
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            polled = c.poll(timeout_ms=500, max_records=5000)
            n = 0
            for tp, records in polled.items():
                for r in records:
                    ev = orjson.loads(r.value)
                    ev["_partition"] = tp.partition
                    out.append(ev)
                    seen.add(ev["id"])
                    n += 1
            if n:
                quiet_since = time.monotonic()
            elif expect <= seen and time.monotonic() - quiet_since > 2:
                break
        return out
    finally:
        c.close()


def _check_topic_matches_store(
    events: list[dict[str, Any]], store: dict[str, tuple[str, int]]
) -> None:
    checkpoints = [e for e in events if e["type"] == CHECKPOINT_TYPE]
    assert all(e["data"]["signature"] for e in checkpoints)  # signed store checkpoints
    events = [e for e in events if e["type"] != CHECKPOINT_TYPE]
    ids = {e["id"] for e in events}
    assert ids == set(store), f"missing {len(set(store) - ids)}, unknown {len(ids - set(store))}"
    # Per stream, versions arrive in order; a re-sent tail repeats versions already
    # sent, so first occurrences must ascend.
    by_stream: dict[str, list[int]] = {}
    for e in events:
        by_stream.setdefault(e["streamid"], []).append(e["streamversion"])
    for versions in by_stream.values():
        deduped = list(dict.fromkeys(versions))
        assert deduped == sorted(deduped), f"out of order: {versions[:20]}"


def _relay_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": KEY_HEX,
        "HALLWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "HALLWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "HALLWATCH_HALL": settings.hall,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "relay", "--batch-size", "500"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _app_with_catalogue(settings: Settings) -> Hallwatch:
    app = open_app(settings)
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    return app


def test_relay_killed_midway_republishes_only_the_tail_and_loses_nothing(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = _settings(tmp_path, broker, f"t{uuid.uuid4().hex[:8]}")
    ensure_topics(broker.bootstrap_servers, [settings.events_topic], partitions=6)
    app = _app_with_catalogue(settings)
    _ingest(app, generate_records(cases=2000, start=date(2026, 3, 2), seed=3)[:20_000])
    store = _store_ids(app)
    assert len(store) >= 20_000
    positions = PositionStore(app.recorder)
    name = f"relay:{settings.events_topic}"

    proc = _relay_process(settings)
    try:
        assert wait_for(lambda: positions.get(name) > len(store) // 3, 120), (
            "relay made no progress"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        midway = positions.get(name)
        assert 0 < midway < max(n for n, *_ in app.stored_rows())
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _relay_process(settings)
    try:
        top = max(n for n, *_ in app.stored_rows())
        assert wait_for(lambda: positions.get(name) >= top, 180), "relay did not catch up"
    finally:
        proc.terminate()
        proc.wait(20)
    events = _read_topic(broker.bootstrap_servers, settings.events_topic, expect=set(store))
    _check_topic_matches_store(events, store)
    resent = len(events) - len(store)
    assert resent < 5000, f"{resent} duplicates: more than the unacknowledged tail"
    app.close()


def test_broker_killed_under_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    b = LocalBroker(
        BrokerConfig(data_dir=tmp_path / "broker", kafka_port=free_port(), s3_port=free_port())
    )
    b.start()
    try:
        settings = _settings(tmp_path, b, f"k{uuid.uuid4().hex[:8]}")
        ensure_topics(b.bootstrap_servers, [settings.events_topic], partitions=6)
        app = _app_with_catalogue(settings)
        records = generate_records(cases=1200, start=date(2026, 3, 2), seed=4)
        _ingest(app, records[: len(records) // 2])
        positions = PositionStore(app.recorder)
        name = f"relay:{settings.events_topic}"
        relay = OutboxRelay(
            app.recorder,
            lambda: producer(b.bootstrap_servers, request_timeout_ms=5000, max_block_ms=5000),
            topic=settings.events_topic,
            source="test",
            batch_size=500,
            ack_timeout=15,
        )
        stop = threading.Event()
        errors: list[Exception] = []
        t = threading.Thread(target=relay.run, args=(stop,), kwargs={"on_error": errors.append})
        t.start()
        try:
            assert wait_for(lambda: positions.get(name) > 1000, 60)
            acked_before = positions.get(name)
            b.kill_hard()  # both tansu and rclone, under load
            _ingest(app, records[len(records) // 2 :])  # the store keeps taking records
            time.sleep(2)
            b.start()
            top = max(n for n, *_ in app.stored_rows())
            assert wait_for(lambda: positions.get(name) >= top, 180), (
                f"stuck; errors: {errors[-3:]}"
            )
        finally:
            stop.set()
            t.join(30)
        store = _store_ids(app)
        events = _read_topic(b.bootstrap_servers, settings.events_topic, expect=set(store))
        _check_topic_matches_store(events, store)
        acked_ids = {event_id(uuid.UUID(s), v) for s, v in store.values()}
        assert acked_before > 0 and acked_ids <= {e["id"] for e in events}
        app.close()
    finally:
        b.stop()


def test_relay_publishes_a_new_event_quickly_when_idle(tmp_path: Path, broker: LocalBroker) -> None:
    settings = _settings(tmp_path, broker, f"l{uuid.uuid4().hex[:8]}")
    ensure_topics(broker.bootstrap_servers, [settings.events_topic], partitions=6)
    app = _app_with_catalogue(settings)
    positions = PositionStore(app.recorder)
    name = f"relay:{settings.events_topic}"
    relay = OutboxRelay(
        app.recorder,
        lambda: producer(broker.bootstrap_servers),
        topic=settings.events_topic,
        source="test",
    )
    stop = threading.Event()
    t = threading.Thread(target=relay.run, args=(stop,))
    t.start()
    try:
        records = generate_records(cases=20, start=date(2026, 3, 2), seed=9)
        for r in records[:20]:
            app.ingest([orjson.dumps(r)])
            top = max(n for n, *_ in app.stored_rows())
            assert wait_for(lambda top=top: positions.get(name) >= top, 10, interval=0.01)
    finally:
        stop.set()
        t.join(10)
    app.close()
