"""Tamper evidence (防篡改): every stored event is chained to its predecessor.

Each event carries ``prev_hash`` and ``chain_hash``; the hash covers the
previous hash, the event's topic, stream id and version, and the canonical JSON
of every field -- exactly the stored bytes with ``chain_hash`` left blank.  Editing,
reordering or deleting an event inside a stream breaks the chain, and
``hallwatch verify`` recomputes every chain from the raw stored rows without
needing the domain classes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import orjson

from domain.storage import canonical_json

GENESIS = "0" * 64


def chain_hash(
    prev_hash: str, topic: str, stream_id: UUID, version: int, canonical_state: bytes
) -> str:
    """SHA-256 over the previous hash, the event's identity and its content."""
    h = hashlib.sha256()
    h.update(f"{prev_hash}|{topic}|{stream_id.hex}|{version}|".encode())
    h.update(canonical_state)
    return h.hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event of a stream whose stored form does not match its chain."""

    notification_id: int
    stream_id: UUID
    version: int
    topic: str
    reason: str


@dataclass
class VerifyReport:
    """What ``hallwatch verify`` found."""

    events: int = 0
    streams: int = 0
    breaks: list[ChainBreak] | None = None

    @property
    def ok(self) -> bool:
        return not self.breaks


class ChainVerifier:
    """Checks stored rows in notification order, stream by stream."""

    def __init__(self) -> None:
        self.heads: dict[UUID, tuple[int, str]] = {}
        self.broken: dict[UUID, ChainBreak] = {}
        self.events = 0

    def check(
        self, notification_id: int, stream_id: UUID, version: int, topic: str, state: bytes
    ) -> ChainBreak | None:
        """Check one stored row; returns the break it finds (once per stream)."""
        self.events += 1
        if stream_id in self.broken:
            return None
        last_version, last_hash = self.heads.get(stream_id, (0, GENESIS))
        problem: str | None = None
        try:
            data = orjson.loads(state)
            if not isinstance(data, dict):
                raise ValueError("state is not a JSON object")
        except Exception as e:
            problem = f"stored state is not readable JSON ({e})"
            data = {}
        if problem is None:
            stored = data.get("chain_hash")
            data["chain_hash"] = ""
            data.pop("class_version", None)
            if stored is None:
                problem = "event has no chain_hash"
            elif version != last_version + 1:
                problem = f"version {version} follows {last_version}: an event is missing"
            elif data.get("prev_hash") != last_hash:
                problem = "prev_hash does not match the previous event's hash"
            else:
                expected = chain_hash(last_hash, topic, stream_id, version, canonical_json(data))
                if expected != stored:
                    problem = "content does not match its hash: the event was edited"
                else:
                    self.heads[stream_id] = (version, stored)
        if problem is not None:
            brk = ChainBreak(notification_id, stream_id, version, topic, problem)
            self.broken[stream_id] = brk
            return brk
        return None

    def report(self, rows: Iterable[tuple[int, UUID, int, str, bytes]]) -> VerifyReport:
        breaks: list[ChainBreak] = []
        for row in rows:
            brk = self.check(*row)
            if brk is not None:
                breaks.append(brk)
        return VerifyReport(
            events=self.events, streams=len(self.heads) + len(self.broken), breaks=breaks
        )
