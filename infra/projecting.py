"""``hallwatch project`` wired up: the broker, the events topic and the one ClickHouse writer.

``projections/`` knows nothing of settings or Kafka clients; this module opens
them (the configured cluster or the local broker) and hands the runner a ready
ClickHouse and a ready consumer.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from infra.kafka import bootstrap, consumer, ensure_hallwatch_topics
from infra.settings import Settings
from projections.migrations import migrate
from projections.runner import (
    FETCH_MAX_WAIT_MS,
    GROUP,
    IDLE_SECONDS,
    MAX_RECORDS,
    ProjectionRunner,
    ProjectorStats,
    open_writer,
    reset_schema,
)

logger = logging.getLogger(__name__)


def project(
    settings: Settings,
    *,
    rebuild: bool = False,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    group: str = GROUP,
    max_records: int = MAX_RECORDS,
    idle_seconds: float = IDLE_SECONDS,
    on_batch: Callable[[ProjectorStats], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> ProjectorStats:
    """Everything ``hallwatch project`` does: open ClickHouse (the one writer), migrate
    (or rebuild: drop the read models and read the topic from the beginning under a
    fresh group id), join the group on the events topic and project."""
    servers = bootstrap(settings)
    ensure_hallwatch_topics(settings, servers)
    ch = open_writer(settings.clickhouse_target, on_wait=on_wait)
    try:
        if rebuild:
            reset_schema(ch)
            group = f"{group}-rebuild-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
            logger.info(
                "rebuild: reading %s from the beginning as %s", settings.events_topic, group
            )
        else:
            migrate(ch)
        cons = consumer(servers, group, fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        try:
            runner = ProjectionRunner(
                ch,
                cons,
                topic=settings.events_topic,
                max_records=max_records,
                on_batch=on_batch,
            )
            try:
                return runner.run(
                    stop, until_idle=until_idle, idle_seconds=idle_seconds, on_error=on_error
                )
            finally:
                runner.close()
        finally:
            cons.close(autocommit=False)
    finally:
        ch.close()
