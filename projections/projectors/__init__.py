"""Projectors (投影): the CloudEvents of ``<prefix>.events`` as ClickHouse read models.

One projector per table, one file each; ``base.py`` holds the parsed event, the
per-stream state caches and the base classes (and the rules every table follows),
``towns.py`` the town directory two tables share. The runner
(``projections.runner``) polls the topic, hydrates the states it lacks, inserts
each table's rows in one batch and only then commits the offsets.
"""

from __future__ import annotations

from projections.projectors.alerts import AlertsProjector
from projections.projectors.base import (
    DEFAULT_CAPACITY,
    HYDRATE_CHUNK,
    AppendProjector,
    BadEvent,
    Event,
    Projector,
    StateCache,
    StateProjector,
    StoreCheckpoint,
    StreamRowProjector,
    StreamState,
    parse_event,
)
from projections.projectors.cases import CasesProjector
from projections.projectors.complaints import ComplaintsProjector
from projections.projectors.events import EventsProjector
from projections.projectors.ratings import RatingsProjector
from projections.projectors.steps import StepsProjector
from projections.projectors.supervision_orders import SupervisionOrdersProjector
from projections.projectors.towns import Towns

__all__ = [
    "DEFAULT_CAPACITY",
    "HYDRATE_CHUNK",
    "AlertsProjector",
    "AppendProjector",
    "BadEvent",
    "CasesProjector",
    "ComplaintsProjector",
    "Event",
    "EventsProjector",
    "Projector",
    "RatingsProjector",
    "StateCache",
    "StateProjector",
    "StepsProjector",
    "StoreCheckpoint",
    "StreamRowProjector",
    "StreamState",
    "SupervisionOrdersProjector",
    "Towns",
    "default_projectors",
    "parse_event",
]


def default_projectors(capacity: int = DEFAULT_CAPACITY) -> tuple[Towns, list[Projector]]:
    """Every read model, in insert order (any order is safe: each table has its own gate),
    with the town directory the ratings and alerts share."""
    towns = Towns(capacity)
    return towns, [
        EventsProjector(capacity),
        AlertsProjector(towns, capacity),
        StepsProjector(capacity),
        RatingsProjector(towns, capacity),
        ComplaintsProjector(capacity),
        SupervisionOrdersProjector(capacity),
        CasesProjector(capacity),
    ]
