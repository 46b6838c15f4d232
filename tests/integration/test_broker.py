"""The local broker (tansu on rclone's S3 server) against the real binaries.

Each test has its own data folder and free ports; the fixture always stops (or
kills) both processes, whatever happened in the test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from infra.broker import (
    CONSUMER_TUNING,
    PRODUCER_TUNING,
    BrokerConfig,
    BrokerError,
    LocalBroker,
    ensure_topics,
    repair_torn_puts,
)
from infra.cli.broker import broker as broker_group
from infra.cli.broker import config_from_env

VALUE = b"x" * 1000  # ~1 KB messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_free_ports() -> tuple[int, int]:
    a = free_port()
    b = free_port()
    while b == a:
        b = free_port()
    return a, b


@pytest.fixture
def config(tmp_path: Path) -> BrokerConfig:
    kafka_port, s3_port = two_free_ports()
    return BrokerConfig(data_dir=tmp_path / "data", kafka_port=kafka_port, s3_port=s3_port)


@pytest.fixture
def broker(config: BrokerConfig) -> Iterator[LocalBroker]:
    b = LocalBroker(config)
    try:
        yield b
    finally:
        try:
            b.stop(timeout=3)
        finally:
            b.kill_hard()  # no-op once stopped; the last resort otherwise


def produce(servers: str, topic: str, keys: list[bytes]) -> dict[bytes, tuple[int, int]]:
    """Send and wait for every acknowledgement: key -> (partition, offset)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=5, **PRODUCER_TUNING)
    try:
        futures = [(k, producer.send(topic, key=k, value=VALUE)) for k in keys]
        producer.flush(timeout=60)
        acked = {}
        for k, f in futures:
            md = f.get(timeout=30)
            acked[k] = (md.partition, md.offset)
        return acked
    finally:
        producer.close(timeout=5)


def consume(
    servers: str, topic: str, group: str, want: set[bytes], within: float = 30
) -> list[Any]:
    """Read with a consumer group until every key of ``want`` came or ``within`` s passed.

    (Not a count: after a crash the topic may also hold messages whose
    acknowledgement was lost, which are fine but are not the ones we wait for.)"""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **CONSUMER_TUNING,
    )
    out: list[Any] = []
    missing = set(want)
    try:
        deadline = time.monotonic() + within
        while missing and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
                missing.difference_update(m.key for m in records)
        if out:
            consumer.commit()
    finally:
        consumer.close()
    return out


def test_produce_and_consume_in_order(broker: LocalBroker) -> None:
    broker.start()
    st = broker.status()
    assert st["tansu"]["alive"] and st["rclone"]["alive"]
    assert st["tansu"]["listening"] and st["rclone"]["listening"]
    ensure_topics(broker.bootstrap_servers, ["orders"], partitions=6)
    ensure_topics(broker.bootstrap_servers, ["orders"], partitions=6)  # already there: fine

    keys = [f"case-{i % 97}-{i:05d}".encode() for i in range(1000)]
    acked = produce(broker.bootstrap_servers, "orders", keys)
    assert len(acked) == 1000

    got = consume(broker.bootstrap_servers, "orders", "g-order", set(keys))
    assert len(got) == 1000
    assert {m.key for m in got} == set(keys)
    assert {m.key: (m.partition, m.offset) for m in got} == acked
    for partition in {p for p, _ in acked.values()}:
        seen = [m for m in got if m.partition == partition]
        sent = [k for k in keys if acked[k][0] == partition]  # the order they were sent in
        assert [m.key for m in seen] == sent
        assert [m.offset for m in seen] == sorted(m.offset for m in seen)


