"""Kafka wiring: the local broker when no cluster is configured, topics, clients.

Client settings follow what the local broker (tansu on rclone's S3) needs:
a ~6 s consumer session (joining a group takes half of it), earliest offset
resets, no transactions.  Producers wait for every acknowledgement (acks=all)
but are NOT idempotent: tansu keeps all producers' sequence numbers in one shared
object and breaks with two idempotent producers.  One request in flight keeps a
stream's events in order across retries; a retry may duplicate a message, which
every consumer deduplicates on the event id.  rclone's S3 server ignores
conditional writes, so on the local broker only one producer may write to a
partition at a time: hallwatch runs one relay per events topic.
"""

from __future__ import annotations

from typing import Any

from infra.broker import CONSUMER_TUNING, PRODUCER_TUNING, BrokerConfig, LocalBroker, ensure_topics
from infra.settings import Settings


def broker_config(settings: Settings) -> BrokerConfig:
    return BrokerConfig(
        data_dir=settings.data_dir, kafka_port=settings.kafka_port, s3_port=settings.s3_port
    )


def bootstrap(settings: Settings, *, start: bool = True) -> str:
    """Bootstrap servers: the configured cluster, or the local broker (started if needed)."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    broker = LocalBroker(broker_config(settings))
    if start:
        broker.start()
    return broker.bootstrap_servers


def ensure_hallwatch_topics(settings: Settings, servers: str) -> None:
    ensure_topics(
        servers,
        [settings.events_topic, settings.intake_topic, settings.dead_letter_topic],
        partitions=settings.topic_partitions,
    )


def producer(servers: str, **overrides: Any) -> Any:
    """A producer that waits for every acknowledgement, one request in flight."""
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": servers,
        **PRODUCER_TUNING,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30_000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def consumer(servers: str, group: str | None, *topics: str, **overrides: Any) -> Any:
    """A consumer with manual commits and tansu-friendly group timings."""
    from kafka import KafkaConsumer

    config: dict[str, Any] = {
        "bootstrap_servers": servers,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **CONSUMER_TUNING,
        "max_poll_interval_ms": 300_000,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }
    config.update(overrides)
    return KafkaConsumer(*topics, **config)
