"""The hostile feed (tests/hostile.py) through the intake topic on the real local broker.

Why: a hall system can put anything on the intake topic; every message must end
applied, recognised as a duplicate, or dead-lettered with a reason, and no message
may stop or stall the ones after it, nor be committed past unhandled.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from domain.application import APPLIED, DUPLICATE, REFUSED, Outcome
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.broker import LocalBroker, ensure_topics
from infra.kafka import consumer, producer
from infra.settings import Settings
from infra.wiring import open_app
from streams.intake import KafkaIntake
from tests.hostile import DUPLICATE as EXPECT_DUPLICATE
from tests.hostile import GOOD, HOSTILE, TOLERATED, Sample, generate, summary

#: Dead letters never carry these in clear (PIPL).
PERSONAL = ("applicant_id", "query_code")


def _personal_values(raw: bytes) -> list[bytes]:
    """The record's own applicant id and query code strings (long enough to search for)."""
    try:
        r = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(r, dict):
        return []
    found = []
    for name in PERSONAL:
        v = r.get(name)
        if isinstance(v, str) and len(v) >= 6 and v.strip("*"):
            found.append(v.encode())
    return found


def _read_dead_letters(
    servers: str, topic: str, want: int, timeout: float = 120.0
) -> dict[tuple[int, int], tuple[str, bytes]]:
    """Dead letters by the (partition, offset) they came from: (reason, value)."""
    from kafka import TopicPartition

    c = consumer(servers, None)
    try:
        parts = c.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in parts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: dict[tuple[int, int], tuple[str, bytes]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(out) < want:
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    h = dict(r.headers)
                    where = (
                        int(h["hallwatch_source_partition"]),
                        int(h["hallwatch_source_offset"]),
                    )
                    out[where] = (h["hallwatch_reason"].decode(), r.value or b"")
        return out
    finally:
        c.close()


def test_every_hostile_message_on_the_intake_topic_is_applied_duplicate_or_dead_lettered(
    broker: LocalBroker, tmp_path: Path
) -> None:
    samples = generate(seed=11, n_hostile=4000, n_good_cases=300)
    assert len(samples) >= 10_000
    print(f"\n{len(samples)} generated records:\n{summary(samples)}")
    prefix = f"h{uuid.uuid4().hex[:8]}"
    s = Settings(
        data_dir=tmp_path / "data",
        secret_key=b"k" * 32,
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix=prefix,
    )
    # One partition: the feed's sending order is the order of application (a complaint
    # about a case comes after the case; keys still name each record's stream).
    ensure_topics(broker.bootstrap_servers, [s.intake_topic, s.dead_letter_topic], partitions=1)
    app = open_app(s)
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")

    # Send everything; what the broker itself refuses (a message over its size limit)
    # never reaches the topic and is counted apart.
    sender = producer(broker.bootstrap_servers, max_request_size=8 * 1024 * 1024)
    futures = [
        (i, sender.send(s.intake_topic, key=(x.key or "").encode() or None, value=x.raw))
        for i, x in enumerate(samples)
    ]
    sender.flush()
    at: dict[tuple[int, int], int] = {}  # (partition, offset) -> sample index
    not_sent: list[tuple[Sample, str]] = []
    for i, f in futures:
        try:
            m = f.get(timeout=60)
        except Exception as e:
            not_sent.append((samples[i], type(e).__name__))
            continue
        at[(m.partition, m.offset)] = i
    sender.close()
    assert all(x.expect == HOSTILE for x, _ in not_sent), not_sent[:3]
    assert len(not_sent) <= 5, [(x.why, e) for x, e in not_sent]

    outcomes: dict[tuple[int, int], Outcome] = {}

    def record(messages: Any, batch: Any) -> None:
        for m, o in zip(messages, batch, strict=True):
            outcomes[(m.partition, m.offset)] = o

    errors: list[str] = []
    cons = consumer(broker.bootstrap_servers, f"{prefix}-intake", s.intake_topic)
    dlq = producer(broker.bootstrap_servers)
    worker = KafkaIntake(app, cons, dlq, dead_letter_topic=s.dead_letter_topic, on_batch=record)
    t0 = time.monotonic()
    try:
        stats = worker.run(
            threading.Event(),
            until_idle=True,
            on_error=lambda e: errors.append(f"{type(e).__name__}: {e}"),
        )
    finally:
        cons.close()
        dlq.close(timeout=10)
    took = time.monotonic() - t0

    got = Counter(o.status for o in outcomes.values())
    print(
        f"intake: {len(at)} messages on the topic in {took:.1f}s: {got[APPLIED]} applied, "
        f"{got[DUPLICATE]} duplicates, {got[REFUSED]} dead-lettered "
        f"({stats.unapplicable} could not be applied), {len(errors)} unhandled exceptions, "
        f"{stats.isolated} batches isolated, lost {len(at) - len(outcomes)}; "
        f"{len(not_sent)} refused by the broker before the topic"
    )
    assert not errors, errors[:5]
    assert set(outcomes) == set(at)  # 0 lost: every message on the topic has an outcome

    wrong: list[str] = []
    raised: list[str] = []
    vague: list[str] = []  # refused with a reason that does not name the field or cause
    for where, i in at.items():
        x, o = samples[i], outcomes[where]
        if o.reason and o.reason.startswith(("could not be applied", "could not be read")):
            raised.append(f"{x.why}: {o.reason[:120]}")
        ok = {
            GOOD: o.status == APPLIED,
            EXPECT_DUPLICATE: o.status == DUPLICATE,
            HOSTILE: o.status == REFUSED and bool((o.reason or "").strip()),
            TOLERATED: o.status in (APPLIED, REFUSED),
        }[x.expect]
        if not ok:
            wrong.append(f"{x.expect} {x.why}: {o.status} {(o.reason or '')[:160]!r}")
        elif x.expect == HOSTILE and not x.reason_ok(o.reason):
            vague.append(f"{x.why}: {(o.reason or '')[:160]!r}")
    print(
        f"{len(wrong)} outcomes unlike the expectation, {len(raised)} raised in the domain, "
        f"{len(vague)} refusals whose reason misses the generator's hint "
        f"(the wording is the ingest suite's to check)"
    )
    for line in wrong[:20]:
        print("   wrong:", line)
    assert not raised, raised[:10]

    refused = {w for w, o in outcomes.items() if o.status == REFUSED}
    letters = _read_dead_letters(broker.bootstrap_servers, s.dead_letter_topic, len(refused))
    assert set(letters) == refused  # every refusal on the dead-letter topic, nothing else
    assert all(reason.strip() for reason, _ in letters.values())
    leaked = [
        (samples[at[w]].why, p)
        for w, (_, v) in letters.items()
        for p in _personal_values(samples[at[w]].raw)
        if p in v
    ]
    assert not leaked, leaked[:5]

    from kafka import TopicPartition

    c = consumer(broker.bootstrap_servers, f"{prefix}-intake")
    try:
        end = max(o for _, o in at) + 1
        assert c.committed(TopicPartition(s.intake_topic, 0)) == end
    finally:
        c.close()
    report = app.verify()
    print(f"verify: {report.events} events, ok={report.ok}")
    assert report.ok, report.first
    app.close()
    # last, as the domain's verdicts (the same as `hallwatch ingest` gives these lines)
    assert not wrong, wrong[:10]
