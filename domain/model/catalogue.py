"""The service catalogue (事项目录) as one stream: every loaded item version is a fact.

Parsing and checking the catalogue CSV is domain/catalogue.py; this stream records
what was loaded, so a case can always be judged by the version it was received under.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from domain.catalogue import ItemVersion
from domain.errors import CatalogueConflict
from domain.model.base import HallAggregate, RecordContext, item_from, keep_topics, stream_id


@keep_topics
class ServiceCatalogue(HallAggregate):
    """The versioned service catalogue."""

    STREAM = "catalogue"

    if TYPE_CHECKING:
        versions: dict[str, dict[date, ItemVersion]]

    @classmethod
    def open(cls, ctx: RecordContext) -> ServiceCatalogue:
        return cls._open(cls.Opened, stream_id("catalogue", "main"), ctx)

    class Opened(HallAggregate.Created):
        def apply(self, c: ServiceCatalogue) -> None:
            c.versions = {}

    def check_version(self, v: ItemVersion) -> bool:
        """True when the version is new; False when already loaded identically."""
        existing = self.versions.get(v.item_code, {}).get(v.valid_from)
        if existing is None:
            return True
        if existing == v:
            return False
        raise CatalogueConflict(
            f"item {v.item_code} already has a version valid from {v.valid_from} with different "
            "content; publish the change with a later valid_from"
        )

    def add_version(self, ctx: RecordContext, v: ItemVersion, loaded_from: str) -> None:
        self._emit(self.VersionAdded, ctx, item=v.to_dict(), loaded_from=loaded_from)

    class VersionAdded(HallAggregate.Event):
        """A new version of a service item, in force from ``valid_from``."""

        item: dict[str, Any]
        loaded_from: str

        def apply(self, c: ServiceCatalogue) -> None:
            v = item_from(self.item)
            c.versions.setdefault(v.item_code, {})[v.valid_from] = v
