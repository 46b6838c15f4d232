"""Stored events as CloudEvents 1.0 in structured JSON mode (docs/contracts.md §5).

Works from the raw stored rows, exactly as stored: ``data`` is the event's own
fields, the envelope (stream, version, times, department, item, hash chain) is
carried as extension attributes, and ``id`` is derived from the stream id and
version, so re-publishing an event after a crash gives it the same id. Personal
data is redacted on the way out (``domain/privacy.py``): names masked, applicant
ids and query codes never published.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson

from domain.checkpoint import CHECKPOINT_TYPE
from domain.model import AGGREGATES
from domain.privacy import redact_record
from domain.vocabulary import EVENT_TYPE_PREFIX, STREAM_KEY, snake_case
from domain.vocabulary import event_name as _event_name
from domain.vocabulary import event_type as _event_type

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = EVENT_TYPE_PREFIX.rstrip(".")
_EVENT_NS = uuid5(NAMESPACE_URL, "https://hallwatch.gov.cn/events")

_STREAM_OF = {cls.__name__: cls.STREAM for cls in AGGREGATES}
ENVELOPE = frozenset(
    {
        "timestamp",
        "originator_topic",
        "occurred_at",
        "recorded_at",
        "prev_hash",
        "chain_hash",
        "originator_id",
        "originator_version",
        "class_version",
    }
)
#: Created-event fields naming what a stream is about, per stream kind.
_SUBJECT_FIELD = STREAM_KEY


def event_id(stream_id: UUID, version: int) -> str:
    """The CloudEvent id of a stored event: the same every time it is published."""
    return str(uuid5(_EVENT_NS, f"{stream_id}/{version}"))


def event_type(topic: str) -> str:
    """``domain.model:Case.CorrectionRequested`` -> ``gov.hallwatch.case.correction_requested``."""
    qualname = topic.rsplit(":", 1)[-1]
    agg, _, name = qualname.rpartition(".")
    stream = _STREAM_OF.get(agg.rsplit(".", 1)[-1], snake_case(agg))
    return _event_type(_event_name(stream, name))


def stream_kind(topic: str) -> str:
    """``case``, ``complaint``, ``supervision``… for a stored event's topic."""
    return event_type(topic)[len(EVENT_TYPE_PREFIX) :].split(".", 1)[0]


@dataclass(frozen=True)
class StreamInfo:
    """What the relay remembers of a stream, from its first event."""

    kind: str
    subject: str
    department: str | None
    item_code: str | None


def stream_info(topic: str, first_state: dict[str, Any], stream_id: UUID) -> StreamInfo:
    """Subject, department and item of a stream, read from its created event."""
    kind = stream_kind(topic)
    field = _SUBJECT_FIELD.get(kind)
    subject = str(first_state.get(field) or stream_id) if field else str(stream_id)
    return StreamInfo(
        kind=kind,
        subject=subject,
        department=first_state.get("department"),
        item_code=first_state.get("item_code"),
    )


@dataclass(frozen=True)
class Message:
    """One Kafka message: key, CloudEvent value, headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str


def to_cloudevent(
    *,
    notification_id: int,
    stream_id: UUID,
    version: int,
    topic: str,
    state: bytes,
    info: StreamInfo,
    source: str,
) -> Message:
    """The structured-mode CloudEvent of one stored row."""
    fields: dict[str, Any] = orjson.loads(state)
    # the topic is outside the event store: applicant names masked, ids and codes never
    data = redact_record({k: v for k, v in fields.items() if k not in ENVELOPE})
    ce_type = event_type(topic)
    eid = event_id(stream_id, version)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": ce_type,
        "subject": info.subject,
        "time": fields.get("occurred_at") or fields.get("timestamp"),
        "datacontenttype": "application/json",
        "dataschema": f"urn:hallwatch:schema:{ce_type}",
        "streamid": str(stream_id),
        "streamkind": info.kind,
        "streamversion": version,
        "notificationid": notification_id,
        "recordedtime": fields.get("recorded_at"),
        "storedtime": fields.get("timestamp"),
        "prevhash": fields.get("prev_hash"),
        "chainhash": fields.get("chain_hash"),
        "data": data,
    }
    if info.department:
        event["department"] = info.department
    if info.item_code:
        event["itemcode"] = info.item_code
    return Message(
        key=str(stream_id).encode(),
        value=orjson.dumps(event),
        headers=[("content-type", CONTENT_TYPE.encode()), ("ce_type", ce_type.encode())],
        event_id=eid,
    )


def stored_cloudevents(
    rows: Iterable[tuple[int, UUID, int, str, bytes]], source: str
) -> Iterator[Message]:
    """The messages the relay publishes for stored rows (notification id, stream id,
    version, topic, state) read in store order: a backfill, a replay file, a test."""
    infos: dict[UUID, StreamInfo] = {}
    for nid, sid, version, topic, state in rows:
        info = infos.get(sid)
        if info is None:
            info = infos[sid] = stream_info(topic, orjson.loads(state), sid)
        yield to_cloudevent(
            notification_id=nid, stream_id=sid, version=version, topic=topic, state=state,
            info=info, source=source,
        )  # fmt: skip


def checkpoint_cloudevent(checkpoint: dict[str, Any], *, source: str) -> Message:
    """A signed store checkpoint (``domain/checkpoint.py``) as a CloudEvent of its own type:
    ``data`` is the anchor-file line; consumers that project events skip it."""
    eid = str(uuid5(_EVENT_NS, f"checkpoint/{checkpoint['position']}/{checkpoint['log_digest']}"))
    event = {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": CHECKPOINT_TYPE,
        "subject": f"store@{checkpoint['position']}",
        "time": checkpoint["created_at"],
        "datacontenttype": "application/json",
        "streamid": str(uuid5(_EVENT_NS, "store")),
        "streamkind": "store",
        "streamversion": checkpoint["position"],
        "notificationid": checkpoint["position"],
        "data": checkpoint,
    }
    return Message(
        key=b"hallwatch.checkpoint",
        value=orjson.dumps(event),
        headers=[("content-type", CONTENT_TYPE.encode()), ("ce_type", CHECKPOINT_TYPE.encode())],
        event_id=eid,
    )