def test_acknowledged_messages_survive_kill_9(broker: LocalBroker) -> None:
    broker.start()
    ensure_topics(broker.bootstrap_servers, ["durable"], partitions=6)
    keys = [f"k{i:05d}".encode() for i in range(5000)]
    began = time.monotonic()
    acked = produce(broker.bootstrap_servers, "durable", keys)
    rate = len(acked) / (time.monotonic() - began)
    print(f"\nproduced {len(acked)} x 1 KB, acks=all, one producer: {rate:,.0f} messages/s")
    assert len(acked) == 5000

    broker.kill_hard()
    st = broker.status()
    assert not st["tansu"]["alive"] and not st["rclone"]["alive"]

    began = time.monotonic()
    broker.start()
    print(f"restart after kill -9: {time.monotonic() - began:.2f} s")
    got = consume(broker.bootstrap_servers, "durable", "g-after-crash", set(acked))
    assert set(acked) <= {m.key for m in got}
    assert {m.key: (m.partition, m.offset) for m in got} == acked


def test_kill_9_while_producing_keeps_what_was_acknowledged(broker: LocalBroker) -> None:
    """The crash lands in the middle of writes, so it can tear an object overwrite
    (see repair_torn_puts); whatever was acknowledged must still be there."""
    from kafka import KafkaProducer

    broker.start()
    ensure_topics(broker.bootstrap_servers, ["midflight"], partitions=6)
    settings = {**PRODUCER_TUNING, "retries": 0, "request_timeout_ms": 3000}
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        delivery_timeout_ms=5000,
        linger_ms=5,
        **settings,
    )
    futures: list[tuple[bytes, Any]] = []
    stop = threading.Event()

    def send() -> None:
        i = 0
        while not stop.is_set() and i < 200_000:
            key = f"m{i:06d}".encode()
            try:
                futures.append((key, producer.send("midflight", key=key, value=VALUE)))
            except Exception:
                return
            i += 1
            if i % 200 == 0:
                time.sleep(0.01)  # let the sender thread keep up

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.5)
    broker.kill_hard()
    stop.set()
    sender.join()
    acked: dict[bytes, tuple[int, int]] = {}
    for key, future in futures:
        try:
            md = future.get(timeout=10)
        except Exception:
            continue
        acked[key] = (md.partition, md.offset)
    producer.close(timeout=2)
    assert len(acked) > 500

    broker.start()
    got = consume(broker.bootstrap_servers, "midflight", "g-midflight", set(acked))
    stored = {m.key: (m.partition, m.offset) for m in got}
    assert set(acked) <= set(stored)
    assert {k: stored[k] for k in acked} == acked  # where they were acknowledged


def test_restart_under_a_retrying_producer_keeps_every_acknowledged_message(
    broker: LocalBroker,
) -> None:
    """The outbox relay's pattern: one producer sends batches continuously to 6
    partitions, both processes are killed mid-stream, the broker comes back ~1.5 s
    later while the producer retries and keeps sending.  A restarted tansu knows
    no partition's state: its first write to each partition is a create-only PUT
    of watermark.json, which rclone alone would grant, sending the partition
    back to offset 0 over acknowledged messages (see S3Gate)."""
    from kafka import KafkaProducer

    broker.start()
    ensure_topics(broker.bootstrap_servers, ["relayed"], partitions=6)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        linger_ms=5,
        batch_size=256 * 1024,
        request_timeout_ms=5000,
        max_block_ms=5000,
        **PRODUCER_TUNING,
    )
    futures: list[tuple[str, bytes, Any]] = []  # (phase, key, future)
    phase = ["before"]
    stop = threading.Event()

    def send() -> None:
        i = 0
        while not stop.is_set() and i < 60_000:
            key = f"r{i:06d}".encode()
            try:
                futures.append((phase[0], key, producer.send("relayed", key=key, value=VALUE)))
            except Exception:  # buffer full / no metadata while the broker is down
                time.sleep(0.05)
                continue
            i += 1
            if i % 500 == 0:
                time.sleep(0.2)  # batches of ~500, about as fast as the broker takes them

    sender = threading.Thread(target=send)
    began = time.monotonic()
    sender.start()
    try:
        time.sleep(1.5)
        broker.kill_hard()
        phase[0] = "restarted"
        time.sleep(1.5)
        broker.start()
        time.sleep(2.0)  # the producer's retries and new batches reach the new broker
    finally:
        stop.set()
        sender.join()
    producer.flush(timeout=30)
    print(f"\nsent {len(futures)}, flushed after {time.monotonic() - began:.1f} s")
    acked: dict[bytes, tuple[str, int, int]] = {}
    for when, key, future in futures:
        try:
            md = future.get(timeout=10)
        except Exception:
            continue  # never acknowledged: may or may not be stored
        acked[key] = (when, md.partition, md.offset)
    producer.close(timeout=5)
    before = [a for a in acked.values() if a[0] == "before"]
    after = [a for a in acked.values() if a[0] == "restarted"]
    assert len(before) > 500 and len(after) > 500, (len(before), len(after))

    # No partition went back: what was written after the restart lies above
    # everything acknowledged before it.
    for partition in range(6):
        old = [o for _, p, o in before if p == partition]
        new = [o for _, p, o in after if p == partition]
        if old and new:
            assert min(new) > max(old), f"partition {partition} restarted at offset {min(new)}"

    got = consume(broker.bootstrap_servers, "relayed", "g-relayed", set(acked), within=40)
    stored = {(m.key, m.partition, m.offset) for m in got}
    lost = [k for k, (_, p, o) in acked.items() if (k, p, o) not in stored]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged messages lost, e.g. {lost[:3]}"


