"""Tamper evidence (防篡改): a keyed hash chain per stream, a gap-free log, signed checkpoints.

Each event carries ``prev_hash`` and ``chain_hash``; the hash is an HMAC-SHA256,
keyed with a key derived from hallwatch's secret, over the previous hash, the
event's topic, stream id and version, and the canonical JSON of every field
(the stored bytes with ``chain_hash`` blank).  ``ChainVerifier`` reads the raw
stored rows in notification order, without the domain classes, and checks the
chains, that notification ids run 1..N without a hole, and the store against
every signed checkpoint (``domain/checkpoint.py``).  The threat model, and what
is and is not caught, is ``docs/tamper-evidence.md``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from domain.encoding import canonical_json

if TYPE_CHECKING:
    from domain.checkpoint import Checkpoint

GENESIS = "0" * 64


class ChainKey:
    """The chain's HMAC key, keyed once: each event copies the prepared state.

    Derived from hallwatch's secret (``derive``) so the one secret the operator
    keeps serves both the applicant hashes and the chain, for distinct purposes.
    """

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a chain key needs at least 16 bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    @classmethod
    def derive(cls, secret: bytes) -> ChainKey:
        return cls(hmac.new(secret, b"chain", hashlib.sha256).digest())

    def new(self) -> Any:
        return self._mac.copy()


def chain_hash(
    prev_hash: str,
    topic: str,
    stream_id: UUID,
    version: int,
    canonical_state: bytes,
    key: ChainKey | None = None,
) -> str:
    """HMAC-SHA256 (SHA-256 without a key: pure unit tests only) over the previous
    hash, the event's identity and its content."""
    h = key.new() if key is not None else hashlib.sha256()
    h.update(f"{prev_hash}|{topic}|{stream_id.hex}|{version}|".encode())
    h.update(canonical_state)
    return str(h.hexdigest())


@dataclass(frozen=True)
class ChainBreak:
    """One thing ``verify`` found wrong: a bad event, or a range of missing ones.

    ``stream_id``/``version`` are None for a hole in the notification sequence
    (``missing`` is then the first and last missing notification id)."""

    notification_id: int
    stream_id: UUID | None
    version: int | None
    topic: str
    reason: str
    missing: tuple[int, int] | None = None
    general: bool = False  # a digest or count that differs: shown only when nothing is named

    def describe(self) -> str:
        if self.stream_id is None:
            lo, hi = self.missing or (self.notification_id, self.notification_id)
            where = f"#{lo}" if lo == hi else f"#{lo}..#{hi}"
        else:
            kind = f", {self.topic.rsplit(':', 1)[-1]}" if self.topic else ""
            where = (
                f"#{self.notification_id} (stream {self.stream_id}, version {self.version}{kind})"
            )
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "stream_id": None if self.stream_id is None else str(self.stream_id),
            "version": self.version,
            "topic": self.topic,
            "reason": self.reason,
            "missing": list(self.missing) if self.missing else None,
        }


@dataclass
class VerifyReport:
    """What ``hallwatch verify`` found."""

    events: int = 0
    streams: int = 0
    breaks: list[ChainBreak] | None = None
    last_id: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> ChainBreak | None:
        """The earliest problem in store order."""
        return min(self.breaks, key=lambda b: b.notification_id) if self.breaks else None


def heads_digest(tips: dict[UUID, tuple[int, str, int]]) -> str:
    """SHA-256 over every stream head (stream id, version, chain hash), in stream id order."""
    h = hashlib.sha256()
    h.update(
        "".join(
            f"{sid.hex}|{v}|{ch}\n" for sid, (v, ch, _) in sorted(tips.items(), key=_first)
        ).encode()
    )
    return h.hexdigest()


def _first(item: tuple[UUID, Any]) -> bytes:
    return item[0].bytes


