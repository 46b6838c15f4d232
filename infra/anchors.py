"""The checkpoint signing key, its public key and the anchor file (签名检查点).

The signing key comes from ``HALLWATCH_SIGNING_KEY_FILE`` (kept outside the
data folder in production) or, for the demo only, is created once in the data
folder (0600).  Checkpoints are appended, one JSON line each, to the anchor file
(``HALLWATCH_ANCHOR_FILE``, default ``<data>/anchors.jsonl``) with the public
key beside it; inspectors keep copies of both.  Why: docs/tamper-evidence.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from domain.application import Hallwatch
from domain.chain import ChainBreak, ChainVerifier
from domain.checkpoint import (
    Anchors,
    Checkpoint,
    CheckpointRefused,
    Published,
    PublishedCheck,
    build,
    published_from,
    read_anchors,
    sign,
    signature_ok,
)
from infra.settings import Settings, SettingsError, write_owner_only

logger = logging.getLogger(__name__)


# --- keys ---------------------------------------------------------------------------------


def _load_private(path: Path, name: str) -> Ed25519PrivateKey:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{name} {path}: no such file") from None
    except OSError as e:
        raise SettingsError(f"{name} {path}: cannot read it ({e})") from None
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = load_pem_private_key(raw, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw.decode("ascii").strip()))
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise SettingsError(
            f"{name} {path}: not an Ed25519 private key (PEM or 64 hex digits): {e}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{name} {path}: the key is not an Ed25519 key")
    return key


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoint signing key; with none configured, the demo key in the data folder."""
    if settings.signing_key_file is not None:
        key = _load_private(settings.signing_key_file, "HALLWATCH_SIGNING_KEY_FILE")
    else:
        path = settings.data_dir / "signing.key"
        if path.exists():
            key = _load_private(path, "signing key")
        else:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            write_owner_only(path, pem)
            logger.warning("created the demo signing key %s (production: see README)", path)
    _publish_public_key(settings, key.public_key())
    return key


