"""hallwatch's local Kafka-protocol broker, started by itself when no bootstrap
servers are configured: tansu storing to S3 served by ``rclone serve s3``, with
hallwatch's S3 gate between them, all on 127.0.0.1 (default ports in
``docs/contracts.md``).  Why the gate: ``docs/decisions/0003-s3-gate.md``.

One module per job: ``binaries`` (finding tansu and rclone), ``processes``
(pid files, liveness, ports, logs), ``repair`` (writes torn by a crash),
``s3gate`` (the gate, a process of its own), ``local`` (``LocalBroker``),
``topics`` (``ensure_topics``), ``tuning`` (client settings).
"""

from infra.broker.binaries import find_rclone, find_tansu
from infra.broker.errors import BrokerError
from infra.broker.local import BrokerConfig, LocalBroker
from infra.broker.repair import repair_torn_puts
from infra.broker.topics import ensure_topics
from infra.broker.tuning import CONSUMER_TUNING, PRODUCER_TUNING

__all__ = [
    "CONSUMER_TUNING",
    "PRODUCER_TUNING",
    "BrokerConfig",
    "BrokerError",
    "LocalBroker",
    "ensure_topics",
    "find_rclone",
    "find_tansu",
    "repair_torn_puts",
]
