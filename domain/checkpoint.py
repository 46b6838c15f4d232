"""Signed checkpoints (签名检查点) of the whole event store, and the published-events check.

A checkpoint is the store's position (last notification id, event count), a
digest over every stream head, a digest of the whole log in notification
order, and the heads that changed since the previous checkpoint, signed with
hallwatch's Ed25519 key.  Inspectors keep the anchor file the checkpoints are
appended to, and the relay publishes each one to the events topic, so the
store can be held against something its administrator cannot rewrite.  Why
and what each part catches: ``docs/tamper-evidence.md``.  Key files are
``infra/anchors.py``'s business; this module only signs and checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.chain import ChainBreak, ChainVerifier, heads_digest
from domain.encoding import canonical_json
from domain.vocabulary import event_type

FORMAT = "hallwatch.checkpoint/1"
CHECKPOINT_TYPE = event_type("store.checkpoint")  # its CloudEvent type on the events topic


class CheckpointError(ValueError):
    """An anchor line that is not a readable, well-signed checkpoint; says which and why."""


class CheckpointRefused(RuntimeError):
    """No checkpoint is signed over a store that does not verify."""

    def __init__(self, problem: ChainBreak) -> None:
        super().__init__(
            f"not signing a checkpoint over a store that fails verification: {problem.describe()}"
        )
        self.problem = problem


@dataclass(frozen=True)
class Head:
    """A stream's newest event as a checkpoint signed it."""

    stream_id: UUID
    version: int
    chain_hash: str
    notification_id: int


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint vouches for (see the module docstring)."""

    position: int
    events: int
    streams: int
    heads_digest: str
    log_digest: str
    since: int
    heads: tuple[Head, ...]
    created_at: str
    writer: str
    key_id: str = ""
    signature: str = ""

    def body(self) -> dict[str, Any]:
        """Every signed field, as JSON values (heads as compact lists)."""
        return {
            "format": FORMAT,
            "position": self.position,
            "events": self.events,
            "streams": self.streams,
            "heads_digest": self.heads_digest,
            "log_digest": self.log_digest,
            "since": self.since,
            "heads": [
                [str(h.stream_id), h.version, h.chain_hash, h.notification_id] for h in self.heads
            ],
            "created_at": self.created_at,
            "writer": self.writer,
            "key_id": self.key_id,
        }

    def payload(self) -> bytes:
        """The bytes the signature covers: canonical JSON of the body."""
        return canonical_json(self.body())

    def as_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def to_line(self) -> bytes:
        """One anchor-file line (no newline)."""
        return canonical_json(self.as_dict())


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name for a verification key: the first 16 hex digits of its SHA-256."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def build(
    verifier: ChainVerifier, *, since: int, writer: str, now: datetime | None = None
) -> Checkpoint:
    """An unsigned checkpoint of everything ``verifier`` has read; refused if it found anything."""
    if verifier.problems:
        first = min(verifier.problems, key=lambda b: b.notification_id)
        raise CheckpointRefused(first)
    heads = tuple(
        Head(sid, v, h, nid)
        for sid, v, h, nid in sorted(verifier.changed_since(since), key=lambda t: t[3])
    )
    return Checkpoint(
        position=verifier.last_id,
        events=verifier.events,
        streams=len(verifier.tips),
        heads_digest=heads_digest(verifier.tips),
        log_digest=verifier.log.hexdigest(),
        since=since,
        heads=heads,
        created_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        writer=writer,
    )


def sign(cp: Checkpoint, private_key: Ed25519PrivateKey) -> Checkpoint:
    unsigned = replace(cp, key_id=key_id(private_key.public_key()), signature="")
    sig = private_key.sign(unsigned.payload())
    return replace(unsigned, signature=base64.b64encode(sig).decode())


def signature_ok(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(cp.signature, validate=True), cp.payload())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _field(d: dict[str, Any], name: str, kind: type) -> Any:
    value = d.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckpointError(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def parse(raw: bytes | str | dict[str, Any]) -> Checkpoint:
    """A checkpoint from its JSON (an anchor line or a checkpoint CloudEvent's ``data``)."""
    try:
        d = raw if isinstance(raw, dict) else orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise CheckpointError(f"not JSON ({e})") from None
    if not isinstance(d, dict):
        raise CheckpointError("not a JSON object")
    if d.get("format") != FORMAT:
        raise CheckpointError(f"format is {d.get('format')!r}, expected {FORMAT!r}")
    heads: list[Head] = []
    raw_heads = _field(d, "heads", list)
    for i, h in enumerate(raw_heads):
        try:
            sid, version, chash, nid = h
            if not (isinstance(version, int) and isinstance(nid, int) and isinstance(chash, str)):
                raise TypeError
            heads.append(Head(UUID(sid), version, chash, nid))
        except (TypeError, ValueError, AttributeError):
            raise CheckpointError(f"head {i} is not [stream id, version, hash, id]") from None
    return Checkpoint(
        position=_field(d, "position", int),
        events=_field(d, "events", int),
        streams=_field(d, "streams", int),
        heads_digest=_field(d, "heads_digest", str),
        log_digest=_field(d, "log_digest", str),
        since=_field(d, "since", int),
        heads=tuple(heads),
        created_at=_field(d, "created_at", str),
        writer=_field(d, "writer", str),
        key_id=_field(d, "key_id", str),
        signature=_field(d, "signature", str),
    )


@dataclass
class Anchors:
    """The checkpoints of an anchor file (or a topic) whose signatures hold, and the
    lines that are not good checkpoints (each one a verification failure)."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def last(self) -> Checkpoint | None:
        return max(self.checkpoints, key=lambda c: c.position) if self.checkpoints else None


def read_anchors(
    lines: Iterable[bytes], public_key: Ed25519PublicKey, where: str = "anchor file"
) -> Anchors:
    """Every line parsed and its signature checked against ``public_key``."""
    out = Anchors()
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            cp = parse(line)
        except CheckpointError as e:
            out.problems.append(f"{where} line {n}: {e}")
            continue
        if not signature_ok(cp, public_key):
            out.problems.append(
                f"{where} line {n} (checkpoint #{cp.position} of {cp.created_at}): the signature "
                "does not verify with hallwatch's public key: forged or altered"
            )
            continue
        out.checkpoints.append(cp)
    return out


# --- the published events (verify --against-topic) ------------------------------------


@dataclass(frozen=True)
class Published:
    """What the relay published about one stored event (CloudEvent extensions)."""

    stream_id: UUID
    version: int
    notification_id: int
    chain_hash: str
    event_id: str


class PublishedCheck:
    """Holds the store against the events already on the topic.

    Every published event must still be in the store with the same notification
    id and hash, and every stored event up to the newest published one must have
    been published (one that was not was slipped in afterwards)."""

    def __init__(self, published: Iterable[Published]) -> None:
        self.expected: dict[tuple[UUID, int], Published] = {}
        for p in published:
            self.expected[(p.stream_id, p.version)] = p
        self.horizon = max((p.notification_id for p in self.expected.values()), default=0)
        self.problems: list[ChainBreak] = []
        self.matched = 0

    def check(self, nid: int, sid: UUID, version: int, topic: str, state: bytes) -> None:
        p = self.expected.pop((sid, version), None)
        if p is None:
            if nid <= self.horizon:
                self.problems.append(
                    ChainBreak(
                        nid,
                        sid,
                        version,
                        topic,
                        f"in the store but never published, though events up to #{self.horizon} "
                        "were: inserted afterwards",
                    )
                )
            return
        try:
            stored = orjson.loads(state).get("chain_hash")
        except (orjson.JSONDecodeError, AttributeError):
            stored = None
        if p.notification_id != nid:
            self.problems.append(
                ChainBreak(
                    nid,
                    sid,
                    version,
                    topic,
                    f"published as #{p.notification_id}, now #{nid}: renumbered",
                )
            )
        elif stored != p.chain_hash:
            self.problems.append(
                ChainBreak(
                    nid,
                    sid,
                    version,
                    topic,
                    "its hash differs from the published one: edited after publication",
                )
            )
        else:
            self.matched += 1

    def finish(self) -> list[ChainBreak]:
        for p in sorted(self.expected.values(), key=lambda p: p.notification_id):
            self.problems.append(
                ChainBreak(
                    p.notification_id,
                    p.stream_id,
                    p.version,
                    "",
                    f"published (event {p.event_id}) but no longer in the store: deleted",
                )
            )
        self.expected.clear()
        return sorted(self.problems, key=lambda b: b.notification_id)


def published_from(events: Iterable[dict[str, Any]]) -> Iterator[Published | Checkpoint | str]:
    """Each CloudEvent from the topic as a Published event, a Checkpoint, or a problem text."""
    for e in events:
        if e.get("type") == CHECKPOINT_TYPE:
            try:
                yield parse(e.get("data") or {})
            except CheckpointError as err:
                yield f"checkpoint event {e.get('id')} on the topic: {err}"
            continue
        try:
            yield Published(
                UUID(str(e["streamid"])),
                int(e["streamversion"]),
                int(e["notificationid"]),
                str(e.get("chainhash") or ""),
                str(e.get("id") or ""),
            )
        except (KeyError, TypeError, ValueError):
            yield f"event {e.get('id')!r} on the topic lacks stream id, version or notification id"