class ChainVerifier:
    """Checks stored rows in notification order: chains, gaps, checkpoints.

    Feed it rows with ``check`` (the relay feeds the rows it publishes, so it
    can sign checkpoints without a second pass) and call ``finish`` at the end.
    """

    def __init__(self, key: ChainKey | None = None, checkpoints: Iterable[Checkpoint] = ()) -> None:
        self.key = key
        self.heads: dict[UUID, tuple[int, str]] = {}  # last good (version, hash) per stream
        self.tips: dict[UUID, tuple[int, str, int]] = {}  # stored head: version, hash, id
        self.broken: dict[UUID, ChainBreak] = {}
        self.problems: list[ChainBreak] = []
        self.events = 0
        self.last_id = 0
        self.log = hashlib.sha256()  # every (id, stream, version, hash) so far: the order
        self._pending = sorted(checkpoints, key=lambda c: c.position)
        self._checked = 0
        self._log_ok_at = 0  # position of the last checkpoint whose log digest matched
        self._log_reported = False

    # --- rows ------------------------------------------------------------------------

    def check(
        self, notification_id: int, stream_id: UUID, version: int, topic: str, state: bytes
    ) -> ChainBreak | None:
        """Check one stored row; returns the chain break it finds (once per stream)."""
        while self._pending and self._pending[0].position < notification_id:
            self._evaluate(self._pending.pop(0), at_end=False)
        if notification_id != self.last_id + 1:
            self._gap(notification_id)
        self.events += 1
        self.last_id = max(self.last_id, notification_id)
        problem: str | None = None
        stored: Any = None
        try:
            data = orjson.loads(state)
            if not isinstance(data, dict):
                raise ValueError("state is not a JSON object")
        except Exception as e:
            problem = f"stored state is not readable JSON ({e})"
            data = {}
        if problem is None:
            stored = data.get("chain_hash")
            if not isinstance(stored, str):
                problem = "event has no chain_hash"
                stored = None
        tip_hash = stored if isinstance(stored, str) else ""
        self.tips[stream_id] = (version, tip_hash, notification_id)
        self.log.update(f"{notification_id}|{stream_id.hex}|{version}|{tip_hash}\n".encode())
        if stream_id in self.broken:
            return None
        last_version, last_hash = self.heads.get(stream_id, (0, GENESIS))
        if problem is None:
            data["chain_hash"] = ""
            data.pop("class_version", None)
            if version != last_version + 1:
                if version <= last_version:
                    problem = f"version {version} again after {last_version}: events reordered"
                else:
                    missing = (
                        f"version {last_version + 1}"
                        if version == last_version + 2
                        else f"versions {last_version + 1}..{version - 1}"
                    )
                    problem = f"version {version} follows {last_version}: {missing} missing"
            elif data.get("prev_hash") != last_hash:
                problem = "prev_hash does not match the previous event's hash"
            else:
                body = canonical_json(data)
                expected = chain_hash(last_hash, topic, stream_id, version, body, self.key)
                if not hmac.compare_digest(expected, stored):
                    problem = (
                        "content does not match its keyed hash: the event was edited or forged"
                    )
                else:
                    self.heads[stream_id] = (version, stored)
        if problem is not None:
            brk = ChainBreak(notification_id, stream_id, version, topic, problem)
            self.broken[stream_id] = brk
            self.problems.append(brk)
            return brk
        return None

    def _gap(self, notification_id: int) -> None:
        if notification_id <= self.last_id:
            self.problems.append(
                ChainBreak(
                    notification_id,
                    None,
                    None,
                    "",
                    f"notification id {notification_id} after {self.last_id}: ids out of order",
                )
            )
            return
        lo, hi = self.last_id + 1, notification_id - 1
        what = f"#{lo}" if lo == hi else f"#{lo}..#{hi}"
        self.problems.append(
            ChainBreak(
                lo,
                None,
                None,
                "",
                f"notification ids {what} missing ({hi - lo + 1} events deleted)",
                (lo, hi),
            )
        )

    # --- checkpoints -----------------------------------------------------------------

    def _evaluate(self, cp: Checkpoint, *, at_end: bool) -> None:
        """Compare the store as read up to ``cp.position`` with what ``cp`` signed (a
        hole before the next row is the gap check's to report; one at the end is ours)."""
        self._checked += 1
        found: list[ChainBreak] = []
        label = f"checkpoint of {cp.created_at} (#{cp.position})"
        if self.last_id < cp.position and at_end:
            lo = self.last_id + 1
            found.append(
                ChainBreak(
                    lo,
                    None,
                    None,
                    "",
                    f"the store ends at #{self.last_id} but the {label} signed events up to "
                    f"#{cp.position}: #{lo}..#{cp.position} deleted",
                    (lo, cp.position),
                )
            )
        found.extend(self._head_breaks(cp, label))
        if self.events != cp.events and not found:
            found.append(
                ChainBreak(
                    min(self.last_id, cp.position) or 1,
                    None,
                    None,
                    "",
                    f"{self.events} events up to #{cp.position}, the {label} signed "
                    f"{cp.events}: events deleted or added and renumbered",
                    general=True,
                )
            )
        found.extend(self._log_break(cp, label, report=not found))
        if not found and heads_digest(self.tips) != cp.heads_digest:
            found.append(
                ChainBreak(
                    min(self.last_id, cp.position) or 1,
                    None,
                    None,
                    "",
                    f"the stream heads differ from those the {label} signed",
                    general=True,
                )
            )
        self.problems.extend(found)

    def _log_break(self, cp: Checkpoint, label: str, *, report: bool) -> list[ChainBreak]:
        """The notification log up to ``cp`` against the digest it signed (reported once)."""
        if hmac.compare_digest(self.log.hexdigest(), cp.log_digest):
            self._log_ok_at = cp.position
            return []
        if not report or self._log_reported:
            return []
        self._log_reported = True
        lo = self._log_ok_at + 1
        return [
            ChainBreak(
                lo,
                None,
                None,
                "",
                f"events #{lo}..#{cp.position} are not the ones, or not in the order, the "
                f"{label} signed: reordered or renumbered",
                (lo, cp.position),
                general=True,
            )
        ]

    def _head_breaks(self, cp: Checkpoint, label: str) -> list[ChainBreak]:
        """Each stream head ``cp`` signed that the store no longer has as signed."""
        found: list[ChainBreak] = []
        for head in cp.heads:
            tip = self.tips.get(head.stream_id)
            if head.stream_id in self.broken and tip is not None and tip[0] >= head.version:
                continue  # already reported as a chain break
            reason: str | None = None
            if tip is None:
                reason = (
                    f"stream missing: the {label} signed its version {head.version} "
                    f"(#{head.notification_id}); the whole stream was deleted"
                )
            elif tip[0] < head.version:
                reason = (
                    f"stream ends at version {tip[0]} but the {label} signed version "
                    f"{head.version} (#{head.notification_id}): its newest events were deleted"
                )
            elif tip[0] > head.version or tip[2] != head.notification_id:
                reason = (
                    f"the {label} signed version {head.version} at #{head.notification_id}; "
                    f"the store has version {tip[0]} at #{tip[2]}: events renumbered"
                )
            elif not hmac.compare_digest(tip[1], head.chain_hash):
                reason = f"head hash differs from the one the {label} signed: replaced"
            if reason is not None:  # a renumbered head is named where it moved to, if earlier
                nid = head.notification_id
                if tip is not None and tip[0] == head.version:
                    nid = min(nid, tip[2])
                found.append(ChainBreak(nid, head.stream_id, head.version, "", reason))
        return found

    def settle(self) -> None:
        """Evaluate the checkpoints up to the last row read (a reader that goes on later)."""
        while self._pending and self._pending[0].position <= self.last_id:
            self._evaluate(self._pending.pop(0), at_end=False)

    @property
    def ahead(self) -> list[Checkpoint]:
        """Checkpoints beyond the last row read (at the end of the store: a deleted tail)."""
        return list(self._pending)

    def finish(self) -> VerifyReport:
        """Evaluate the checkpoints beyond the last row; the report."""
        while self._pending:
            self._evaluate(self._pending.pop(0), at_end=True)
        named = [b for b in self.problems if not b.general]
        return VerifyReport(
            events=self.events,
            streams=len(self.tips),
            breaks=named or list(self.problems),
            last_id=self.last_id,
            checkpoints=self._checked,
        )

    def report(self, rows: Iterable[tuple[int, UUID, int, str, bytes]]) -> VerifyReport:
        for row in rows:
            self.check(*row)
        return self.finish()

    def changed_since(self, position: int) -> list[tuple[UUID, int, str, int]]:
        """Stream heads whose newest event came after ``position`` (a checkpoint's delta)."""
        return [(sid, v, h, nid) for sid, (v, h, nid) in self.tips.items() if nid > position]


def verify_stream(
    stream_id: UUID, rows: Iterable[tuple[int, str, bytes]], key: ChainKey | None
) -> ChainBreak | None:
    """One stream's chain on its own (version, topic, stored bytes, in version order): its
    first break, or None. What a deletion of the stream's newest events hides needs the
    whole store and its checkpoints (``hallwatch verify``)."""
    verifier = ChainVerifier(key)
    for ordinal, (version, topic, state) in enumerate(rows, 1):
        brk = verifier.check(ordinal, stream_id, version, topic, state)
        if brk is not None:
            return brk
    return None
