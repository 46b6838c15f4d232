"""kafka-python client settings that the local broker (tansu) needs.

Every hallwatch client uses them (``infra/kafka.py``), so they hold on a
configured cluster too.  Why each one: ``docs/decisions/0003-s3-gate.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: Joining a group takes about half the session timeout, so a short one keeps
#: rebalances quick.
CONSUMER_TUNING: Final[Mapping[str, int]] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}

#: Every acknowledgement means written to the bucket; no idempotence (tansu
#: shares one sequence-number object between producers); one request in flight
#: so a retry cannot reorder a stream's events.
PRODUCER_TUNING: Final[Mapping[str, Any]] = {
    "acks": "all",
    "enable_idempotence": False,
    "retries": 5,
    "max_in_flight_requests_per_connection": 1,
}
