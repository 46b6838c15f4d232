"""Creating the topics hallwatch needs, on the local broker or a configured cluster.

Runs at every start, so a topic that already exists (or that someone else
creates meanwhile) is fine, whatever its partition count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from infra.broker.errors import BrokerError

logger = logging.getLogger(__name__)


def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int = 6) -> None:
    """Create the topics that are missing.

    A topic that already exists (or that someone else creates meanwhile) is
    fine, whatever its partition count: this runs at every start.
    """
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]
    from kafka.admin import NewTopic  # type: ignore[import-untyped]
    from kafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="hallwatch-admin")
    try:
        for _ in range(3):
            existing = set(admin.list_topics())
            missing = [n for n in wanted if n not in existing]
            if not missing:
                return
            logger.info(
                "creating topics %s (%d partitions) on %s",
                ", ".join(missing),
                partitions,
                bootstrap,
            )
            new = [
                NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in missing
            ]
            try:
                response = admin.create_topics(new)
            except TopicAlreadyExistsError:
                continue  # kafka-python raises for the whole batch: look again
            for code, name, message in _topic_errors(response):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise BrokerError(f"cannot create topic {name!r}: error {code} {message or ''}")
        missing = [n for n in wanted if n not in set(admin.list_topics())]
        if missing:
            raise BrokerError(f"topics still missing after creating them: {', '.join(missing)}")
    finally:
        admin.close()


def _topic_errors(response: Any) -> list[tuple[int, str, str | None]]:
    """(error code, topic, message) of each topic in a CreateTopics answer."""
    out: list[tuple[int, str, str | None]] = []
    topics = response.get("topics", ()) if isinstance(response, Mapping) else ()
    for t in topics:
        out.append((int(t.get("error_code", 0)), str(t.get("name")), t.get("error_message")))
    return out
