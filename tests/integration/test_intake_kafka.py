"""Intake over Kafka against the real local broker: hostile input lands on the dead-letter topic."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.model import Case, stream_id
from infra.broker import LocalBroker, ensure_topics
from infra.kafka import consumer, producer
from infra.settings import Settings
from infra.wiring import open_app
from streams.intake import MAX_RECORD_BYTES, KafkaIntake
from tests.support import full_case, rec, submitted


@pytest.fixture(scope="module")
def world(
    broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One store, one intake topic and one consumer group for the whole module."""
    prefix = f"i{uuid.uuid4().hex[:8]}"
    s = Settings(
        data_dir=tmp_path_factory.mktemp("intake"),
        secret_key=b"k" * 32,
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix=prefix,
    )
    ensure_topics(broker.bootstrap_servers, [s.intake_topic, s.dead_letter_topic], partitions=3)
    app = open_app(s)
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    cons = consumer(broker.bootstrap_servers, f"{prefix}-intake", s.intake_topic)
    dlq = producer(broker.bootstrap_servers)
    worker = KafkaIntake(app, cons, dlq, dead_letter_topic=s.dead_letter_topic)
    sender = producer(broker.bootstrap_servers)
    yield {"settings": s, "app": app, "worker": worker, "sender": sender, "broker": broker}
    sender.close()
    cons.close()
    dlq.close()
    app.close()


_n = itertools.count()


def _send(world: dict[str, Any], payloads: list[tuple[bytes | None, bytes | None]]) -> list[Any]:
    """Send (key, value) pairs; returns each message's metadata (partition, offset)."""
    s: Settings = world["settings"]
    futures = [world["sender"].send(s.intake_topic, key=k, value=v) for k, v in payloads]
    world["sender"].flush()
    return [f.get(timeout=30) for f in futures]


def _drain(world: dict[str, Any], expect: int, timeout: float = 90.0) -> None:
    """Run the intake until it has handled ``expect`` more messages (group joins take ~3 s)."""
    deadline = time.monotonic() + timeout
    handled = 0
    while time.monotonic() < deadline and handled < expect:
        handled += world["worker"].run_once(timeout_ms=500)
    assert handled >= expect, f"intake handled {handled} of {expect} messages"


