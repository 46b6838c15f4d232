"""What every hallwatch aggregate shares: the record envelope, the hash chain, alerts.

Events are sealed as they are built: their canonical bytes are hashed into the
stream's chain once and stored as they are (docs/tamper-evidence.md). Events
are built directly rather than through the library's ``trigger_event``, which
costs more than storing them at intake rates (docs/decisions/0006-intake-speed.md);
a test holds the two paths to the same result.
"""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, OriginatorIDError, OriginatorVersionError
from eventsourcing.utils import get_topic, register_topic, resolve_topic

from domain import clock
from domain.catalogue import ItemVersion
from domain.chain import GENESIS, ChainKey, chain_hash
from domain.encoding import STORED_BYTES, canonical_json
from domain.lifecycle import status_after
from domain.vocabulary import event_name

_NS = uuid5(NAMESPACE_URL, "https://hallwatch.gov.cn/ids")

#: Stored events name their class as ``domain.model:<Qualname>`` whatever file defines
#: it: the topic is part of every stored event and of its hash (docs/decisions/0007).
TOPIC_MODULE = "domain.model"


@lru_cache(maxsize=1 << 17)
def stream_id(kind: str, key: str) -> UUID:
    """Deterministic stream id, so a case is found by its hall case number alone."""
    return uuid5(_NS, f"{kind}:{key}")


def record_key(source: str, record_id: str) -> str:
    """The idempotency key of an intake record: record ids are unique per source."""
    return f"{source}\x1f{record_id}"


class RecordContext:
    """Who said what, when: the envelope of one intake record (slotted: one per record)."""

    __slots__ = (
        "at", "chain_key", "day", "kind", "record_id", "recorded_at", "source", "stored_at",
    )  # fmt: skip

    def __init__(
        self,
        record_id: str,
        source: str,
        kind: str,
        at: datetime,
        recorded_at: datetime,
        stored_at: datetime | None = None,
        chain_key: ChainKey | None = None,
    ) -> None:
        self.record_id = record_id
        self.source = source
        self.kind = kind
        self.at = at
        self.recorded_at = recorded_at
        self.stored_at = stored_at
        self.chain_key = chain_key  # the application's key; None: unkeyed (pure unit tests)
        self.day: date = clock.local_date(at)  # the Asia/Shanghai date it happened on

    def __repr__(self) -> str:
        return f"RecordContext({self.kind} {self.record_id} at {self.at.isoformat()})"


# --- item versions carried by case events ---------------------------------------------

_ITEMS: dict[bytes, ItemVersion] = {}
_DICT_OF: dict[int, tuple[ItemVersion, dict[str, Any]]] = {}  # id(item) -> (item, its dict)
_ITEM_OF: dict[int, tuple[dict[str, Any], ItemVersion]] = {}  # id(dict) -> (dict, its item)


def item_dict(item: ItemVersion) -> dict[str, Any]:
    """``item.to_dict()``, built once per item version for the events that carry it (an
    event's fields are never changed, so events of one version share the dict)."""
    hit = _DICT_OF.get(id(item))
    if hit is not None and hit[0] is item:
        return hit[1]
    if len(_DICT_OF) > 10_000:
        _DICT_OF.clear()
        _ITEM_OF.clear()
    d = item.to_dict()
    _DICT_OF[id(item)] = (item, d)
    _ITEM_OF[id(d)] = (d, item)
    return d


def item_from(d: dict[str, Any]) -> ItemVersion:
    """``ItemVersion.from_dict`` memoised: every case event of an item carries the same dict."""
    hit = _ITEM_OF.get(id(d))
    if hit is not None and hit[0] is d:  # the very dict item_dict made (entries keep both alive)
        return hit[1]
    key = canonical_json(d)
    item = _ITEMS.get(key)
    if item is None:
        if len(_ITEMS) > 50_000:
            _ITEMS.clear()
        item = _ITEMS[key] = ItemVersion.from_dict(d)
    return item


# --- alerts -----------------------------------------------------------------------------

ALERTER_SOURCE = "hallwatch-alerter"

ALERT_KEY_PREFIX = "alert\x1e"
"""Where alerts' entries in an aggregate's applied records begin: no intake record's key
(``source\\x1frecord_id``) can equal one, whatever source or record id it claims."""


