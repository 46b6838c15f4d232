"""Intake over Kafka against the real local broker: hostile input lands on the dead-letter topic."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.errors import UnknownCase
from domain.model import Case, stream_id
from infra.broker import LocalBroker, ensure_topics
from infra.kafka import consumer, producer
from infra.settings import Settings
from infra.wiring import open_app
from streams.intake import MAX_RECORD_BYTES, KafkaIntake, redact
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
#: The applicant id tests.support's records carry: never in clear on the dead-letter topic.
APPLICANT_ID = "440101199001011234"


def _send(
    world: dict[str, Any], payloads: Sequence[tuple[bytes | None, bytes | None]]
) -> list[Any]:
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
                    out[key] = {
                        "reason": h["hallwatch_reason"].decode(),
                        "value": r.value,
                        "headers": h,
                    }
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
            # the original bytes, personal data redacted
            assert letters[where]["value"] == (redact(value) if value else b"")
            assert APPLICANT_ID.encode() not in letters[where]["value"]
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
    huge = b'{"applicant_id": "' + APPLICANT_ID.encode() + b'", "x": "' + b"y" * 1_200_000 + b'"}'
    meta = _send(
        world,
        [(b"k", b""), (b"k", b"{" + b" " * (MAX_RECORD_BYTES + 10) + b"}"), (b"k", huge)],
    )
    _drain(world, 3)
    letters = _dead_letters(world, {(m.partition, m.offset) for m in meta})
    reasons = [letters[(m.partition, m.offset)]["reason"] for m in meta]
    assert "empty" in reasons[0] and "exceeds" in reasons[1] and "exceeds" in reasons[2]
    # too large to keep whole: its size and digest instead (and no personal data)
    kept = letters[(meta[2].partition, meta[2].offset)]
    assert kept["value"] == b""
    assert kept["headers"]["hallwatch_original_bytes"] == str(len(huge)).encode()
    assert kept["headers"]["hallwatch_original_sha256"] == hashlib.sha256(huge).hexdigest().encode()


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


# --- poison messages, transient failures, the CLI until idle ---------------------------


@pytest.fixture
def fresh(broker: LocalBroker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A store, topics and a group of this test's own (exact counts per test)."""
    prefix = f"p{uuid.uuid4().hex[:8]}"
    s = Settings(
        data_dir=tmp_path / "data",
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
    yield {
        "settings": s,
        "app": app,
        "worker": worker,
        "sender": sender,
        "broker": broker,
        "group": f"{prefix}-intake",
    }
    sender.close()
    cons.close()
    dlq.close()
    app.close()


def _good_52(tag: str) -> list[dict[str, Any]]:
    """52 good records: four whole cases and the first 8 records of a fifth."""
    out: list[dict[str, Any]] = []
    for i in range(4):
        out += full_case(f"{tag}{i}")
    out += full_case(f"{tag}4")[:8]
    assert len(out) == 52
    return out


def _committed(world: dict[str, Any], meta: list[Any]) -> dict[int, tuple[int | None, int]]:
    """Per partition the group's committed offset and one past the last message sent."""
    from kafka import TopicPartition

    s: Settings = world["settings"]
    ends: dict[int, int] = {}
    for m in meta:
        ends[m.partition] = max(ends.get(m.partition, 0), m.offset + 1)
    c = consumer(world["broker"].bootstrap_servers, world["group"])
    try:
        return {p: (c.committed(TopicPartition(s.intake_topic, p)), end) for p, end in ends.items()}
    finally:
        c.close()


def _check_nothing_lost(
    world: dict[str, Any],
    payloads: Sequence[tuple[bytes | None, bytes | None]],
    meta: list[Any],
    poison: set[int],
    label: str,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Every message applied, duplicate or dead-lettered; the good ones all applied; the
    poison ones dead-lettered with their reason; offsets committed to the end."""
    w: KafkaIntake = world["worker"]
    st = w.stats
    print(
        f"\n{label}: {len(payloads)} messages: {st.applied} applied, {st.duplicates} "
        f"duplicates, {st.refused} dead-lettered ({st.unapplicable} could not be applied), "
        f"{st.isolated} batches isolated, {st.failures} failed batches retried, "
        f"lost {len(payloads) - st.messages}"
    )
    assert st.messages == len(payloads)  # 0 lost: each counted once
    assert st.refused == len(poison) and st.applied == len(payloads) - len(poison)
    letters = _dead_letters(world, {(meta[i].partition, meta[i].offset) for i in poison})
    assert set(letters) == {(meta[i].partition, meta[i].offset) for i in poison}
    committed = _committed(world, meta)
    assert all(c == end for c, end in committed.values()), committed
    app: Hallwatch = world["app"]
    for i, (_, value) in enumerate(payloads):
        if i in poison:
            continue
        r = orjson.loads(value or b"")
        _, events = app.as_of(stream_id("case", r["case_id"]), None)
        assert r["record_id"] in {e.record_id for e in events}, r["record_id"]
    report = app.verify()
    assert report.ok, report.first
    return letters


@pytest.mark.parametrize("days", [2.0, 2.5])
def test_a_float_days_poison_record_is_dead_lettered_and_the_52_good_ones_applied(
    fresh: dict[str, Any], days: float
) -> None:
    """The record that once stuck intake: 2.0 may be read as the integer 2 (then it is
    applied), 2.5 never is; either way nothing is lost and the 52 around it apply."""
    good = _good_52("PF")
    poison = rec(
        "extended",
        good[1]["at"][:10] + " 12:00",  # the day case PF0 was accepted
        case_id="PF0",
        days=days,
        reason="专家评审",
        approved_by="李局长",
    )
    records = [*good[:2], poison, *good[2:]]
    payloads = [(r["case_id"].encode(), orjson.dumps(r)) for r in records]
    meta = _send(fresh, payloads)
    _drain(fresh, len(payloads))
    w: KafkaIntake = fresh["worker"]
    if days == int(days) and w.stats.refused == 0:
        _check_nothing_lost(fresh, payloads, meta, set(), f"days {days} (read as an integer)")
        return
    letters = _check_nothing_lost(fresh, payloads, meta, {2}, f"days {days} poison")
    letter = letters[(meta[2].partition, meta[2].offset)]
    print(f"reason: {letter['reason']}")
    assert "days" in letter["reason"] or "float" in letter["reason"], letter["reason"]
    assert letter["value"] == redact(payloads[2][1] or b"")


@pytest.mark.parametrize("where", ["handler", "save"])
def test_a_record_whose_application_raises_is_dead_lettered_and_its_batch_applied(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Failure injection, the broker and the store real: one record's handler raises
    (the domain refuses it), or storing it does (the intake isolates it)."""
    from dataclasses import replace

    from domain import intake

    good = _good_52("PR")
    poison = submitted("PRX", "2026-03-02 09:30")  # carries an applicant id
    doomed = poison["record_id"]
    message = f"injected failure for {doomed} " + "x" * 5000
    app: Hallwatch = fresh["app"]
    if where == "handler":
        command = intake.COMMANDS["submitted"]

        def failing(app: Any, batch: Any, target: Any, r: dict[str, Any], ctx: Any) -> Any:
            if ctx.record_id == doomed:
                raise RuntimeError(message)
            return command.run(app, batch, target, r, ctx)

        monkeypatch.setitem(intake.COMMANDS, "submitted", replace(command, run=failing))
    else:
        save = app.save_batch
        doomed_stream = stream_id("case", "PRX")

        def failing_save(aggregates: Any, *rest: Any, **kw: Any) -> Any:
            if any(a.id == doomed_stream for a in aggregates):
                raise RuntimeError(message)
            return save(aggregates, *rest, **kw)

        monkeypatch.setattr(app, "save_batch", failing_save)
    records = [*good[:20], poison, *good[20:]]
    payloads = [(r["case_id"].encode(), orjson.dumps(r)) for r in records]
    meta = _send(fresh, payloads)
    _drain(fresh, len(payloads))
    w: KafkaIntake = fresh["worker"]
    assert w.stats.unapplicable == 1
    if where == "save":
        assert w.stats.isolated >= 1
    letters = _check_nothing_lost(fresh, payloads, meta, {20}, f"raising {where}")
    letter = letters[(meta[20].partition, meta[20].offset)]
    print(f"reason: {letter['reason'][:120]}…")
    assert letter["reason"].startswith("could not be applied")
    assert "RuntimeError" in letter["reason"] and "injected failure" in letter["reason"]
    assert doomed in letter["reason"] and len(letter["reason"]) < 1000
    assert doomed.encode() in letter["value"]  # the original record …
    assert APPLICANT_ID.encode() not in letter["value"]  # … without its personal data
    with pytest.raises(UnknownCase):
        app.find_cases("PRX")


def test_a_store_failure_rewinds_and_commits_nothing_past_the_failed_batch(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import OperationalError

    app: Hallwatch = fresh["app"]
    save = app.save_batch
    failures = iter(range(3))

    def flaky(*args: Any, **kw: Any) -> Any:
        if next(failures, None) is not None:  # the first three saves: the database is locked
            raise OperationalError("database is locked")
        return save(*args, **kw)

    monkeypatch.setattr(app, "save_batch", flaky)
    good = _good_52("PS")
    payloads = [(r["case_id"].encode(), orjson.dumps(r)) for r in good]
    meta = _send(fresh, payloads)
    w: KafkaIntake = fresh["worker"]
    deadline = time.monotonic() + 90
    errors: list[str] = []
    while time.monotonic() < deadline and w.stats.messages < len(payloads):
        try:
            w.run_once(timeout_ms=500)
        except OperationalError as e:
            errors.append(str(e))
    assert len(errors) == 3
    assert w.stats.failures == 3 and w.stats.refused == 0
    _check_nothing_lost(fresh, payloads, meta, set(), "store locked three times")


def test_a_record_that_keeps_failing_like_a_store_outage_is_dead_lettered_in_the_end(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store answers, yet storing one case always fails as if it were away: after
    ``suspect_after`` tries the batch is isolated, that record dead-lettered, the rest
    applied -- the loop does not spin on it for ever."""
    from eventsourcing.persistence import OperationalError

    app: Hallwatch = fresh["app"]
    save = app.save_batch
    doomed_stream = stream_id("case", "PO4")

    def failing_save(aggregates: Any, *rest: Any, **kw: Any) -> Any:
        if any(a.id == doomed_stream for a in aggregates):
            raise OperationalError("disk I/O error")
        return save(aggregates, *rest, **kw)

    monkeypatch.setattr(app, "save_batch", failing_save)
    good = _good_52("PO")
    # PO4's submitted record is the poison; its 7 later records are refused (unknown case)
    poisoned = {i for i, r in enumerate(good) if r["case_id"] == "PO4"}
    payloads = [(r["case_id"].encode(), orjson.dumps(r)) for r in good]
    meta = _send(fresh, payloads)
    w: KafkaIntake = fresh["worker"]
    deadline = time.monotonic() + 120
    failures = 0
    while time.monotonic() < deadline and w.stats.messages < len(payloads):
        try:
            w.run_once(timeout_ms=500)
        except OperationalError:
            failures += 1
    print(f"\n{failures} failed attempts before the batch was isolated")
    assert w.stats.failures == failures >= w.suspect_after - 1
    letters = _check_nothing_lost(fresh, payloads, meta, poisoned, "store failing on one case")
    first = min(poisoned)
    reason = letters[(meta[first].partition, meta[first].offset)]["reason"]
    assert reason.startswith("could not be applied: OperationalError: disk I/O error"), reason
    assert w.stats.unapplicable == 1


def test_until_idle_gives_up_with_a_clear_error_when_no_partitions_are_assigned(
    fresh: dict[str, Any], broker: LocalBroker
) -> None:
    """A member that holds the partitions and never polls again keeps the group from
    rebalancing: ``--until-idle`` stops after its bounded wait, naming why."""
    import threading

    from streams.intake import NoAssignment

    s: Settings = fresh["settings"]
    holder = consumer(broker.bootstrap_servers, fresh["group"], s.intake_topic)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not holder.assignment():
        holder.poll(timeout_ms=500)
    assert holder.assignment()
    try:
        w: KafkaIntake = fresh["worker"]  # a second member of the same group
        t0 = time.monotonic()
        with pytest.raises(NoAssignment, match="assigned no partitions within 8s"):
            w.run(threading.Event(), until_idle=True, assign_timeout=8)
        waited = time.monotonic() - t0
        print(f"\ngave up after {waited:.1f}s")
        assert 8 <= waited < 30
    finally:
        holder.close()


HALLWATCH = [sys.executable, "-m", "infra.cli"]


def _cli(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    done = subprocess.run(
        [*HALLWATCH, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    return done, time.monotonic() - t0


def test_intake_until_idle_applies_everything_and_leaves_the_group_usable(
    broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = f"u{uuid.uuid4().hex[:8]}"
    group = f"{prefix}-intake"
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(tmp_path / "data"),
        "HALLWATCH_SECRET_KEY": "ab" * 32,
        "HALLWATCH_KAFKA_BOOTSTRAP": broker.bootstrap_servers,
        "HALLWATCH_TOPIC_PREFIX": prefix,
        "COLUMNS": "200",
    }
    loaded, _ = _cli(env, "catalog", "load", "sample")
    assert loaded.returncode == 0, loaded.stderr
    s = Settings(
        data_dir=tmp_path / "data", kafka_bootstrap=broker.bootstrap_servers, topic_prefix=prefix
    )
    ensure_topics(broker.bootstrap_servers, [s.intake_topic, s.dead_letter_topic], partitions=6)
    records = [r for i in range(3) for r in full_case(f"UI{i}")]
    sender = producer(broker.bootstrap_servers)
    try:
        for r in records:
            sender.send(s.intake_topic, key=r["case_id"].encode(), value=orjson.dumps(r))
        sender.flush()
        first, t1 = _cli(env, "intake", "--until-idle", "--group", group)
        print(f"\nfirst intake --until-idle: {t1:.1f}s: {first.stdout.strip()}")
        assert first.returncode == 0, first.stderr
        assert f"intake: {len(records)} applied, 0 duplicates, 0 refused" in first.stdout
        # one more record; a second member of the same group gets the partitions at once
        # and reads only that one (the first left the group and committed everything)
        late = submitted("UI9", "2026-03-05 09:00")
        sender.send(s.intake_topic, key=b"UI9", value=orjson.dumps(late)).get(timeout=30)
    finally:
        sender.close()
    second, t2 = _cli(env, "intake", "--until-idle", "--group", group)
    print(f"second intake --until-idle: {t2:.1f}s: {second.stdout.strip()}")
    assert second.returncode == 0, second.stderr
    assert "intake: 1 applied, 0 duplicates, 0 refused" in second.stdout
    assert t2 < 30, f"the second member took {t2:.1f}s to get its partitions and drain"
    check = open_app(replace(s, secret_key=bytes.fromhex("ab" * 32)))
    try:
        for i in range(3):
            case, _ = check.as_of(stream_id("case", f"UI{i}"), None)
            assert isinstance(case, Case) and case.status == "concluded"
        assert check.find_cases("UI9")
    finally:
        check.close()