def test_the_s3_gate_refuses_writes_whose_precondition_fails(
    broker: LocalBroker, config: BrokerConfig
) -> None:
    """What rclone alone ignores: create-only and compare-and-swap PUTs (checked
    before anything reaches rclone, so no signature is needed to see the 412)."""
    import hashlib
    import http.client

    broker.start()
    ensure_topics(broker.bootstrap_servers, ["gated"], partitions=1)
    key = f"{config.bucket}/clusters/{config.cluster_id}/topics/gated/partitions/0000000000"
    watermark = config.s3_root / key / "watermark.json"
    before = watermark.read_bytes()
    etag = hashlib.md5(before).hexdigest()
    port = broker.status()["gate"]["port"]

    def put(headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection(config.host, port, timeout=5)
        try:
            conn.request("PUT", f"/{key}/watermark.json", body=b'{"high":0}', headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    assert put({"If-None-Match": "*"}) == 412
    assert put({"If-Match": '"0123456789abcdef0123456789abcdef"'}) == 412
    assert put({"If-Match": f'"{etag}"'}) in (400, 403)  # passed on; rclone wants a signature
    assert watermark.read_bytes() == before


def test_repair_of_a_torn_overwrite(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    partition = bucket / "clusters/hallwatch/topics/t/partitions/0000000003"
    (partition / "records").mkdir(parents=True)
    (partition / "records/00000000000000000000.batch").write_bytes(b"batch")
    torn = partition / ".rclone_temp_put_1"  # killed between unlink and rename
    torn.write_text('{"low":null,"high":16,"timestamps":null}')
    intact = bucket / "clusters/hallwatch/topics/t/partitions/0000000004"
    intact.mkdir(parents=True)
    (intact / "watermark.json").write_text('{"high":8}')
    (intact / ".rclone_temp_put_2").write_text('{"high":')  # killed while writing
    unknown = bucket / "clusters/hallwatch/groups/consumers/g/offsets/t/partitions"
    unknown.mkdir(parents=True)
    (unknown / ".rclone_temp_put_3").write_text('{"offset":5}')
    (partition / "records/.rclone_temp_put_4").write_bytes(b"half a batch")

    notes = repair_torn_puts(bucket)

    assert (partition / "watermark.json").read_text() == '{"low":null,"high":16,"timestamps":null}'
    assert not torn.exists()
    assert (intact / "watermark.json").read_text() == '{"high":8}'
    assert not (intact / ".rclone_temp_put_2").exists()
    assert (unknown / ".rclone_temp_put_3").exists()  # ambiguous: left alone, reported
    assert (partition / "records/.rclone_temp_put_4").exists()  # never looked at
    assert len(notes) == 3
    assert repair_torn_puts(bucket) == [notes[2]]  # idempotent


def test_starting_twice_is_a_no_op(broker: LocalBroker, config: BrokerConfig) -> None:
    broker.start()
    before = broker.status()
    began = time.monotonic()
    LocalBroker(config).start()  # another process would build its own LocalBroker
    assert time.monotonic() - began < 2
    after = broker.status()
    assert after["tansu"]["pid"] == before["tansu"]["pid"]
    assert after["rclone"]["pid"] == before["rclone"]["pid"]

    env = {
        "HALLWATCH_DATA_DIR": str(config.data_dir),
        "HALLWATCH_KAFKA_PORT": str(config.kafka_port),
        "HALLWATCH_S3_PORT": str(config.s3_port),
    }
    out = CliRunner().invoke(broker_group, ["start"], env=env)
    assert out.exit_code == 0, out.output
    assert "already running" in out.output
    out = CliRunner().invoke(broker_group, ["status", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.output)["tansu"]["pid"] == before["tansu"]["pid"]


def test_a_taken_kafka_port_is_named(broker: LocalBroker, config: BrokerConfig) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.kafka_port))
        squatter.listen()
        with pytest.raises(BrokerError, match=rf"port {config.kafka_port}\b.*already taken"):
            broker.start(timeout=10)
    st = broker.status()
    assert not st["tansu"]["alive"] and not st["rclone"]["alive"]  # nothing left behind


def test_stop_then_nothing_runs(broker: LocalBroker, config: BrokerConfig) -> None:
    broker.start()
    pids = [broker.status()[n]["pid"] for n in ("tansu", "rclone")]
    broker.stop()
    st = broker.status()
    for name in ("tansu", "rclone"):
        assert st[name] | {"log": None} == {
            "pid": None,
            "alive": False,
            "port": st[name]["port"],
            "listening": False,
            "log": None,
        }
    assert not st["running"]
    assert not list(config.broker_dir.glob("*.pid"))
    broker.stop()  # idempotent
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()

    env = {
        "HALLWATCH_DATA_DIR": str(config.data_dir),
        "HALLWATCH_KAFKA_PORT": str(config.kafka_port),
        "HALLWATCH_S3_PORT": str(config.s3_port),
    }
    out = CliRunner().invoke(broker_group, ["status"], env=env)
    assert out.exit_code == 1 and "not running" in out.output


def test_a_relative_data_folder_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's processes run in its own folder: ./.hallwatch must not follow them."""
    monkeypatch.chdir(tmp_path)
    cfg = BrokerConfig(data_dir=Path(".hallwatch"))
    assert cfg.data_dir == tmp_path / ".hallwatch"
    assert cfg.broker_dir.is_absolute()


def test_config_from_env(tmp_path: Path) -> None:
    cfg = config_from_env({}, tmp_path)
    assert (cfg.kafka_port, cfg.s3_port, cfg.host) == (9092, 9095, "127.0.0.1")
    cfg = config_from_env({"HALLWATCH_KAFKA_PORT": "19092", "HALLWATCH_S3_PORT": "19095"}, tmp_path)
    assert (cfg.kafka_port, cfg.s3_port, cfg.data_dir) == (19092, 19095, tmp_path)
    with pytest.raises(ValueError, match="HALLWATCH_KAFKA_PORT"):
        config_from_env({"HALLWATCH_KAFKA_PORT": "kafka"}, tmp_path)
    with pytest.raises(ValueError):
        config_from_env({"HALLWATCH_KAFKA_PORT": "9095"}, tmp_path)  # same as the S3 port
    out = CliRunner().invoke(
        broker_group, ["start"], env={"HALLWATCH_KAFKA_BOOTSTRAP": "kafka.example:9092"}
    )
    assert out.exit_code == 0 and "nothing started" in out.output