def alert_id(alert: str, deadline: date, step: str | None = None) -> str:
    """The record id of an alert: one alert per kind, deadline (and step), ever."""
    return f"alert:{alert}:{deadline.isoformat()}" + (f":{step}" if step else "")


def alert_key(alert: str, deadline: date, step: str | None = None) -> str:
    """The alert's entry in an aggregate's applied records."""
    return ALERT_KEY_PREFIX + record_key(ALERTER_SOURCE, alert_id(alert, deadline, step))


# --- the aggregate base -----------------------------------------------------------------


class HallAggregate(Aggregate):
    """Base for hallwatch aggregates: record envelope and hash chain on every event."""

    STREAM: ClassVar[str] = "hall"

    if TYPE_CHECKING:
        chain_head: str
        applied_records: set[str]

    class Event(Aggregate.Event):
        """Common fields: the intake record that caused it, when it happened
        (``occurred_at``, the record's ``at``) and when the source entered it
        (``recorded_at``), and the hash chain (``prev_hash``, ``chain_hash``)."""

        record_id: str
        source: str
        occurred_at: datetime
        recorded_at: datetime
        prev_hash: str
        chain_hash: str

        key_prefix = ""  # alerts keep their identities apart from intake records' keys

        def mutate(self, aggregate: Any) -> Any:
            """Apply to the aggregate, then advance its version, chain head and applied set."""
            if aggregate is None:  # a created event builds the aggregate
                agg: Any = _create(self)
                d = agg.__dict__
            else:
                agg = aggregate
                d = agg.__dict__
                sid = d["_id"]
                if self.originator_id is not sid and self.originator_id != sid:
                    raise OriginatorIDError(self.originator_id, sid)
                if self.originator_version != d["_version"] + 1:
                    raise OriginatorVersionError(self.originator_version, d["_version"] + 1)
                self.apply(agg)
                d["_version"] = self.originator_version
                d["_modified_on"] = self.timestamp
            d["chain_head"] = self.chain_hash
            if self.record_id:
                applied = d.get("applied_records")
                if applied is None:
                    applied = d["applied_records"] = set()
                applied.add(f"{self.key_prefix}{self.source}\x1f{self.record_id}")  # record_key
            return agg

        #: ``case.accepted``: set on every event class by ``keep_topics``.
        NAME: ClassVar[str] = ""

        def next_status(self) -> str:
            """The status this event leaves its stream in (domain/lifecycle.py)."""
            return status_after(self.NAME, self.__dict__.get("stage"))

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _open(
        cls: type[A], event_class: type[Any], sid: UUID, ctx: RecordContext, **fields: Any
    ) -> A:
        """Start a stream with its created event."""
        fields["originator_topic"] = get_topic(cls)
        event = _build_event(event_class, sid, 1, GENESIS, ctx, fields)
        agg: A = event.mutate(None)
        agg.pending_events.append(event)
        return agg

    def _emit(self, event_class: type[Any], ctx: RecordContext, **fields: Any) -> None:
        """Seal the next event of the stream, apply it and keep it to be saved."""
        event = _build_event(event_class, self.id, self.version + 1, self.chain_head, ctx, fields)
        event.mutate(self)
        self.pending_events.append(event)

    def raise_alert(
        self,
        *,
        alert: str,
        deadline: date,
        detail: str,
        step: str | None,
        at: datetime,
        now: datetime,
        chain_key: ChainKey | None = None,
    ) -> bool:
        """Record an alert once (预警/超时): False when this one was already raised."""
        if alert_key(alert, deadline, step) in self.__dict__.get("applied_records", ()):
            return False
        ctx = RecordContext(
            alert_id(alert, deadline, step), ALERTER_SOURCE, "alert", at, now, now, chain_key
        )
        event_class = getattr(type(self), "AlertRaised", None)
        if event_class is None:
            raise TypeError(f"{type(self).__name__} has no alerts")
        self._emit(event_class, ctx, alert=alert, deadline=deadline, detail=detail, step=step)
        return True

    def has_applied(self, ctx: RecordContext) -> bool:
        """True when this very record was already applied (idempotency)."""
        return record_key(ctx.source, ctx.record_id) in self.__dict__.get("applied_records", ())

    @classmethod
    def event_type(cls, event: Any) -> str:
        """A stable, language-neutral event type: ``case.correction_requested``."""
        return event_name(cls.STREAM, type(event).__name__)