def _dead_letters(
    world: dict[str, Any], want: set[tuple[int, int]], timeout: float = 60.0
) -> dict[tuple[int, int], dict[str, Any]]:
    """Dead letters by the (partition, offset) they came from, until ``want`` are all seen."""
    from kafka import TopicPartition

    s: Settings = world["settings"]
    c = consumer(world["broker"].bootstrap_servers, None)
    try:
        parts = c.partitions_for_topic(s.dead_letter_topic) or {0}
        tps = [TopicPartition(s.dead_letter_topic, p) for p in parts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: dict[tuple[int, int], dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= set(out):
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    h = dict(r.headers)
                    key = (int(h["hallwatch_source_partition"]), int(h["hallwatch_source_offset"]))
                    out[key] = {"reason": h["hallwatch_reason"].decode(), "value": r.value}
        return out
    finally:
        c.close()


hostile = st.one_of(
    st.binary(max_size=200),  # arbitrary bytes, mostly invalid JSON or invalid UTF-8
    st.just(b"\xff\xfe\xfa not utf-8"),
    st.text(max_size=100).map(lambda t: t.encode()),
    st.builds(
        lambda n: orjson.dumps(submitted(f"H{n}", "2026-03-02 09:00"))[:-7], st.integers(0, 9)
    ),
    st.builds(
        lambda v: orjson.dumps(
            {**rec("delivered", "2026-03-02 09:00", case_id="X"), "site_visits": v}
        ),
        st.one_of(st.text(max_size=5), st.booleans(), st.floats(allow_nan=False), st.none()),
    ),
    st.builds(
        lambda k: orjson.dumps(rec(k, "2026-03-02 09:00", case_id="X")),
        st.text(min_size=1, max_size=20).filter(lambda k: k.isidentifier()),
    ),
    st.builds(
        lambda n: orjson.dumps(
            rec(
                "complaint_filed",
                "2026-03-02 09:00",
                complaint_id=f"T{n}",
                department="公安局",
                channel="web",
                content="长" * 20_000,
            )
        ),
        st.integers(0, 9),
    ),
    st.just(b'{"record_id": 1, "kind": ["submitted"]}'),
    st.just(b"[]"),
    st.just(b"null"),
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(bad=st.lists(hostile, min_size=1, max_size=12), shuffle=st.randoms(use_true_random=False))
def test_hostile_messages_are_dead_lettered_and_valid_ones_applied_once(
    world: dict[str, Any], bad: list[bytes], shuffle: Any
) -> None:
    case_id = f"K{next(_n):05d}"
    good = [orjson.dumps(r) for r in full_case(case_id)]
    # Hostile messages may land anywhere; the case's own records keep their order (one key).
    order = list(range(len(bad)))
    shuffle.shuffle(order)
    payloads: list[tuple[bytes | None, bytes | None]] = []
    kinds: list[str] = []
    bad_iter = iter(order)
    for i, g in enumerate(good):
        payloads.append((case_id.encode(), g))
        kinds.append("good")
        if i % 2 == 0:
            j = next(bad_iter, None)
            if j is not None:
                payloads.append((None, bad[j]))
                kinds.append("bad")
    for j in bad_iter:
        payloads.append((None, bad[j]))
        kinds.append("bad")
    # and the good records once more: duplicates must change nothing
    payloads += [(case_id.encode(), g) for g in good]
    kinds += ["dup"] * len(good)
    meta = _send(world, payloads)
    _drain(world, len(payloads))
    want = {(m.partition, m.offset) for k, m in zip(kinds, meta, strict=True) if k == "bad"}
    letters = _dead_letters(world, want)
    for kind, m, (_, value) in zip(kinds, meta, payloads, strict=True):
        where = (m.partition, m.offset)
        if kind == "bad":
            assert where in letters, f"hostile message not dead-lettered: {value!r:.80}"
            assert letters[where]["reason"]
            assert letters[where]["value"] == value  # the original bytes, unchanged
        else:
            assert where not in letters, letters.get(where)
    app: Hallwatch = world["app"]
    case, events = app.as_of(stream_id("case", case_id), None)
    assert isinstance(case, Case) and case.status == "concluded"
    # A clean on-time case: one case event per record, each record applied once.
    record_ids = [e.record_id for e in events]
    assert len(record_ids) == len(good) == len(set(record_ids))


def test_empty_and_oversized_messages_are_dead_lettered_with_their_reason(
    world: dict[str, Any],
) -> None:
    meta = _send(world, [(b"k", b""), (b"k", b"{" + b" " * (MAX_RECORD_BYTES + 10) + b"}")])
    _drain(world, 2)
    letters = _dead_letters(world, {(m.partition, m.offset) for m in meta})
    reasons = [letters[(m.partition, m.offset)]["reason"] for m in meta]
    assert "empty" in reasons[0] and "exceeds" in reasons[1]


def test_intake_restart_applies_nothing_twice(world: dict[str, Any], tmp_path: Path) -> None:
    case_id = f"R{uuid.uuid4().hex[:6]}"
    _send(world, [(case_id.encode(), orjson.dumps(r)) for r in full_case(case_id)])
    _drain(world, len(full_case(case_id)))
    app: Hallwatch = world["app"]
    before = len(app.history(stream_id("case", case_id)))
    # A second consumer in a new group replays the whole topic: everything is a duplicate.
    s: Settings = world["settings"]
    cons = consumer(world["broker"].bootstrap_servers, f"{s.topic_prefix}-replay", s.intake_topic)
    dlq = producer(world["broker"].bootstrap_servers)
    replay = KafkaIntake(app, cons, dlq, dead_letter_topic=s.dead_letter_topic)
    deadline = time.monotonic() + 90
    # the replay group reads the whole topic; wait until this case's records came round
    while time.monotonic() < deadline and replay.stats.duplicates < len(full_case(case_id)):
        replay.run_once(timeout_ms=500)
    cons.close()
    dlq.close()
    assert replay.stats.applied == 0 and replay.stats.duplicates > 0
    assert len(app.history(stream_id("case", case_id))) == before


def test_rebalancing_consumers_lose_nothing_and_apply_nothing_twice(
    broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = f"rb{uuid.uuid4().hex[:6]}"
    s = Settings(
        data_dir=tmp_path / "data",
        secret_key=b"k" * 32,
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix=prefix,
    )
    ensure_topics(broker.bootstrap_servers, [s.intake_topic, s.dead_letter_topic], partitions=6)
    seed = open_app(s)
    seed.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    seed.close()
    cases = [f"RB{i:03d}" for i in range(60)]
    sender = producer(broker.bootstrap_servers)
    for cid in cases[:30]:
        for r in full_case(cid):
            sender.send(s.intake_topic, key=cid.encode(), value=orjson.dumps(r))
    sender.flush()

    import threading

    stop = threading.Event()
    workers: list[KafkaIntake] = []
    threads: list[threading.Thread] = []

    def start_worker() -> None:
        app = open_app(s)
        w = KafkaIntake(
            app,
            consumer(broker.bootstrap_servers, f"{prefix}-intake", s.intake_topic),
            producer(broker.bootstrap_servers),
            dead_letter_topic=s.dead_letter_topic,
            max_records=50,
        )
        workers.append(w)
        t = threading.Thread(target=w.run, args=(stop,))
        t.start()
        threads.append(t)

    start_worker()
    start_worker()
    time.sleep(5)
    for cid in cases[30:]:  # more records while a third member joins: a rebalance
        for r in full_case(cid):
            sender.send(s.intake_topic, key=cid.encode(), value=orjson.dumps(r))
    sender.flush()
    start_worker()
    expected = sum(len(full_case(c)) for c in cases)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(w.stats.applied for w in workers) >= expected:
            break
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    for w in workers:
        w.consumer.close()
    assert sum(w.stats.applied for w in workers) == expected
    assert sum(w.stats.refused for w in workers) == 0
    check = open_app(s)
    for cid in cases:
        case, events = check.as_of(stream_id("case", cid), None)
        assert isinstance(case, Case) and case.status == "concluded", cid
        assert len({e.record_id for e in events}) == len(events) == len(full_case(cid))
    check.close()
    sender.close()
