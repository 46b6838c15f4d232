"""The event-sourced aggregates of a service hall, one file each, on a shared base.

Every class keeps the stored topic ``domain.model:<Qualname>`` it had before the
model became a package (docs/decisions/0007-stable-event-topics.md).
"""

from __future__ import annotations

from domain.model.base import (
    ALERT_KEY_PREFIX,
    ALERTER_SOURCE,
    HallAggregate,
    RecordContext,
    alert_id,
    alert_key,
    item_dict,
    item_from,
    record_key,
    stream_id,
)
from domain.model.bundle import Bundle, Receipt
from domain.model.case import Case, StepState
from domain.model.catalogue import ServiceCatalogue
from domain.model.complaint import Complaint
from domain.model.supervision import SupervisionOrder

AGGREGATES: tuple[type[HallAggregate], ...] = (
    Case,
    Complaint,
    SupervisionOrder,
    Bundle,
    Receipt,
    ServiceCatalogue,
)

#: Aggregates with deadlines the alerter watches.
WATCHED: tuple[type[HallAggregate], ...] = (Case, Complaint, SupervisionOrder)

__all__ = [
    "AGGREGATES",
    "ALERTER_SOURCE",
    "ALERT_KEY_PREFIX",
    "WATCHED",
    "Bundle",
    "Case",
    "Complaint",
    "HallAggregate",
    "Receipt",
    "RecordContext",
    "ServiceCatalogue",
    "StepState",
    "SupervisionOrder",
    "alert_id",
    "alert_key",
    "item_dict",
    "item_from",
    "record_key",
    "stream_id",
]