A = TypeVar("A", bound=HallAggregate)


class AlertRaisedEvent(HallAggregate.Event):
    """预警/超时: a deadline passed with no new event; raised by the alerter, once."""

    key_prefix = ALERT_KEY_PREFIX

    alert: str
    deadline: date
    detail: str
    step: str | None

    def apply(self, agg: Any) -> None:
        agg.alerts.append(
            {
                "alert": self.alert,
                "deadline": self.deadline,
                "step": self.step,
                "detail": self.detail,
                "at": self.occurred_at,
            }
        )


def keep_topics(cls: type[HallAggregate]) -> type[HallAggregate]:
    """Give an aggregate and its events their stored topics, ``domain.model:<Qualname>``,
    and each event its name (``case.accepted``)."""
    for c in (cls, *(v for v in vars(cls).values() if isinstance(v, type))):
        if c is cls or issubclass(c, HallAggregate.Event):
            topic = f"{TOPIC_MODULE}:{c.__qualname__}"
            setattr(c, "TOPIC", topic)  # noqa: B010 (a class attribute the library reads)
            register_topic(topic, c)
        if c is not cls and issubclass(c, HallAggregate.Event):
            c.NAME = event_name(cls.STREAM, c.__name__)
    return cls


# --- sealing events ---------------------------------------------------------------------

_CHAIN_BLANK = b'"chain_hash":""'

_COMMON = frozenset(
    {"originator_id", "originator_version", "timestamp", "record_id", "source", "occurred_at"}
    | {"recorded_at", "prev_hash", "chain_hash"}
)
"""Fields every hallwatch event has; ``_build_event`` fills them from the record context."""

_OWN: dict[type[Any], tuple[str, frozenset[str]]] = {}


def _own_fields(event_class: type[Any]) -> tuple[str, frozenset[str]]:
    """The event class's topic and the fields a command must give it (computed once)."""
    own = _OWN.get(event_class)
    if own is None:
        names = frozenset(f.name for f in dataclasses.fields(event_class))
        own = _OWN[event_class] = (get_topic(event_class), names - _COMMON)
    return own


_PLAIN_INIT: dict[type[Any], bool] = {}


def _plain_init(cls: type[Any]) -> bool:
    """True when the aggregate's ``__init__`` takes nothing (every hallwatch aggregate)."""
    plain = _PLAIN_INIT.get(cls)
    if plain is None:
        params = inspect.signature(cls.__init__).parameters
        plain = _PLAIN_INIT[cls] = list(params) == ["self"]  # so it cannot take an id either
    return plain


def _create(event: Any) -> Any:
    """The aggregate a created event starts, as ``CanInitAggregate.mutate`` builds it
    (which filters the event's fields against two signatures on every call)."""
    cls = resolve_topic(event.originator_topic)
    if not _plain_init(cls):
        return Aggregate.Created.mutate(event, None)
    agg = cls.__new__(cls)
    agg.__base_init__(event.originator_id, event.originator_version, event.timestamp)
    agg.__init__()
    event.apply(agg)
    return agg


def _build_event(
    event_class: type[Any],
    sid: UUID,
    version: int,
    prev: str,
    ctx: RecordContext,
    fields: dict[str, Any],
) -> Any:
    """A sealed event: its hash chained to ``prev``, its stored bytes ready."""
    topic, own = _own_fields(event_class)
    if fields.keys() != own:
        unknown = sorted(set(fields) - own)
        missing = sorted(own - set(fields))
        raise TypeError(f"{event_class.__qualname__}: unknown {unknown}, missing {missing}")
    state: dict[str, Any] = {
        "timestamp": ctx.stored_at or datetime.now(UTC),
        "record_id": ctx.record_id,
        "source": ctx.source,
        "occurred_at": ctx.at,
        "recorded_at": ctx.recorded_at,
        "prev_hash": prev,
        "chain_hash": "",
        **fields,
    }
    body = canonical_json(state)
    h = chain_hash(prev, topic, sid, version, body, ctx.chain_key)
    state["chain_hash"] = h
    state["originator_id"] = sid
    state["originator_version"] = version
    state[STORED_BYTES] = body.replace(_CHAIN_BLANK, b'"chain_hash":"' + h.encode() + b'"', 1)
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event