def _pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _publish_public_key(settings: Settings, public_key: Ed25519PublicKey) -> None:
    """Write the public key beside the anchor file (once)."""
    path = settings.anchor_file.with_suffix(".pub")
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(_pem(public_key))
    os.replace(tmp, path)


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as e:
        raise SettingsError(f"public key {path}: cannot read it ({e})") from None
    except ValueError as e:
        raise SettingsError(f"public key {path}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SettingsError(f"public key {path}: not an Ed25519 key")
    return key


def verification_key(settings: Settings) -> tuple[Ed25519PublicKey | None, str, list[str]]:
    """The key checkpoints are checked with, where it came from, and any disagreement.

    A pinned copy (``HALLWATCH_VERIFY_KEY_FILE``) wins; else the public half of the
    signing key hallwatch holds; else the key beside the anchor file."""
    problems: list[str] = []
    if settings.verify_key_file is not None:
        return _load_public(settings.verify_key_file), str(settings.verify_key_file), problems
    own: Ed25519PublicKey | None = None
    if settings.signing_key_file is not None or (settings.data_dir / "signing.key").exists():
        own = signing_key(settings).public_key()
    beside = settings.anchor_file.with_suffix(".pub")
    if beside.exists():
        published = _load_public(beside)
        if own is not None and _pem(published) != _pem(own):
            problems.append(
                f"the public key {beside} is not the one of hallwatch's signing key: replaced"
            )
        if own is None:
            return published, str(beside), problems
    if own is not None:
        return own, "the signing key", problems
    return None, "", problems


# --- the anchor file ----------------------------------------------------------------------


def read_anchor_file(path: Path, public_key: Ed25519PublicKey | None) -> Anchors:
    """Every checkpoint in the anchor file whose signature holds (none if it is absent)."""
    if not path.exists():
        return Anchors()
    if public_key is None:
        return Anchors(problems=[f"anchor file {path}: no public key to check it with"])
    with path.open("rb") as f:
        return read_anchors(f, public_key, where=f"anchor file {path}")


def append_anchor(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and sync it: a checkpoint in the file is one inspectors can rely on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, checkpoint.to_line() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def rows_after(
    app: Hallwatch, start: int, stop: int | None = None, page: int = 5000
) -> Iterator[tuple[int, UUID, int, str, bytes]]:
    """Stored rows with notification id > ``start`` (and ≤ ``stop``), in order."""
    nxt = start + 1
    while stop is None or nxt <= stop:
        rows = app.recorder.select_notifications(nxt, page, stop=stop)
        if not rows:
            return
        for n in rows:
            oid = (
                n.originator_id if isinstance(n.originator_id, UUID) else UUID(str(n.originator_id))
            )
            yield n.id, oid, n.originator_version, n.topic, bytes(n.state)
        nxt = rows[-1].id + 1


class Anchoring:
    """Signs checkpoints of one store and appends them to the anchor file.

    Keeps its verifier between calls, so a long-running writer (the relay) reads
    each event once; a checkpoint is never signed over a store that fails to
    verify (keyed chains, gaps, the checkpoints already anchored)."""

    def __init__(self, app: Hallwatch, settings: Settings, writer: str) -> None:
        self.app = app
        self.settings = settings
        self.writer = writer
        self.private = signing_key(settings)
        self.verifier: ChainVerifier | None = None
        self.anchors = Anchors()

    def checkpoint(self, upto: int | None = None, *, reuse: bool = False) -> Checkpoint | None:
        """A signed checkpoint of the store up to ``upto`` (default: all of it), appended to
        the anchor file; when nothing changed since the last one, None (or, with ``reuse``,
        that one: the relay publishes it even though another writer signed it).

        Raises CheckpointRefused when the store does not verify."""
        path = self.settings.anchor_file
        if self.verifier is None:
            self.anchors = read_anchor_file(path, self.private.public_key())
            for p in self.anchors.problems:
                logger.error("%s", p)
            self.verifier = ChainVerifier(self.app.chain_key, self.anchors.checkpoints)
        v = self.verifier
        for row in rows_after(self.app, v.last_id, upto):
            v.check(*row)
        v.settle()
        if upto is None and v.ahead:
            cp = v.ahead[0]
            v.problems.append(
                ChainBreak(
                    v.last_id + 1,
                    None,
                    None,
                    "",
                    f"the store ends at #{v.last_id} but a checkpoint signed events up to "
                    f"#{cp.position}: deleted",
                    (v.last_id + 1, cp.position),
                )
            )
        before = [c for c in self.anchors.checkpoints if c.position <= v.last_id]
        last = max(before, key=lambda c: c.position) if before else None
        unchanged = last is not None and (last.position, last.events) == (v.last_id, v.events)
        if unchanged and not v.problems:
            return last if reuse else None
        cp = sign(build(v, since=last.position if last else 0, writer=self.writer), self.private)
        append_anchor(path, cp)
        self.anchors.checkpoints.append(cp)
        logger.info("checkpoint #%s (%s events) appended to %s", cp.position, cp.events, path)
        return cp


def relay_checkpointer(anchoring: Anchoring) -> Callable[[int], dict[str, Any] | None]:
    """The relay's ``checkpointer``: a refusal is logged loudly and publishing goes on."""
    refused: list[str] = []

    def make(position: int) -> dict[str, Any] | None:
        try:
            cp = anchoring.checkpoint(upto=position, reuse=True)
        except CheckpointRefused as e:
            if str(e) not in refused:
                refused.append(str(e))
                logger.error("%s", e)
            return None
        return None if cp is None else cp.as_dict()

    return make


# --- verify -------------------------------------------------------------------------------


@dataclass
class FullReport:
    """Everything ``hallwatch verify`` checked and found."""

    events: int = 0
    streams: int = 0
    last_id: int = 0
    anchor_file: str = ""
    key_source: str = ""
    checkpoints: int = 0
    topic_events: int | None = None
    topic_checkpoints: int = 0
    problems: list[ChainBreak] = field(default_factory=list)
    anchor_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.anchor_problems

    @property
    def first(self) -> ChainBreak | None:
        return min(self.problems, key=lambda b: b.notification_id) if self.problems else None


def verify_store(
    app: Hallwatch,
    settings: Settings,
    *,
    topic_events: Iterable[dict[str, Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FullReport:
    """Chains, gaps and every anchored checkpoint; with ``topic_events`` (the events
    topic read from the beginning) also the published events and checkpoints."""
    out = FullReport(anchor_file=str(settings.anchor_file))
    public, out.key_source, out.anchor_problems = verification_key(settings)
    anchors = read_anchor_file(settings.anchor_file, public)
    out.anchor_problems += anchors.problems
    checkpoints = list(anchors.checkpoints)
    check: PublishedCheck | None = None
    if topic_events is not None:
        published: list[Published] = []
        seen = {(c.position, c.log_digest) for c in checkpoints}
        for item in published_from(topic_events):
            if isinstance(item, Published):
                published.append(item)
            elif isinstance(item, str):
                out.anchor_problems.append(item)
            else:
                out.topic_checkpoints += 1
                if public is None or not signature_ok(item, public):
                    out.anchor_problems.append(
                        f"checkpoint #{item.position} on the topic: the signature does not verify"
                    )
                elif (item.position, item.log_digest) not in seen:
                    seen.add((item.position, item.log_digest))
                    checkpoints.append(item)
        out.topic_events = len(published)
        check = PublishedCheck(published)
    if not checkpoints:
        out.notes.append(
            f"no checkpoint to hold the store against ({settings.anchor_file} "
            f"{'has none' if settings.anchor_file.exists() else 'does not exist'}): deletions of "
            "whole streams or of the newest events cannot be seen"
        )
    verifier = ChainVerifier(app.chain_key, checkpoints)
    for n, row in enumerate(app.stored_rows(), 1):
        verifier.check(*row)
        if check is not None:
            check.check(*row)
        if progress is not None and n % 20_000 == 0:
            progress(n)
    report = verifier.finish()
    out.events, out.streams, out.last_id = report.events, report.streams, report.last_id
    out.checkpoints = report.checkpoints
    out.problems = list(report.breaks or [])
    if check is not None:
        out.problems += check.finish()
    out.problems.sort(key=lambda b: b.notification_id)
    return out
