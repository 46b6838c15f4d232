"""Relay throughput beside a raw kafka-python producer sending the same bytes.

Setup (not timed): ingest generated records into a fresh SQLite store and start
a local broker on free ports.  Raw: one producer (same settings as the relay's)
sends every CloudEvent the relay would send, then flushes.  Relay: the outbox
relay publishes the whole store from position 0 (reading SQLite, mapping,
sending, waiting for acks per batch, storing its position).
"""

from __future__ import annotations

import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench.report import Row
from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.broker import BrokerConfig, LocalBroker, ensure_topics
from infra.kafka import producer
from infra.settings import Settings
from infra.simulate import generate_records
from infra.wiring import open_app
from streams.cloudevents import Message, stored_cloudevents
from streams.relay import OutboxRelay

console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def acking_relay(
    app: Any, servers: str, topic: str, name: str
) -> tuple[OutboxRelay, dict[str, float]]:
    """An outbox relay to ``topic`` that notes when the broker acknowledged each event."""
    acked: dict[str, float] = {}

    def on_batch(messages: list[Any]) -> None:
        now = time.perf_counter()
        for m in messages:
            acked.setdefault(m.event_id, now)

    relay = OutboxRelay(
        app.recorder,
        lambda: producer(servers),
        topic=topic,
        source="bench",
        name=name,
        on_batch=on_batch,
    )
    return relay, acked


def _idle_latency(app: Any, servers: str, samples: int = 300) -> float:
    """p95 seconds from a record's commit to the broker's ack of its events."""
    ensure_topics(servers, ["bench.latency"], partitions=6)
    committed: dict[str, float] = {}
    relay, acked = acking_relay(app, servers, "bench.latency", "latency")
    relay.run(threading.Event(), until_idle=True)  # catch up on what is already stored
    acked.clear()
    stop = threading.Event()
    t = threading.Thread(target=relay.run, args=(stop,))
    t.start()
    try:
        for i in range(samples):
            rid = f"LAT{i:05d}"
            rec = {
                "record_id": rid,
                "kind": "complaint_filed",
                "at": "2026-03-02T09:00:00+08:00",
                "recorded_at": "2026-03-02T09:00:00+08:00",
                "complaint_id": rid,
                "department": "公安局",
                "channel": "hotline",
                "content": "latency probe",
            }
            app.ingest([orjson.dumps(rec)])
            committed[rid] = time.perf_counter()
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while len(acked) < samples and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(10)
    from domain.model import stream_id
    from streams.cloudevents import event_id

    lat = sorted(
        acked[event_id(stream_id("complaint", rid), 1)] - c
        for rid, c in committed.items()
        if event_id(stream_id("complaint", rid), 1) in acked
    )
    if len(lat) < samples:
        return float("inf")
    return lat[int(0.95 * (len(lat) - 1))]


def run_relay(*, events: int, repeat: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="hallwatch-bench-relay-"))
    broker = LocalBroker(
        BrokerConfig(data_dir=work / "broker", kafka_port=free_port(), s3_port=free_port())
    )
    try:
        app = open_app(Settings(data_dir=work / "hw", secret_key=b"k" * 32))
        messages = _store(app, events)
        n = len(messages)
        console.print(f"{n:,} events stored; starting the local broker …")
        broker.start()
        servers = broker.bootstrap_servers
        raw_t: list[float] = []
        relay_t: list[float] = []
        for i in range(repeat):
            raw_t.append(_raw_produce(servers, messages, f"bench.raw.{i}"))
            relay_t.append(_relay_all(app, servers, f"bench.relay.{i}", f"bench{i}"))
            console.print(
                f"run {i + 1}: raw {n / raw_t[-1]:,.0f} ev/s, relay {n / relay_t[-1]:,.0f} ev/s"
            )
        p95 = _idle_latency(app, servers)
        app.close()
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return [
        Row(
            name="relay latency p95 when idle, commit to ack",
            unit="ms",
            value=p95 * 1000,
            baseline_name="target",
            baseline=200.0,
            max_value=200.0,
            note="300 single-record commits, 20 ms apart; lower is better",
        ),
        Row(
            name=f"relay, {n:,} events, local broker",
            unit="ev/s",
            value=n / statistics.median(relay_t),
            baseline_name="raw kafka-python producer, same bytes",
            baseline=n / statistics.median(raw_t),
            min_ratio=0.5,
            note="acks=all, 1 in flight (tansu: not idempotent)",
        ),
    ]


def _store(app: Hallwatch, events: int) -> list[Message]:
    """About ``events`` stored events of generated cases, and their CloudEvents."""
    console.print(f"storing about {events:,} events …")
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    recs = generate_records(cases=max(1, events // 11), start=date(2026, 3, 2), seed=5)
    lines = [orjson.dumps(r) for r in recs]
    for i in range(0, len(lines), 1000):
        app.ingest(lines[i : i + 1000])
    return list(stored_cloudevents(app.stored_rows(), "bench"))


def _raw_produce(servers: str, messages: list[Message], topic: str) -> float:
    """Seconds for a plain producer to send the same bytes, acknowledged."""
    ensure_topics(servers, [topic], partitions=6)
    prod = producer(servers)
    started = time.perf_counter()
    for m in messages:
        prod.send(topic, value=m.value, key=m.key, headers=m.headers)
    prod.flush()
    took = time.perf_counter() - started
    prod.close()
    return took


def _relay_all(app: Hallwatch, servers: str, topic: str, name: str) -> float:
    """Seconds for the outbox relay to publish every stored event."""
    ensure_topics(servers, [topic], partitions=6)
    prod = producer(servers)
    relay = OutboxRelay(app.recorder, prod, topic=topic, source="bench", name=name, batch_size=2000)
    started = time.perf_counter()
    relay.run(threading.Event(), until_idle=True)
    took = time.perf_counter() - started
    prod.close()
    return took
