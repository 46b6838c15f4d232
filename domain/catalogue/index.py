"""The in-memory catalogue: every version of each item, the one in force on a day.

A case keeps the item version in force on the day it was received.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from domain.catalogue.items import ItemVersion

# ---------------------------------------------------------------------------
# in-memory index


class Catalogue:
    """In-memory, versioned catalogue: all versions of each item, ordered by ``valid_from``.

    ``len()`` and ``in`` count items (item codes), not versions.
    """

    def __init__(self, versions: Iterable[ItemVersion] = ()) -> None:
        self._versions: dict[str, list[ItemVersion]] = {}
        self._starts: dict[str, list[date]] = {}
        for v in versions:
            self.add(v)

    def add(self, v: ItemVersion) -> None:
        """Add a version. Re-adding an identical one is a no-op (reloading a file is safe);
        a different version with the same ``(item_code, valid_from)`` raises ValueError."""
        starts = self._starts.setdefault(v.item_code, [])
        chain = self._versions.setdefault(v.item_code, [])
        i = bisect.bisect_left(starts, v.valid_from)
        if i < len(starts) and starts[i] == v.valid_from:
            if chain[i] == v:
                return
            raise ValueError(
                f"item {v.item_code!r} already has a different version valid from "
                f"{v.valid_from.isoformat()}"
            )
        starts.insert(i, v.valid_from)
        chain.insert(i, v)

    def version_on(self, item_code: str, day: date) -> ItemVersion | None:
        """The version in force on ``day`` (greatest ``valid_from <= day``); None before the
        first version or for an unknown item. A case uses its receipt date here."""
        starts = self._starts.get(item_code)
        if not starts:
            return None
        if isinstance(day, datetime):
            day = day.date()
        i = bisect.bisect_right(starts, day)
        return self._versions[item_code][i - 1] if i else None

    def latest(self, item_code: str) -> ItemVersion | None:
        """The version with the greatest ``valid_from`` (possibly not yet in force)."""
        chain = self._versions.get(item_code)
        return chain[-1] if chain else None

    def versions(self, item_code: str) -> tuple[ItemVersion, ...]:
        """All versions of an item, oldest first; empty for an unknown item."""
        return tuple(self._versions.get(item_code, ()))

    def all_versions(self) -> tuple[ItemVersion, ...]:
        """Every version of every item, by item code then ``valid_from``."""
        return tuple(v for code in self.codes() for v in self._versions[code])

    def __contains__(self, item_code: object) -> bool:
        return item_code in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    def codes(self) -> list[str]:
        """Item codes, sorted."""
        return sorted(self._versions)

    def departments(self) -> list[str]:
        """Departments named by any version, sorted (a renamed owner keeps its old name too)."""
        return sorted({v.department for chain in self._versions.values() for v in chain})


def sample_catalogue_path() -> Path:
    """The sample catalogue shipped with the package (``domain/data/catalogue.csv``)."""
    return Path(__file__).resolve().parents[1] / "data" / "catalogue.csv"
