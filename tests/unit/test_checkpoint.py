"""Signed checkpoints and the verifier's checks against them, on rows built in memory."""

from __future__ import annotations

from uuid import UUID, uuid4

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.chain import GENESIS, ChainKey, ChainVerifier, chain_hash
from domain.checkpoint import (
    CHECKPOINT_TYPE,
    CheckpointError,
    CheckpointRefused,
    Published,
    PublishedCheck,
    build,
    parse,
    read_anchors,
    sign,
    signature_ok,
)
from domain.encoding import canonical_json
from projections.projectors import StoreCheckpoint, parse_event
from streams.cloudevents import checkpoint_cloudevent

KEY = ChainKey.derive(b"s" * 32)
TOPIC = "domain.model:Case.Rated"
Row = tuple[int, UUID, int, str, bytes]


def chained(streams: dict[UUID, int], key: ChainKey | None = KEY) -> list[Row]:
    """Rows of several streams interleaved in notification order, each correctly chained."""
    rows: list[Row] = []
    heads = dict.fromkeys(streams, GENESIS)
    left = dict(streams)
    version = dict.fromkeys(streams, 0)
    nid = 0
    while any(left.values()):
        for sid in streams:
            if not left[sid]:
                continue
            left[sid] -= 1
            version[sid] += 1
            nid += 1
            state = {"prev_hash": heads[sid], "chain_hash": "", "level": version[sid]}
            h = chain_hash(heads[sid], TOPIC, sid, version[sid], canonical_json(state), key)
            state["chain_hash"] = heads[sid] = h
            rows.append((nid, sid, version[sid], TOPIC, canonical_json(state)))
    return rows


def checkpointed(rows: list[Row], private: Ed25519PrivateKey) -> ChainVerifier:
    v = ChainVerifier(KEY)
    for r in rows:
        v.check(*r)
    cp = sign(build(v, since=0, writer="test"), private)
    return ChainVerifier(KEY, [cp])


def test_a_signed_checkpoint_round_trips_through_its_anchor_line() -> None:
    private = Ed25519PrivateKey.generate()
    rows = chained({uuid4(): 3, uuid4(): 2})
    v = ChainVerifier(KEY)
    v.report(rows)
    cp = sign(build(v, since=0, writer="test"), private)
    again = parse(cp.to_line())
    assert again == cp and signature_ok(again, private.public_key())
    assert (cp.position, cp.events, cp.streams, len(cp.heads)) == (5, 5, 2, 2)
    anchors = read_anchors([cp.to_line(), b""], private.public_key())
    assert anchors.checkpoints == [cp] and not anchors.problems


def test_an_altered_or_foreign_checkpoint_fails_its_signature() -> None:
    private = Ed25519PrivateKey.generate()
    v = ChainVerifier(KEY)
    v.report(chained({uuid4(): 2}))
    cp = sign(build(v, since=0, writer="test"), private)
    altered = orjson.loads(cp.to_line())
    altered["events"] = 1
    other = Ed25519PrivateKey.generate().public_key()
    anchors = read_anchors([orjson.dumps(altered), cp.to_line()], other)
    assert not anchors.checkpoints and len(anchors.problems) == 2
    assert "line 1" in anchors.problems[0] and "signature" in anchors.problems[0]


@pytest.mark.parametrize(
    "line, words",
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"format": "x"}', "format"),
        (b'{"format": "hallwatch.checkpoint/1", "heads": [[1]]}', "head 0"),
        (b'{"format": "hallwatch.checkpoint/1", "heads": [], "position": "9"}', "position"),
    ],
)
def test_unreadable_anchor_lines_are_refused_with_the_reason(line: bytes, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        parse(line)


def test_a_checkpoint_is_never_signed_over_a_broken_store() -> None:
    rows = chained({uuid4(): 3})
    v = ChainVerifier(KEY)
    v.report([rows[0], rows[2]])
    with pytest.raises(CheckpointRefused, match="#2"):
        build(v, since=0, writer="test")


def test_unkeyed_hashes_do_not_verify_under_the_key() -> None:
    report = ChainVerifier(KEY).report(chained({uuid4(): 2}, key=None))
    assert not report.ok and report.first is not None and report.first.notification_id == 1
    assert "keyed hash" in report.first.reason


def test_the_delta_holds_only_the_heads_changed_since_the_previous_checkpoint() -> None:
    a, b = uuid4(), uuid4()
    rows = chained({a: 3, b: 1})
    v = ChainVerifier(KEY)
    for r in rows[:3]:  # a1 b1 a2
        v.check(*r)
    first = build(v, since=0, writer="t")
    for r in rows[3:]:  # a3
        v.check(*r)
    second = build(v, since=first.position, writer="t")
    assert {h.stream_id for h in first.heads} == {a, b}
    assert [(h.stream_id, h.version) for h in second.heads] == [(a, 3)]


def test_a_deleted_tail_and_a_deleted_stream_are_named_against_the_checkpoint() -> None:
    private = Ed25519PrivateKey.generate()
    a, b = uuid4(), uuid4()
    rows = chained({a: 3, b: 1})  # a1 b1 a2 a3
    tail = checkpointed(rows, private).report(rows[:3])
    assert tail.first is not None and tail.first.missing == (4, 4)
    gone = checkpointed(rows, private).report([rows[0], rows[2], rows[3]])
    assert gone.first is not None and gone.first.missing == (2, 2)  # the hole …
    assert any(b_.stream_id == b and "deleted" in b_.reason for b_ in gone.breaks or [])  # … and b
    assert checkpointed(rows, private).report(rows).ok


def test_swapped_notification_ids_are_caught_by_the_log_digest() -> None:
    private = Ed25519PrivateKey.generate()
    a, b, c = uuid4(), uuid4(), uuid4()
    rows = chained({a: 3, b: 3, c: 3})
    swapped = list(rows)
    (n1, *r1), (n2, *r2) = swapped[0], swapped[1]  # a1 and b1 trade ids
    swapped[0], swapped[1] = (n1, *r2), (n2, *r1)  # type: ignore[assignment]
    report = checkpointed(rows, private).report(swapped)
    assert not report.ok and "reordered or renumbered" in (report.breaks or [])[0].reason


def test_published_events_missing_edited_or_never_published_are_named() -> None:
    a = uuid4()
    rows = chained({a: 3})
    published = [
        Published(a, v, nid, orjson.loads(state)["chain_hash"], f"e{v}")
        for nid, _, v, _, state in rows
    ]
    check = PublishedCheck([*published[:2], Published(a, 3, 3, "0" * 64, "e3")])
    for r in rows[:1] + rows[2:]:
        check.check(*r)
    problems = check.finish()
    assert [p.notification_id for p in problems] == [2, 3]
    assert "deleted" in problems[0].reason and "edited" in problems[1].reason


def test_the_projector_skips_checkpoint_messages_as_checkpoints() -> None:
    private = Ed25519PrivateKey.generate()
    v = ChainVerifier(KEY)
    v.report(chained({uuid4(): 1}))
    cp = sign(build(v, since=0, writer="test"), private)
    msg = checkpoint_cloudevent(cp.as_dict(), source="hall")
    assert orjson.loads(msg.value)["type"] == CHECKPOINT_TYPE
    with pytest.raises(StoreCheckpoint):
        parse_event(msg.value)
    assert parse(orjson.loads(msg.value)["data"]) == cp
