"""Intake records, good and hostile, for the hostile-input suites (对抗性接入记录).

Why: hallwatch exists so that no hall system can hide late work or rewrite a case's
history, so no crafted record may stop intake, be applied when the contract
(docs/intake.md) says no, or make a good record in the same batch fail. This module
writes such a feed, deterministically, for ``hallwatch ingest`` and for the intake
topic alike.

Interface::

    samples = generate(seed=7, n_hostile=4000, n_good_cases=300)
    s.raw     # bytes: one JSON Lines line as sent, without its b"\\n" (may be invalid)
    s.expect  # "good" | "hostile" | "duplicate" | "tolerated"
    s.why     # which attack: "<family>:<target>:<variant>", e.g. "field:step_started.handler:list"
    s.key     # the stream aimed at ("case:<case_id>", "complaint:…", "order:…") or None
    s.hint    # regexes: a refusal's reason should match one (it names the field or cause)
    s.reason_ok(reason)
    write_jsonl(samples, path)

* ``good``: must be applied (full case lifecycles 办件全流程, complaints 投诉, supervision
  orders 督办, and the edge values the contract allows: integral floats such as
  ``"days": 2.0``, maximum lengths, CRLF line ends …);
* ``hostile``: must be refused with a reason;
* ``duplicate``: the same ``(source, record_id)`` with the same content as an earlier
  record: must be recognised as a duplicate;
* ``tolerated``: either applied or refused, never a crash (Rich markup, control
  characters, escape sequences, leap seconds: values the contract may store as long
  as every view escapes them).

Samples come in sending order: every hostile record follows the good records that
bring its target stream (a "victim") to the state where the unspoilt record would
apply, and sits in the same batches as good records. A victim never receives a good
record after its attack, so a wrongly applied attack cannot spoil good records.
All times are 2026 in +08:00; the same arguments always give the same bytes.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, ItemVersion, parse_catalogue, sample_catalogue_path

__all__ = [
    "DUPLICATE",
    "GOOD",
    "HOSTILE",
    "MAX_RECORD_BYTES",
    "TOLERATED",
    "Sample",
    "generate",
    "summary",
    "write_jsonl",
]

GOOD = "good"
HOSTILE = "hostile"
DUPLICATE = "duplicate"
TOLERATED = "tolerated"
EXPECTATIONS = (GOOD, HOSTILE, DUPLICATE, TOLERATED)

#: The record size limit of the intake contract: a longer line is refused unparsed.
MAX_RECORD_BYTES = 64 * 1024

TZ = timezone(timedelta(hours=8))
Record = dict[str, Any]
Timed = tuple[datetime, Record]


@dataclass(frozen=True)
class Sample:
    """One intake line as sent, with what hallwatch must make of it."""

    raw: bytes
    expect: str
    why: str
    key: str | None = None
    hint: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The attack family: ``field``, ``extra``, ``number``, ``time``, ``bytes`` …"""
        return self.why.split(":", 1)[0]

    @property
    def group(self) -> str:
        """``why`` without its target (``field:list``, ``time:year_9999``), for counting."""
        parts = self.why.split(":")
        return f"{parts[0]}:{parts[-1]}" if len(parts) > 2 else self.why

    def reason_ok(self, reason: str | None) -> bool:
        """True when a refusal's reason is there and names the field or cause."""
        if not reason or not reason.strip():
            return False
        return not self.hint or any(re.search(h, reason, re.IGNORECASE) for h in self.hint)


def write_jsonl(samples: Iterable[Sample], path: Path) -> int:
    """Write the samples as one JSON Lines file (a line per sample); returns the count."""
    n = 0
    with path.open("wb") as f:
        for s in samples:
            f.write(s.raw + b"\n")
            n += 1
    return n


def summary(samples: Sequence[Sample]) -> str:
    """Counts per family and expectation, as printed by the suites."""
    c = Counter((s.family, s.expect) for s in samples)
    fams = sorted({f for f, _ in c})
    lines = [f"{'family':<12}" + "".join(f"{e:>11}" for e in EXPECTATIONS)]
    for f in fams:
        lines.append(f"{f:<12}" + "".join(f"{c[(f, e)]:>11}" for e in EXPECTATIONS))
    tot = Counter(s.expect for s in samples)
    lines.append(f"{'total':<12}" + "".join(f"{tot[e]:>11}" for e in EXPECTATIONS))
    return "\n".join(lines)


# --- the contract's fields (docs/intake.md), by kind -------------------------------------

ID, NAME, TEXT, OPT, TIME = "identifier", "name", "text", "optional_text", "timestamp"
DAYS, LEVEL, COUNT, BOOL = "working_days", "level", "count", "bool"
ENUM, MATERIALS = "enum", "materials"
_MAX = {ID: 200, NAME: 200, TEXT: 10_000, OPT: 10_000}

_CHANNELS = ("web", "window", "kiosk", "app", "hotline")
_PROCEDURES = ("hearing", "tender", "auction", "testing", "quarantine", "appraisal")
_ENUMS: dict[str, tuple[str, ...]] = {
    "channel": _CHANNELS,
    "applicant_kind": ("person", "enterprise"),
    "decision": ("pass", "return", "deny"),
    "procedure": (*_PROCEDURES, "expert_review"),
    "outcome": ("approved", "denied", "transferred", "terminated", "withdrawn"),
    "method": ("window", "post", "electronic"),
}

ENVELOPE: dict[str, str] = {
    "record_id": ID,
    "kind": "kind",
    "at": TIME,
    "recorded_at": TIME,
    "source": NAME,
}

#: Every kind's own fields and their types; REQUIRED lists the mandatory ones.
FIELDS: dict[str, dict[str, str]] = {
    "submitted": {
        "case_id": ID,
        "item_code": ID,
        "channel": ENUM,
        "applicant_kind": ENUM,
        "applicant_name": NAME,
        "applicant_id": ID,
        "town": NAME,
        "bundle_id": ID,
    },
    "accepted": {"case_id": ID, "receipt_no": ID, "query_code": ID},
    "rejected": {"case_id": ID, "reason": OPT},
    "correction_requested": {"case_id": ID, "materials": MATERIALS},
    "correction_received": {"case_id": ID},
    "step_started": {"case_id": ID, "step": NAME, "handler": NAME},
    "step_completed": {
        "case_id": ID,
        "step": NAME,
        "handler": NAME,
        "decision": ENUM,
        "opinion": OPT,
    },
    "suspended": {"case_id": ID, "procedure": ENUM, "reason": TEXT, "expected_days": DAYS},
    "resumed": {"case_id": ID},
    "extended": {"case_id": ID, "days": DAYS, "reason": TEXT, "approved_by": NAME},
    "concluded": {"case_id": ID, "outcome": ENUM, "reason": OPT, "online": BOOL},
    "delivered": {"case_id": ID, "method": ENUM, "site_visits": COUNT},
    "rated": {"case_id": ID, "level": LEVEL, "comment": OPT},
    "rating_answered": {"case_id": ID, "reply": TEXT},
    "complaint_filed": {
        "complaint_id": ID,
        "case_id": ID,
        "department": NAME,
        "channel": ENUM,
        "content": TEXT,
    },
    "complaint_accepted": {"complaint_id": ID},
    "complaint_rejected": {"complaint_id": ID, "reason": OPT},
    "complaint_assigned": {"complaint_id": ID, "department": NAME},
    "complaint_replied": {"complaint_id": ID, "reply": TEXT},
    "complaint_closed": {"complaint_id": ID, "satisfied": BOOL},
    "supervision_ordered": {
        "order_id": ID,
        "case_id": ID,
        "department": NAME,
        "inspector": NAME,
        "due_days": DAYS,
        "note": TEXT,
    },
    "supervision_answered": {"order_id": ID, "reply": TEXT},
}
KINDS = tuple(FIELDS)
_OPTIONAL = {
    ("submitted", "bundle_id"),
    ("accepted", "query_code"),
    ("rejected", "reason"),
    ("step_completed", "opinion"),
    ("concluded", "reason"),
    ("rated", "comment"),
    ("complaint_filed", "case_id"),
    ("complaint_filed", "department"),
    ("complaint_rejected", "reason"),
    ("complaint_closed", "satisfied"),
    ("supervision_ordered", "case_id"),
    ("supervision_ordered", "department"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    k: tuple(f for f in fs if (k, f) not in _OPTIONAL) for k, fs in FIELDS.items()
}
#: Fields whose value must match something already stored (a stream, an item, a step).
_REFERENCES = {
    *((k, "case_id") for k in KINDS if k not in ("submitted",)),
    *((k, "complaint_id") for k in KINDS if k.startswith("complaint_") and k != "complaint_filed"),
    ("supervision_answered", "order_id"),
    ("submitted", "item_code"),
    ("step_started", "step"),
    ("step_completed", "step"),
}
_NUMBERS = {
    "days": (1, 3650),
    "expected_days": (1, 3650),
    "due_days": (1, 3650),
    "level": (1, 5),
    "site_visits": (0, 1000),
}


def _stream_of(kind: str) -> str:
    if kind.startswith("complaint_"):
        return "complaint"
    if kind.startswith("supervision_"):
        return "order"
    return "case"


_KEY_FIELD = {"case": "case_id", "complaint": "complaint_id", "order": "order_id"}

# --- reference data -------------------------------------------------------------------

_TOWNS = ("莞城街道", "南城街道", "东城街道", "石龙镇", "茶山镇", "虎门镇", "长安镇", "松山湖园区")
_SURNAMES = "陈李黄张梁刘叶林何罗钟郑谢邓蔡"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞"
_COMPANIES = ("华南电子科技有限公司", "鸿盛五金制品厂", "嘉诚餐饮管理有限公司", "粤兴物流有限公司")
_MATERIALS = ("营业执照副本", "法定代表人身份证明", "场所使用证明", "设备清单", "平面布局图")
_STEP_NAMES = ("审查", "现场核查", "决定", "制证", "审核", "登簿")
_DEPARTMENTS = ("市场监管局", "公安局", "人社局", "住建局", "卫健局", "教育局")
_HOLE = "@@HOLE@@"
_DAY = timedelta(days=1)


def _dumps(record: Any) -> bytes:
    return orjson.dumps(record)


def _splice(record: Record, field: str, token: bytes) -> bytes:
    """The record with ``field`` set to raw JSON ``token`` (what orjson would not write)."""
    raw = _dumps({**record, field: _HOLE})
    return raw.replace(b'"' + _HOLE.encode() + b'"', token, 1)


def _nested_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _iso(t: datetime) -> str:
    return t.isoformat()


# --- attacks --------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What an attack sees: the victim's good prefix and the record that would come next."""

    gen: _Gen
    setup: list[Timed]
    t: datetime
    target: Record

    def first(self, kind: str) -> Timed:
        return next(x for x in self.setup if x[1]["kind"] == kind)

    def last(self, kind: str | None = None) -> Timed:
        return next(x for x in reversed(self.setup) if kind is None or x[1]["kind"] == kind)

    def new(self, kind: str, t: datetime | None = None, **fields: Any) -> Record:
        """A fresh record (new record_id) on the target's stream and source."""
        stream = _stream_of(self.target["kind"])
        key = _KEY_FIELD[stream]
        own = {key: self.target[key]} if key in self.target else {}
        return self.gen.record(kind, t or self.t, self.target.get("source"), **own, **fields)


Make = Callable[[_Ctx], "Record | bytes"]


@dataclass(frozen=True)
class _Attack:
    cut: str  # the victim's lifecycle is cut before the first record of this kind ("END": none)
    why: str
    expect: str
    make: Make
    hint: tuple[str, ...] = ()
    opts: frozenset[str] = frozenset()
    variant: str = ""  # "case" / "department" for complaints and orders
    setup: bool = True  # False: the victim's good prefix is not sent (unknown streams)
    share: bool = True  # hostile attacks on one victim: several may share it
    big: bool = False  # megabytes: never repeated


def _retimed(record: Record, t: datetime) -> Record:
    out = {**record, "at": _iso(t)}
    if "recorded_at" in out:
        out["recorded_at"] = out["at"]
    return out


def _set(field: str, value: Any) -> Make:
    return lambda c: {**c.target, field: value}


def _edit(field: str, fn: Callable[[str], str]) -> Make:
    return lambda c: {**c.target, field: fn(str(c.target.get(field, "x")))}


def _drop(*fields: str) -> Make:
    return lambda c: {k: v for k, v in c.target.items() if k not in fields}


def _token(field: str, token: bytes) -> Make:
    return lambda c: _splice(c.target, field, token)


def _with(**extra: Any) -> Make:
    return lambda c: {**c.target, **extra}


def _hints(*words: str) -> tuple[str, ...]:
    return tuple(re.escape(w) for w in words)


def _field_hint(field: str) -> tuple[str, ...]:
    return (rf"(?<![a-z_]){re.escape(field)}(?![a-z_])",)


_NOT_STRING: tuple[tuple[str, Any], ...] = (
    ("list", ["x"]),
    ("dict", {"v": "x"}),
    ("int", 7),
    ("float", 1.5),
    ("bool", True),
    ("null", None),
    ("nested_list", [[["x"]]]),
)
_TOLERATED_STRINGS: tuple[tuple[str, str], ...] = (
    ("nul", "a\u0000b"),
    ("control_chars", "a\u0001\u0007\u007f\u009bb"),
    ("esc_csi", "\u001b[31mred\u001b[0m"),
    ("esc_osc8_link", "\u001b]8;;http://e.example\u0007x\u001b]8;;\u0007"),
    ("esc_clear_screen", "\u001b[2J\u001b[H"),
    ("markup_close", "[/]"),
    ("markup_close_x", "[/x]"),
    ("markup_red", "[red]x"),
    ("markup_link", "[link=http://e.example]x[/link]"),
    ("bidi_override", "\u202eevil"),
    ("zero_width_only", "\u200b"),
)
_BLANKS = (("empty", ""), ("blank", "   "), ("blank_ideographic", "\u3000\t"))


def _string_attacks(kind: str, field: str, typ: str) -> list[_Attack]:
    """Wrong types, blanks, lengths, surrogates, markup … for one string field of one kind."""
    out: list[_Attack] = []
    h = _field_hint(field)
    w = f"field:{kind}.{field}"
    ref = (kind, field) in _REFERENCES
    opts, variant = _victim_for(kind, field)
    limit = _MAX.get(typ, 200)

    def add(name: str, expect: str, make: Make, hint: tuple[str, ...] = h, **kw: Any) -> None:
        out.append(_Attack(kind, f"{w}:{name}", expect, make, hint, opts, variant, **kw))

    for name, value in _NOT_STRING:
        add(name, HOSTILE, _set(field, value))
    add("nested_list_300", HOSTILE, _token(field, _nested_list(300)))
    for name, value in _BLANKS:
        if typ == OPT:
            add(f"{name}_optional", GOOD, _set(field, value), (), share=False)
        else:
            add(name, HOSTILE, _set(field, value))
    add("too_long", HOSTILE, _set(field, "x" * (limit + 1)))
    add("lone_surrogate", HOSTILE, _token(field, b'"a\\ud800b"'), ())
    add("lone_low_surrogate", HOSTILE, _token(field, b'"\\udc00"'), ())
    if ref:
        add("unknown_markup", HOSTILE, _edit(field, lambda v: "[/x]" + v), ())
        add("unknown_nul", HOSTILE, _edit(field, lambda v: v + "\u0000"), ())
        add("unknown_value", HOSTILE, _edit(field, lambda v: "NO-SUCH-" + v), ())
        add("trailing_space", TOLERATED, _edit(field, lambda v: v + " "), (), share=False)
        add(
            "fullwidth_lookalike",
            HOSTILE,
            _edit(field, lambda v: _fullwidth(v) if _fullwidth(v) != v else v + "！"),
            (),
        )
        return out
    for name, value in _TOLERATED_STRINGS:
        add(name, TOLERATED, _set(field, value), (), share=False)
    # identifiers must stay unique (a record id or case id used twice is another attack)
    unique = typ == ID

    def filled(fill: str) -> Make:
        def make(c: _Ctx) -> Record:
            head = c.gen.new_id("U") if unique else ""
            return {**c.target, field: head + fill * (limit - len(head))}

        return make

    def escaped(c: _Ctx) -> bytes:
        tail = c.gen.new_id("U").encode() if unique else b""
        return _splice(c.target, field, b'"\\u738b\\u4e94\\/\\"q\\"' + tail + b'"')

    add("max_length", GOOD, filled("长"), (), share=False)
    add("max_length_astral", GOOD, filled("😀"), (), share=False)
    add("json_escapes", GOOD, escaped, (), share=False)
    if typ in (TEXT, OPT):
        add("newlines_tabs", GOOD, _set(field, "第一行\n第二行\t完\r\n"), (), share=False)
        add("line_separator", GOOD, _set(field, "甲\u2028乙\u2029丙"), (), share=False)
    return out


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _victim_for(kind: str, field: str) -> tuple[frozenset[str], str]:
    """Lifecycle options and variant for a victim on which ``kind`` with ``field`` applies."""
    variant = ""
    if kind in ("complaint_filed", "supervision_ordered"):
        variant = "case" if field == "case_id" else "department"
    return _CUT_OPTS.get(kind, frozenset()), variant


_CUT_OPTS: dict[str, frozenset[str]] = {
    "rejected": frozenset({"reject"}),
    "correction_requested": frozenset({"intake_correction"}),
    "correction_received": frozenset({"intake_correction"}),
    "suspended": frozenset({"suspend"}),
    "resumed": frozenset({"suspend"}),
    "extended": frozenset({"extend"}),
    "rating_answered": frozenset({"bad_rating"}),
    "complaint_rejected": frozenset({"reject"}),
}


def _enum_attacks(kind: str, field: str) -> list[_Attack]:
    opts, variant = _victim_for(kind, field)
    good = _ENUMS[field][0]
    h = _field_hint(field)
    lookalike = good.replace("e", "\u0435").replace("o", "\u043e").replace("a", "\u0430")
    variants: list[tuple[str, Any]] = [
        ("unknown", "nonsense"),
        ("upper", good.upper()),
        ("trailing_space", good + " "),
        ("empty", ""),
        ("cyrillic_lookalike", lookalike),
        ("list", [good]),
        ("int", 1),
        ("null", None),
        ("bool", True),
    ]
    return [
        _Attack(kind, f"field:{kind}.{field}:{n}", HOSTILE, _set(field, v), h, opts, variant)
        for n, v in variants
    ]


def _bool_attacks(kind: str, field: str) -> list[_Attack]:
    opts, _variant = _victim_for(kind, field)
    variants: list[tuple[str, Any]] = [
        ("string_true", "true"),
        ("int_one", 1),
        ("int_zero", 0),
        ("float_one", 1.0),
        ("null", None),
        ("list", [True]),
        ("string_yes", "是"),
    ]
    return [
        _Attack(
            kind, f"field:{kind}.{field}:{n}", HOSTILE, _set(field, v), _field_hint(field), opts
        )
        for n, v in variants
    ]


def _number_attacks(kind: str, field: str) -> list[_Attack]:
    """Integral floats are integers (JSON Schema): good; everything else out of contract."""
    opts, variant = _victim_for(kind, field)
    lo, hi = _NUMBERS[field]
    h = _field_hint(field)
    w = f"number:{kind}.{field}"
    ok = 2 if field != "level" else 4
    out = [
        _Attack(
            kind,
            f"{w}:integral_float",
            GOOD,
            _set(field, float(ok)),
            (),
            opts,
            variant,
            share=False,
        ),
        _Attack(
            kind,
            f"{w}:exponent",
            GOOD,
            _token(field, f"{ok}e0".encode()),
            (),
            opts,
            variant,
            share=False,
        ),
        _Attack(
            kind,
            f"{w}:exponent_upper",
            GOOD,
            _token(field, f"{ok}.0E0".encode()),
            (),
            opts,
            variant,
            share=False,
        ),
    ]
    if lo == 0:
        out.append(
            _Attack(kind, f"{w}:zero_float", GOOD, _set(field, 0.0), (), opts, variant, share=False)
        )
    hostile: list[tuple[str, Make, tuple[str, ...]]] = [
        ("non_integral", _set(field, ok + 0.5), h),
        # 1e-15 survives parsing next to 2 and 4 (4.0000000000000004 would read as 4.0)
        ("tiny_fraction", _token(field, f"{ok}.000000000000001".encode()), h),
        ("nan_token", _token(field, b"NaN"), ()),
        ("infinity_token", _token(field, b"Infinity"), ()),
        ("minus_infinity_token", _token(field, b"-Infinity"), ()),
        ("overflow_1e309", _token(field, b"1e309"), ()),
        ("overflow_minus_1e309", _token(field, b"-1e309"), ()),
        ("huge_int_2_70", _token(field, str(2**70).encode()), h),
        ("int_2_63", _token(field, str(2**63).encode()), h),
        ("int_2_64", _token(field, str(2**64).encode()), h),
        ("negative", _set(field, -1), h),
        ("above_maximum", _set(field, hi + 1), h),
        ("far_above_maximum", _set(field, 10**9), h),
        ("bool_true", _set(field, True), h),
        ("bool_false", _set(field, False), h),
        ("string", _set(field, str(ok)), h),
        ("empty_string", _set(field, ""), h),
        ("null", _set(field, None), h),
        ("list", _set(field, [ok]), h),
        ("dict", _set(field, {"value": ok}), h),
        ("plus_sign", _token(field, b"+2"), ()),
        ("leading_zero", _token(field, b"02"), ()),
        ("hex", _token(field, b"0x2"), ()),
    ]
    if lo >= 1:
        hostile += [
            ("zero", _set(field, 0), h),
            ("negative_zero_float", _set(field, -0.0), h),
            ("underflow_to_zero", _token(field, b"1e-400"), h),
        ]
    out += [_Attack(kind, f"{w}:{n}", HOSTILE, m, hh, opts, variant) for n, m, hh in hostile]
    return out


def _materials_attacks() -> list[_Attack]:
    kind, f = "correction_requested", "materials"
    opts = _CUT_OPTS[kind]
    h = _field_hint(f)
    hostile: list[tuple[str, Any]] = [
        ("empty_list", []),
        ("empty_item", [""]),
        ("blank_item", ["  "]),
        ("too_many", ["营业执照"] * 101),
        ("item_too_long", ["x" * 501]),
        ("int_item", [1]),
        ("null_item", [None]),
        ("nested_item", [["营业执照"]]),
        ("string", "营业执照"),
        ("dict", {"a": "营业执照"}),
        ("null", None),
    ]
    out = [_Attack(kind, f"field:{kind}.{f}:{n}", HOSTILE, _set(f, v), h, opts) for n, v in hostile]
    out.append(
        _Attack(
            kind,
            f"field:{kind}.{f}:lone_surrogate_item",
            HOSTILE,
            _token(f, b'["\\ud800"]'),
            (),
            opts,
        )
    )
    for n, v in (("markup_item", ["[/x]"]), ("esc_item", ["\u001b[31m红"])):
        out.append(
            _Attack(kind, f"field:{kind}.{f}:{n}", TOLERATED, _set(f, v), (), opts, share=False)
        )
    out.append(
        _Attack(
            kind,
            f"field:{kind}.{f}:max_items_max_length",
            GOOD,
            _set(f, ["m" * 500] * 100),
            (),
            opts,
            share=False,
        )
    )
    return out


def _time_attacks(kind: str, field: str) -> list[_Attack]:
    """Formats, ranges and offsets for ``at`` / ``recorded_at`` of one kind."""
    opts, variant = _victim_for(kind, "")
    h = _field_hint(field)
    w = f"time:{kind}.{field}"

    def text(fn: Callable[[str, str], str]) -> Make:
        # fn(day "2026-03-02", hh:mm:ss) -> the new value
        def make(c: _Ctx) -> Record:
            base = c.target["at"]
            out = {**c.target, field: fn(base[:10], base[11:19])}
            if field == "at" and "recorded_at" in c.target:
                out["recorded_at"] = c.target["recorded_at"]
            return out

        return make

    formats: list[tuple[str, Callable[[str, str], str]]] = [
        ("no_offset", lambda d, t: f"{d}T{t}"),
        ("date_only", lambda d, t: d),
        ("time_only", lambda d, t: t),
        ("space_separator", lambda d, t: f"{d} {t}+08:00"),
        ("offset_without_colon", lambda d, t: f"{d}T{t}+0800"),
        ("offset_plus_25", lambda d, t: f"{d}T{t}+25:00"),
        ("offset_plus_24", lambda d, t: f"{d}T{t}+24:00"),
        ("offset_minutes_60", lambda d, t: f"{d}T{t}+08:60"),
        ("month_13", lambda d, t: f"2026-13-01T{t}+08:00"),
        ("february_30", lambda d, t: f"2026-02-30T{t}+08:00"),
        ("hour_24", lambda d, t: f"{d}T24:00:00+08:00"),
        ("minute_60", lambda d, t: f"{d}T10:60:00+08:00"),
        ("fraction_10_digits", lambda d, t: f"{d}T{t}.1234567890+08:00"),
        ("fullwidth_digits", lambda d, t: _fullwidth(f"{d}T{t}") + "+08:00"),
        ("iso_week_date", lambda d, t: f"2026-W10-1T{t}+08:00"),
        ("basic_format", lambda d, t: f"{d.replace('-', '')}T{t.replace(':', '')}+0800"),
        ("epoch_string", lambda d, t: "1772413200"),
        ("trailing_junk", lambda d, t: f"{d}T{t}+08:00junk"),
        ("empty", lambda d, t: ""),
        ("blank", lambda d, t: "   "),
        ("year_0001", lambda d, t: f"0001-01-01T{t}+08:00"),
        ("year_0001_east_offset", lambda d, t: "0001-01-01T00:00:00+14:00"),
        ("year_1000", lambda d, t: f"1000{d[4:]}T{t}+08:00"),
        ("ordinal_date", lambda d, t: f"2026-061T{t}+08:00"),
        ("too_long", lambda d, t: f"{d}T{t}.{'1' * 50}+08:00"),
    ]
    out = [_Attack(kind, f"{w}:{n}", HOSTILE, text(fn), h, opts, variant) for n, fn in formats]
    for n, v in (
        ("int_epoch", 1772413200),
        ("null", None),
        ("list", ["2026-03-02T09:00:00+08:00"]),
        ("bool", True),
    ):
        out.append(_Attack(kind, f"{w}:{n}", HOSTILE, _set(field, v), h, opts, variant))
    tolerated: list[tuple[str, Callable[[str, str], str]]] = [
        ("leap_second", lambda d, t: f"{d}T23:59:60+08:00"),
        ("lowercase_t_z", lambda d, t: f"{d}t{t}z"),
        ("no_seconds", lambda d, t: f"{d}T{t[:5]}+08:00"),
    ]
    out += [
        _Attack(kind, f"{w}:{n}", TOLERATED, text(fn), (), opts, variant, share=False)
        for n, fn in tolerated
    ]
    # ranges: the year 9999 overflows date arithmetic and UTC conversion
    both: list[tuple[str, str]] = [
        ("year_9999", "9999-12-31T23:59:59+08:00"),
        ("year_9999_west_offset", "9999-12-31T23:59:59-12:00"),
        ("year_2999", "2999-03-02T09:00:00+08:00"),
        ("year_0001", "0001-01-01T00:00:00+08:00"),
    ]
    for n, stamp in both:
        out.append(
            _Attack(
                kind,
                f"time:{kind}.at+recorded_at:{n}",
                HOSTILE,
                _with(at=stamp, recorded_at=stamp),
                (),
                opts,
                variant,
            )
        )
    return out


def _time_relation_attacks(kind: str) -> list[_Attack]:
    """``at`` against ``recorded_at`` (and the receipt time when recorded_at is absent)."""
    opts, variant = _victim_for(kind, "")
    w = f"time:{kind}"

    def shifted(at_delta: timedelta, keep_recorded: bool = True) -> Make:
        def make(c: _Ctx) -> Record:
            out = {**c.target, "at": _iso(c.t + at_delta), "recorded_at": _iso(c.t)}
            if not keep_recorded:
                del out["recorded_at"]
            return out

        return make

    def recorded_later(days: int) -> Make:
        return lambda c: {**c.target, "at": _iso(c.t), "recorded_at": _iso(c.t + days * _DAY)}

    fut = _hints("future", "recorded_at", "ahead", "later than")
    return [
        _Attack(
            kind, f"{w}:at_2_days_after_recorded_at", HOSTILE, shifted(2 * _DAY), fut, opts, variant
        ),
        _Attack(
            kind,
            f"{w}:at_25_hours_after_recorded_at",
            HOSTILE,
            shifted(timedelta(hours=25)),
            fut,
            opts,
            variant,
        ),
        _Attack(
            kind,
            f"{w}:at_2099_no_recorded_at",
            HOSTILE,
            lambda c: {
                **{k: v for k, v in c.target.items() if k != "recorded_at"},
                "at": "2099-03-02T09:00:00+08:00",
            },
            (),
            opts,
            variant,
        ),
        _Attack(
            kind,
            f"{w}:recorded_at_year_0001",
            HOSTILE,
            _with(recorded_at="0001-01-01T09:00:00+08:00"),
            (),
            opts,
            variant,
        ),
        _Attack(
            kind,
            f"{w}:at_2_hours_after_recorded_at",
            GOOD,
            shifted(timedelta(hours=2)),
            (),
            opts,
            variant,
            share=False,
        ),
        _Attack(
            kind,
            f"{w}:recorded_30_days_later",
            GOOD,
            recorded_later(30),
            (),
            opts,
            variant,
            share=False,
        ),
        _Attack(
            kind,
            f"{w}:at_in_utc",
            GOOD,
            lambda c: _with_at(c.target, c.t.astimezone(UTC).isoformat().replace("+00:00", "Z")),
            (),
            opts,
            variant,
            share=False,
        ),
        _Attack(
            kind,
            f"{w}:at_minus_05_00_fraction",
            GOOD,
            lambda c: _with_at(
                c.target,
                c.t.astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="microseconds"),
            ),
            (),
            opts,
            variant,
            share=False,
        ),
    ]


def _with_at(record: Record, text: str) -> Record:
    out = {**record, "at": text}
    if "recorded_at" in out:
        out["recorded_at"] = text
    return out


def _kind_attacks(kind: str) -> list[_Attack]:
    opts, variant = _victim_for(kind, "")
    h = _field_hint("kind")
    variants: list[tuple[str, Any]] = [
        ("unknown", "submited"),
        ("upper", kind.upper()),
        ("trailing_space", kind + " "),
        ("empty", ""),
        ("null", None),
        ("list", [kind]),
        ("int", 1),
        ("internal_alert", "alert"),
        ("internal_catalogue", "catalogue"),
        ("event_class", "AlertRaised"),
        ("dunder", "__class__"),
        ("handler_name", "_on_submitted"),
        ("markup", "[/x]"),
    ]
    return [
        _Attack(kind, f"field:{kind}.kind:{n}", HOSTILE, _set("kind", v), h, opts, variant)
        for n, v in variants
    ]


def _missing_attacks(kind: str) -> list[_Attack]:
    out = []
    for f in ("record_id", "kind", "at", *REQUIRED[kind]):
        opts, variant = _victim_for(kind, f)
        out.append(
            _Attack(kind, f"missing:{kind}.{f}", HOSTILE, _drop(f), _field_hint(f), opts, variant)
        )
    if kind in ("complaint_filed", "supervision_ordered"):
        out.append(
            _Attack(
                kind,
                f"missing:{kind}.case_id+department",
                HOSTILE,
                _drop("case_id", "department"),
                ("case_id", "department"),
                _CUT_OPTS.get(kind, frozenset()),
                "department",
            )
        )
    return out


_OTHER_KIND_FIELD = {
    "accepted": ("step", "审查"),
    "submitted": ("receipt_no", "SL1"),
    "step_started": ("receipt_no", "SL1"),
}


def _extra_attacks(kind: str) -> list[_Attack]:
    """Unknown fields: refused whatever their type, depth or size (strict contract)."""
    opts, variant = _victim_for(kind, "")
    w = f"extra:{kind}"
    unknown = ("x_", "unknown", "additional", "not allowed", "not a field", "unexpected")
    nest = ("nest", "deep", "depth", "must be", *unknown)
    size = ("size", "bytes", "KiB", "too large", "too long", "limit", "65536")

    def add(name: str, make: Make, hint: Sequence[str], **kw: Any) -> _Attack:
        return _Attack(kind, f"{w}:{name}", HOSTILE, make, _hints(*hint), opts, variant, **kw)

    deep_field = "department" if kind == "step_started" else "x_deep"
    out = [
        add("string", _with(x_note="附加说明"), unknown),
        add("int", _with(x_count=1), unknown),
        add("null", _with(x_null=None), unknown),
        add("bool", _with(x_flag=False), unknown),
        add("list", _with(x_list=[1, "a", None]), unknown),
        add("dict", _with(x_obj={"a": {"b": 1}}), unknown),
        add("nested_list_3", _with(x_list=[[["x"]]]), unknown),
        add("nested_list_253", _token(deep_field, _nested_list(253)), nest),
        add("nested_list_254", _token(deep_field, _nested_list(254)), nest),
        add("nested_list_255", _token(deep_field, _nested_list(255)), nest),
        add("nested_list_1000", _token(deep_field, _nested_list(1000)), nest),
        add("nested_dict_300", _token("x_deep", b'{"a":' * 300 + b"1" + b"}" * 300), nest),
        add(
            "too_many_fields",
            lambda c: {**c.target, **{f"x_{i:03d}": i for i in range(101)}},
            unknown,
        ),
        add("empty_key", _with(**{"": 1}), unknown),
        add("proto_key", _with(__proto__={"polluted": True}), ("__proto__", *unknown)),
        add("dollar_key", _with(**{"$ref": "#/definitions/x"}), ("$ref", *unknown)),
        add("kind_upper_key", _with(KIND="submitted"), ("KIND", *unknown)),
        add("key_with_nul", _with(**{"record_id\u0000": "x"}), unknown),
        add("key_10000_chars", _with(**{"k" * 10_000: 1}), (*unknown, *size)),
        add("string_100k", _with(x_big="大" * 30_000), size),
        add("markup_key", _with(**{"[/x]": "[/]"}), unknown),
    ]
    other = _OTHER_KIND_FIELD.get(kind)
    if other is not None:
        out.append(
            add("field_of_another_kind", _with(**{other[0]: other[1]}), (other[0], *unknown))
        )
    if kind == "step_started":
        # a declared optional field of step_started (the department of a parallel approval)
        out.append(
            _Attack(
                kind,
                f"{w}:department_string",
                GOOD,
                _with(department="市场监管局"),
                (),
                opts,
                variant,
            )
        )
    if kind in ("submitted", "step_started"):
        out.append(
            add("list_4_8_mb", _token(deep_field, b"[" + b"0," * 2_400_000 + b"0]"), size, big=True)
        )
    if kind in ("submitted", "concluded"):
        out.append(add("string_1_mb", _with(x_big="x" * 1_000_000), size, big=True))
    return out


_RESERVED_HINT = _hints("reserved", "hallwatch", "alert")


def _reserved_attacks() -> list[_Attack]:
    """Intake records posing as hallwatch's own writers (alerter, dashboard …)."""
    out: list[_Attack] = []
    sources = (
        "hallwatch-alerter",
        "hallwatch",
        "hallwatch-dashboard",
        "hallwatch-anything",
        "Hallwatch-Alerter",
        "HALLWATCH-ALERTER",
    )
    kinds = ("step_started", "submitted", "concluded", "complaint_filed", "supervision_ordered")
    for kind in kinds:
        opts, variant = _victim_for(kind, "")
        for s in sources:
            out.append(
                _Attack(
                    kind,
                    f"reserved:{kind}:source_{s}",
                    HOSTILE,
                    _set("source", s),
                    _RESERVED_HINT,
                    opts,
                    variant,
                )
            )
        for rid in (
            "alert:case_overdue:2026-03-20",
            "alert:step_overdue:2026-03-20:审查",
            "alert:case_warning:2026-03-20",
            "alert:x",
        ):
            out.append(
                _Attack(
                    kind,
                    f"reserved:{kind}:record_id_{rid}",
                    HOSTILE,
                    _set("record_id", rid),
                    _RESERVED_HINT,
                    opts,
                    variant,
                )
            )

        def spoof(c: _Ctx) -> Record:
            due = c.gen.cal.add_working_days(c.t.date(), 5).isoformat()
            return {
                **c.target,
                "source": "hallwatch-alerter",
                "record_id": f"alert:case_overdue:{due}",
            }

        out.append(
            _Attack(
                kind, f"reserved:{kind}:alert_spoof", HOSTILE, spoof, _RESERVED_HINT, opts, variant
            )
        )
    return out


_ORDER_HINT = _hints("before", "earlier", "order", "precede", "after")


def _order_attacks() -> list[_Attack]:
    """Records that put a lifecycle out of time order (refused, never applied)."""

    def before(kind: str, delta: timedelta = timedelta(hours=1)) -> Make:
        return lambda c: _retimed(c.target, c.first(kind)[0] - delta)

    def just_before_last(kind: str, delta: timedelta = timedelta(hours=1)) -> Make:
        return lambda c: _retimed(c.target, c.last(kind)[0] - delta)

    def cross(fn: Callable[[_Ctx], datetime]) -> Make:
        return lambda c: _retimed(c.target, fn(c))

    sub = "submitted"
    S = frozenset
    items: list[tuple[str, str, Make, frozenset[str], str]] = [
        ("accepted", "accepted_before_submitted", before(sub, _DAY), S(), ""),
        ("rejected", "rejected_before_submitted", before(sub, _DAY), S({"reject"}), ""),
        (
            "correction_requested",
            "correction_before_submitted",
            before(sub, _DAY),
            S({"intake_correction"}),
            "",
        ),
        (
            "correction_received",
            "correction_received_before_requested",
            just_before_last("correction_requested"),
            S({"intake_correction"}),
            "",
        ),
        (
            "step_started",
            "step_started_before_accepted",
            just_before_last("accepted", timedelta(minutes=1)),
            S(),
            "",
        ),
        ("step_started", "step_started_before_submission", before(sub, 3 * _DAY), S(), ""),
        (
            "step_completed",
            "step_completed_before_started",
            just_before_last("step_started"),
            S(),
            "",
        ),
        ("concluded", "concluded_before_submitted", before(sub, _DAY), S(), ""),
        (
            "concluded",
            "concluded_before_last_step_completed",
            just_before_last("step_completed"),
            S(),
            "",
        ),
        ("concluded", "concluded_before_accepted", just_before_last("accepted"), S(), ""),
        ("delivered", "delivered_before_concluded", just_before_last("concluded", _DAY), S(), ""),
        ("rated", "rated_before_concluded", just_before_last("concluded"), S(), ""),
        (
            "rating_answered",
            "rating_answered_before_rated",
            just_before_last("rated"),
            S({"bad_rating"}),
            "",
        ),
        ("resumed", "resumed_before_suspended", just_before_last("suspended"), S({"suspend"}), ""),
        (
            "suspended",
            "suspended_before_accepted",
            just_before_last("accepted"),
            S({"suspend"}),
            "",
        ),
        ("extended", "extended_before_accepted", just_before_last("accepted"), S({"extend"}), ""),
        (
            "complaint_accepted",
            "complaint_accepted_before_filed",
            before("complaint_filed"),
            S(),
            "",
        ),
        (
            "complaint_assigned",
            "complaint_assigned_before_accepted",
            just_before_last("complaint_accepted"),
            S(),
            "",
        ),
        (
            "complaint_replied",
            "complaint_replied_before_accepted",
            just_before_last("complaint_accepted"),
            S(),
            "",
        ),
        (
            "complaint_closed",
            "complaint_closed_before_replied",
            just_before_last("complaint_replied"),
            S(),
            "",
        ),
        (
            "complaint_rejected",
            "complaint_rejected_before_filed",
            before("complaint_filed"),
            S({"reject"}),
            "",
        ),
        (
            "supervision_answered",
            "supervision_answered_before_ordered",
            before("supervision_ordered"),
            S(),
            "",
        ),
        (
            "complaint_filed",
            "complaint_about_case_before_its_submission",
            cross(lambda c: c.gen.anchor_submitted(c.target["case_id"]) - _DAY),
            S(),
            "case",
        ),
        (
            "supervision_ordered",
            "order_about_case_before_its_submission",
            cross(lambda c: c.gen.anchor_submitted(c.target["case_id"]) - _DAY),
            S(),
            "case",
        ),
    ]
    return [
        _Attack(
            cut,
            f"order:{cut.split('#')[0]}:{name}",
            HOSTILE,
            make,
            _ORDER_HINT,
            opts,
            variant,
            share=False,
        )
        for cut, name, make, opts, variant in items
    ]


def _lifecycle_attacks() -> list[_Attack]:
    """Unknown streams, items and steps; commands the state does not allow."""
    out: list[_Attack] = []
    unknown = _hints("unknown", "no submitted", "never", "not found", "no such")

    def fresh_key(c: _Ctx) -> Record:
        stream = _stream_of(c.target["kind"])
        key = _KEY_FIELD[stream]
        return {**c.target, key: c.gen.new_id("NOPE")}

    for kind in KINDS:
        if kind in ("submitted", "complaint_filed", "supervision_ordered"):
            continue
        out.append(
            _Attack(
                kind,
                f"lifecycle:{kind}:unknown_stream",
                HOSTILE,
                fresh_key,
                unknown,
                _CUT_OPTS.get(kind, frozenset()),
                setup=False,
            )
        )
    for kind in ("complaint_filed", "supervision_ordered"):
        out.append(
            _Attack(
                kind,
                f"lifecycle:{kind}:about_unknown_case",
                HOSTILE,
                lambda c: {**c.target, "case_id": c.gen.new_id("NOPE")},
                unknown,
                variant="case",
            )
        )
    item = _hints("item", "catalogue")
    out += [
        _Attack(
            "submitted",
            "lifecycle:submitted:unknown_item",
            HOSTILE,
            _set("item_code", "XX-999"),
            item,
        ),
        _Attack(
            "submitted",
            "lifecycle:submitted:item_lowercase",
            HOSTILE,
            lambda c: {**c.target, "item_code": c.target["item_code"].lower()},
            item,
        ),
        _Attack(
            "submitted",
            "lifecycle:submitted:item_with_space",
            TOLERATED,
            lambda c: {**c.target, "item_code": c.target["item_code"] + " "},
            (),
        ),
    ]

    def other_step(c: _Ctx) -> Record:
        own = set(c.gen.item_of(c.target["case_id"]).step_names)
        return {**c.target, "step": next(s for s in _STEP_NAMES if s not in own)}

    step = _hints("step")
    for kind in ("step_started", "step_completed"):
        out += [
            _Attack(
                kind, f"lifecycle:{kind}:unknown_step", HOSTILE, _set("step", "不存在的环节"), step
            ),
            _Attack(kind, f"lifecycle:{kind}:step_of_another_item", HOSTILE, other_step, step),
        ]
    S = frozenset
    receipt = _hints("receipt", "already")

    def new(kind: str, **fields: Any) -> Make:
        return lambda c: c.new(kind, **fields)

    def step_now(kind: str, **fields: Any) -> Make:
        return lambda c: c.new(
            kind, step=c.last("step_completed")[1]["step"], handler="王五", **fields
        )

    def current_step(kind: str, **fields: Any) -> Make:
        return lambda c: c.new(kind, step=c.target["step"], handler="王五", **fields)

    def same_step_again(c: _Ctx) -> Record:
        return c.new("step_started", step=c.last("step_started")[1]["step"], handler="王五")

    def extension_over(c: _Ctx) -> Record:
        limit = c.gen.item_of(c.target["case_id"]).extension_days
        return {**c.target, "days": limit + 1}

    def another_receipt(c: _Ctx) -> Record:
        return {**c.target, "receipt_no": c.gen.anchor_receipt()}

    submitted_again = lambda c: c.gen.submitted(c.target["case_id"], c.t, c.target.get("source"))  # noqa: E731
    susp = dict(procedure="testing", reason="检验检测", expected_days=3)
    items: list[tuple[str, str, Make, frozenset[str], tuple[str, ...]]] = [
        ("delivered", "step_started_after_conclusion", step_now("step_started"), S(), ()),
        (
            "delivered",
            "step_completed_after_conclusion",
            step_now("step_completed", decision="pass"),
            S(),
            (),
        ),
        (
            "delivered",
            "suspended_after_conclusion",
            new("suspended", **susp),
            S({"suspend_item"}),
            (),
        ),
        (
            "delivered",
            "extended_after_conclusion",
            new("extended", days=1, reason="复杂", approved_by="局长"),
            S({"extend_item"}),
            (),
        ),
        (
            "delivered",
            "correction_after_conclusion",
            new("correction_requested", materials=["补充材料"]),
            S(),
            (),
        ),
        (
            "delivered",
            "second_conclusion",
            new("concluded", outcome="denied", reason="重复", online=False),
            S(),
            (),
        ),
        (
            "delivered",
            "accepted_after_conclusion",
            new("accepted", receipt_no="SL-AGAIN-1"),
            S(),
            (),
        ),
        (
            "step_completed",
            "second_acceptance",
            lambda c: c.new("accepted", receipt_no=c.gen.new_id("SL")),
            S(),
            (),
        ),
        (
            "step_completed",
            "rejected_after_acceptance",
            new("rejected", reason="材料不全"),
            S(),
            (),
        ),
        ("accepted", "second_submission", submitted_again, S(), ("already", "submitted")),
        ("rated", "second_delivery", new("delivered", method="post", site_visits=0), S(), ()),
        ("rating_answered", "second_rating", new("rated", level=5), S({"bad_rating"}), ()),
        (
            "END",
            "rating_answered_twice",
            new("rating_answered", reply="再次答复"),
            S({"bad_rating"}),
            (),
        ),
        ("step_completed", "resumed_not_suspended", new("resumed"), S(), ()),
        ("resumed", "suspended_twice", new("suspended", **susp), S({"suspend"}), ()),
        (
            "step_completed",
            "suspended_item_not_suspendable",
            new("suspended", **susp),
            S({"no_suspend_item"}),
            (),
        ),
        (
            "concluded",
            "extended_twice",
            new("extended", days=1, reason="复杂", approved_by="局长"),
            S({"extend"}),
            (),
        ),
        (
            "extended",
            "extended_beyond_item_limit",
            extension_over,
            S({"extend"}),
            ("extension", "exceed", "days"),
        ),
        (
            "step_completed",
            "extended_item_without_extension",
            new("extended", days=1, reason="复杂", approved_by="局长"),
            S({"no_extend_item"}),
            (),
        ),
        (
            "accepted",
            "extended_before_acceptance",
            new("extended", days=1, reason="复杂", approved_by="局长"),
            S({"extend_item"}),
            (),
        ),
        (
            "step_completed",
            "correction_received_without_request",
            new("correction_received"),
            S(),
            (),
        ),
        (
            "step_started",
            "step_completed_not_started",
            current_step("step_completed", decision="pass"),
            S(),
            (),
        ),
        ("step_completed", "step_started_twice", same_step_again, S(), ()),
        (
            "accepted",
            "concluded_approved_never_accepted",
            new("concluded", outcome="approved", online=True),
            S(),
            (),
        ),
        (
            "step_completed",
            "delivered_not_concluded",
            new("delivered", method="post", site_visits=0),
            S(),
            (),
        ),
        ("step_completed", "rated_not_concluded", new("rated", level=5), S(), ()),
        (
            "END",
            "step_on_rejected_case",
            lambda c: c.new("step_started", step="审查", handler="王五"),
            S({"reject"}),
            (),
        ),
        (
            "END",
            "accepted_rejected_case",
            new("accepted", receipt_no="SL-REJ-1"),
            S({"reject"}),
            (),
        ),
        ("accepted", "receipt_of_another_case", another_receipt, S(), receipt),
        ("complaint_assigned", "complaint_accepted_twice", new("complaint_accepted"), S(), ()),
        (
            "complaint_accepted",
            "complaint_replied_before_acceptance",
            new("complaint_replied", reply="已处理"),
            S(),
            (),
        ),
        (
            "complaint_replied",
            "complaint_closed_before_reply",
            new("complaint_closed", satisfied=True),
            S(),
            (),
        ),
        (
            "complaint_assigned",
            "complaint_rejected_after_acceptance",
            new("complaint_rejected", reason="不属实"),
            S(),
            (),
        ),
        (
            "complaint_accepted",
            "complaint_filed_twice",
            lambda c: {
                **c.first("complaint_filed")[1],
                "record_id": c.gen.new_id("R"),
                "at": _iso(c.t),
                "recorded_at": _iso(c.t),
            },
            S(),
            ("already", "filed"),
        ),
        (
            "complaint_accepted",
            "complaint_assigned_before_acceptance",
            new("complaint_assigned", department="公安局"),
            S(),
            (),
        ),
        (
            "END",
            "complaint_replied_after_rejection",
            new("complaint_replied", reply="已处理"),
            S({"reject"}),
            (),
        ),
        ("END", "complaint_closed_twice", new("complaint_closed", satisfied=False), S(), ()),
        (
            "END",
            "supervision_answered_twice",
            new("supervision_answered", reply="再次反馈"),
            S({"answer"}),
            (),
        ),
        (
            "supervision_answered",
            "supervision_ordered_twice",
            lambda c: {
                **c.first("supervision_ordered")[1],
                "record_id": c.gen.new_id("R"),
                "at": _iso(c.t),
                "recorded_at": _iso(c.t),
            },
            S(),
            ("already", "issued"),
        ),
    ]
    for cut, name, make, opts, hint in items:
        out.append(
            _Attack(
                cut,
                f"lifecycle:{cut.split('#')[0]}:{name}",
                HOSTILE,
                make,
                _hints(*hint),
                opts,
                share=False,
            )
        )
    return out


def _good_variant_attacks() -> list[_Attack]:
    """Valid records at the contract's edges: every one must be applied."""
    S = frozenset

    def g(cut: str, name: str, make: Make, opts: frozenset[str] = S()) -> _Attack:
        return _Attack(cut, f"edge:{cut}:{name}", GOOD, make, (), opts, share=False)

    def keys_reversed(c: _Ctx) -> bytes:
        return _dumps(dict(reversed(list(c.target.items()))))

    def ascii_escaped(c: _Ctx) -> bytes:
        return json.dumps(c.target, ensure_ascii=True, separators=(", ", " : ")).encode()

    def second_correction(c: _Ctx) -> Record:
        return c.new("correction_requested", materials=["补充的平面布局图"])

    def denied_silently(c: _Ctx) -> Record:
        return {**{k: v for k, v in c.target.items() if k != "reason"}, "outcome": "denied"}

    def sized(total: int) -> Make:
        return lambda c: _sized_materials(c.target, total)

    return [
        g("submitted", "crlf_line_end", lambda c: _dumps(c.target) + b"\r"),
        g("submitted", "surrounding_whitespace", lambda c: b" \t" + _dumps(c.target) + b"  "),
        g("step_started", "keys_reversed", keys_reversed),
        g("step_completed", "ascii_escaped_spaced_json", ascii_escaped),
        g("submitted", "no_source", _drop("source")),
        g("submitted", "no_recorded_at", _drop("recorded_at")),
        g("submitted", "no_bundle_no_optional_fields", _drop("bundle_id")),
        g("accepted", "no_query_code", _drop("query_code")),
        g("rejected", "rejected_without_reason", _drop("reason"), S({"reject"})),
        g("rejected", "rejected_with_empty_reason", _set("reason", ""), S({"reject"})),
        g("concluded", "denied_without_reason", denied_silently),
        g(
            "complaint_rejected",
            "complaint_rejected_without_reason",
            _drop("reason"),
            S({"reject"}),
        ),
        g("complaint_closed", "closed_without_satisfied", _drop("satisfied")),
        g("accepted", "second_correction_at_intake", second_correction, S({"intake_correction"})),
        g(
            "correction_requested",
            "record_near_size_limit",
            sized(MAX_RECORD_BYTES - 600),
            S({"intake_correction"}),
        ),
        g(
            "submitted",
            "id_200_chars",
            lambda c: {
                **c.target,
                "case_id": c.target["case_id"] + "9" * (200 - len(c.target["case_id"])),
            },
        ),
    ]


def _size_attacks() -> list[_Attack]:
    S = frozenset
    size = _hints("size", "bytes", "KiB", "too large", "too long", "limit", "65536")
    ic = S({"intake_correction"})
    return [
        _Attack(
            "correction_requested",
            "bytes:correction_requested:over_size_limit_by_1",
            HOSTILE,
            lambda c: _sized_materials(c.target, MAX_RECORD_BYTES + 1),
            size,
            ic,
        ),
        _Attack(
            "correction_requested",
            "bytes:correction_requested:at_size_limit",
            TOLERATED,
            lambda c: _sized_materials(c.target, MAX_RECORD_BYTES),
            (),
            ic,
            share=False,
        ),
        _Attack(
            "correction_requested",
            "bytes:correction_requested:valid_fields_150_kb",
            HOSTILE,
            _set("materials", ["材" * 500] * 100),
            size,
            ic,
        ),
    ]


def _sized_materials(record: Record, total: int) -> bytes:
    """The record with a materials list making its JSON exactly ``total`` bytes long.

    Every item stays within the contract (at most 500 characters), so only the size
    limit can refuse it.
    """

    def item(content: int) -> str:  # ``content`` UTF-8 bytes in at most 500 characters
        cjk = max(0, -(-(content - 500) // 2))
        return "材" * cjk + "m" * (content - 3 * cjk)

    room = total - len(_dumps({**record, "materials": []}))
    items: list[str] = []
    while room > 2 * 1503:
        items.append(item(1500))
        room -= 1500 + (3 if len(items) > 1 else 2)
    cost = 3 if items else 2
    if room - cost <= 1500:
        items.append(item(room - cost))
    else:
        first = min(1500, room - cost - 3)
        items += [item(first), item(room - cost - first - 3)]
    out = _dumps({**record, "materials": items})
    assert len(out) == total, (len(out), total)
    return out


def _bytes_attacks() -> list[_Attack]:
    """Lines that are not valid UTF-8, not JSON, not one object (refused before the schema)."""
    out: list[_Attack] = []
    bad = {
        "ff": b"\xff",
        "fe": b"\xfe",
        "lone_continuation": b"\x80",
        "overlong_slash": b"\xc0\xaf",
        "encoded_surrogate": b"\xed\xa0\x80",
        "truncated_multibyte": b"\xe5\xbc",
        "five_byte": b"\xf8\x88\x80\x80\x80",
        "above_u10ffff": b"\xf4\x90\x80\x80",
        "gbk_name": "张三".encode("gbk"),
        "latin1": "café".encode("latin-1"),
    }
    for name, junk in bad.items():
        out.append(
            _Attack(
                "submitted", f"bytes:utf8:{name}", HOSTILE, _utf8_in_value(junk), ("UTF-8|utf8",)
            )
        )
    out.append(
        _Attack(
            "submitted",
            "bytes:utf8:in_key",
            HOSTILE,
            lambda c: _dumps(c.target).replace(b'"town"', b'"to\xffwn"', 1),
            ("UTF-8|utf8",),
        )
    )
    out.append(
        _Attack(
            "step_started",
            "bytes:utf8:between_tokens",
            HOSTILE,
            lambda c: b"{\xff" + _dumps(c.target)[1:],
            ("UTF-8|utf8",),
        )
    )
    js = ("JSON",)

    def cut(fraction: float) -> Make:
        return lambda c: _dumps(c.target)[: max(1, int(len(_dumps(c.target)) * fraction))]

    for name, frac in (
        ("first_byte", 0.0),
        ("third", 0.33),
        ("half", 0.5),
        ("last_byte_missing", 0.9999),
    ):
        out.append(_Attack("submitted", f"bytes:truncated:{name}", HOSTILE, cut(frac), js))
    out.append(
        _Attack(
            "submitted",
            "bytes:truncated:mid_escape",
            HOSTILE,
            lambda c: _splice(c.target, "town", b'"ab\\u00'),
            js,
        )
    )
    dup = _hints("duplicate", "twice", "repeated")

    def dup_key(key: str, value: Any) -> Make:
        return lambda c: _dumps(c.target)[:-1] + b"," + _dumps({key: value})[1:]

    out += [
        _Attack(
            "submitted",
            "bytes:duplicate_key:case_id_differs",
            HOSTILE,
            lambda c: dup_key("case_id", c.gen.new_id("DUP"))(c),
            dup,
        ),
        _Attack(
            "step_started",
            "bytes:duplicate_key:kind_differs",
            HOSTILE,
            dup_key("kind", "step_completed"),
            dup,
        ),
        _Attack(
            "step_started",
            "bytes:duplicate_key:same_value",
            HOSTILE,
            lambda c: dup_key("record_id", c.target["record_id"])(c),
            dup,
        ),
        _Attack(
            "delivered", "bytes:duplicate_key:site_visits", HOSTILE, dup_key("site_visits", 7), dup
        ),
        _Attack(
            "submitted",
            "bytes:duplicate_key:nested_in_extra",
            HOSTILE,
            lambda c: _dumps(c.target)[:-1] + b',"x":{"a":1,"a":2}}',
            dup,
        ),
    ]
    obj = ("object", "JSON", "required")
    shapes: list[tuple[str, Make]] = [
        ("array_of_record", lambda c: b"[" + _dumps(c.target) + b"]"),
        ("empty_array", lambda c: b"[]"),
        ("empty_object", lambda c: b"{}"),
        ("string", lambda c: b'"submitted"'),
        ("number", lambda c: b"42"),
        ("true", lambda c: b"true"),
        ("null", lambda c: b"null"),
        ("wrapped_record", lambda c: _dumps({"record": c.target})),
    ]
    out += [_Attack("submitted", f"bytes:not_an_object:{n}", HOSTILE, m, obj) for n, m in shapes]
    empty = ("empty", "blank", "JSON", "no record")
    out += [
        _Attack("submitted", "bytes:empty_line", HOSTILE, lambda c: b"", empty),
        _Attack("submitted", "bytes:whitespace_only", HOSTILE, lambda c: b" \t  ", empty),
        _Attack("submitted", "bytes:carriage_return_only", HOSTILE, lambda c: b"\r", empty),
        # a byte-order mark starts many files written on Windows: read as the start of the file
        _Attack("submitted", "bytes:bom", GOOD, lambda c: b"\xef\xbb\xbf" + _dumps(c.target), ()),
        _Attack(
            "submitted", "bytes:nul_after_object", HOSTILE, lambda c: _dumps(c.target) + b"\x00", js
        ),
        _Attack(
            "submitted",
            "bytes:raw_control_in_string",
            HOSTILE,
            lambda c: _splice(c.target, "town", b'"a\x01b"'),
            js,
        ),
        _Attack(
            "submitted",
            "bytes:raw_tab_in_string",
            HOSTILE,
            lambda c: _splice(c.target, "town", b'"a\tb"'),
            js,
        ),
        _Attack(
            "submitted",
            "bytes:two_objects",
            HOSTILE,
            lambda c: _dumps(c.target) + _dumps(c.target),
            js,
        ),
        _Attack(
            "submitted",
            "bytes:trailing_comma",
            HOSTILE,
            lambda c: _dumps(c.target)[:-1] + b",}",
            js,
        ),
        _Attack(
            "submitted",
            "bytes:single_quotes",
            HOSTILE,
            lambda c: _dumps(c.target).replace(b'"', b"'"),
            js,
        ),
        _Attack("submitted", "bytes:comment", HOSTILE, lambda c: b"/* x */" + _dumps(c.target), js),
        _Attack(
            "submitted", "bytes:python_literal", HOSTILE, lambda c: repr(c.target).encode(), js
        ),
    ]
    return out


def _utf8_in_value(junk: bytes) -> Make:
    return lambda c: _dumps({**c.target, "applicant_name": _HOLE}).replace(
        _HOLE.encode(), "张".encode() + junk + "三".encode(), 1
    )


def utf8_error_offset(raw: bytes) -> int | None:
    """The 0-based offset of the first byte that is not UTF-8, or None."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start
    return None


def _systematic() -> list[_Attack]:
    """Every attack once: per kind and field, plus the record-level and lifecycle ones."""
    out: list[_Attack] = []
    for kind in KINDS:
        for field, typ in {**ENVELOPE, **FIELDS[kind]}.items():
            if field == "kind":
                continue
            if field in ("at", "recorded_at"):
                continue
            if typ in (ID, NAME, TEXT, OPT):
                if field in ("record_id", "source") and kind not in _ENVELOPE_TOLERATED_KINDS:
                    out += [a for a in _string_attacks(kind, field, typ) if a.expect == HOSTILE]
                else:
                    out += _string_attacks(kind, field, typ)
            elif typ == ENUM:
                out += _enum_attacks(kind, field)
            elif typ == BOOL:
                out += _bool_attacks(kind, field)
            elif typ in (DAYS, LEVEL, COUNT):
                out += _number_attacks(kind, field)
        out += _kind_attacks(kind)
        out += _missing_attacks(kind)
        out += _extra_attacks(kind)
        for f in ("at", "recorded_at"):
            if kind in _TIME_KINDS or f == "at":
                out += [
                    a for a in _time_attacks(kind, f) if kind in _TIME_KINDS or a.expect == HOSTILE
                ][: None if kind in _TIME_KINDS else 6]
        if kind in _TIME_KINDS:
            out += _time_relation_attacks(kind)
    out += _materials_attacks()
    out += _reserved_attacks()
    out += _order_attacks()
    out += _lifecycle_attacks()
    out += _good_variant_attacks()
    out += _size_attacks()
    out += _bytes_attacks()
    return out


_ENVELOPE_TOLERATED_KINDS = frozenset(
    {"submitted", "step_started", "complaint_filed", "supervision_ordered", "rated"}
)
_TIME_KINDS = frozenset(
    {
        "submitted",
        "accepted",
        "step_completed",
        "concluded",
        "rated",
        "complaint_filed",
        "supervision_ordered",
        "supervision_answered",
    }
)


# --- the generator --------------------------------------------------------------------


class _Gen:
    """Builds lifecycles from the sample catalogue on the working-day calendar."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cat = Catalogue(parse_catalogue(sample_catalogue_path()).versions)
        self.cal = WorkCalendar.load()
        self.counter = itertools.count(1)
        self.prefix = f"H{seed % 10_000:04d}"
        self.items: dict[str, ItemVersion] = {}  # case_id -> item
        self.anchors: list[
            tuple[str, datetime, str, datetime]
        ] = []  # case, submitted, receipt, end
        self.anchor_times: dict[str, datetime] = {}
        self.codes = sorted({v.item_code for v in self.cat.all_versions()})
        self.first_day = date(2026, 1, 5)
        self.last_day = date(2026, 7, 31)
        self.pending_good: list[Timed] = []  # anchors made on demand, sent as good records

    # ids and envelopes

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self.prefix}{next(self.counter):07d}"

    def record(self, kind: str, t: datetime, source: str | None, **fields: Any) -> Record:
        r: Record = {"record_id": self.new_id("R"), "kind": kind, "at": _iso(t)}
        if self.rng.random() < 0.88:
            r["recorded_at"] = r["at"]
        if source is not None:
            r["source"] = source
        r.update(fields)
        return r

    def source(self) -> str | None:
        return self.rng.choice(("hall-dg", "hall-dg", "hall-sl", "window-7", None))

    # time

    def day_time(self, d: date) -> datetime:
        m = self.rng.randint(9 * 60, 16 * 60 + 30)
        return datetime(d.year, d.month, d.day, m // 60, m % 60, self.rng.randint(0, 59), tzinfo=TZ)

    def after(self, t: datetime, working_days: int) -> datetime:
        if working_days <= 0:
            return t + timedelta(minutes=self.rng.randint(3, 50), seconds=self.rng.randint(0, 59))
        return self.day_time(self.cal.add_working_days(t.date(), working_days))

    def start_day(self) -> date:
        span = (self.last_day - self.first_day).days
        d = self.first_day + timedelta(days=self.rng.randint(0, span))
        return self.cal.working_day_on_or_after(d)

    def pick_item(
        self, need: Callable[[ItemVersion], bool], on: date | None = None
    ) -> tuple[ItemVersion, datetime]:
        for _ in range(10_000):
            d = on or self.start_day()
            v = self.cat.version_on(self.rng.choice(self.codes), d)
            if v is None or not need(v):
                continue
            later = self.cat.version_on(v.item_code, d + timedelta(days=20))
            if later is None or later.key != v.key:
                continue  # a new version would take effect while the case is received
            return v, self.day_time(d)
        raise AssertionError("no catalogue item fits")

    def item_of(self, case_id: str) -> ItemVersion:
        return self.items[case_id]

    # people

    def person(self) -> str:
        return self.rng.choice(_SURNAMES) + "".join(
            self.rng.choices(_GIVEN, k=self.rng.randint(1, 2))
        )

    def person_id(self) -> str:
        r = self.rng.randint
        return f"4419{r(0, 99):02d}{r(1960, 2004)}{r(1, 12):02d}{r(1, 28):02d}{r(0, 9999):04d}"

    def submitted(self, case_id: str, t: datetime, source: str | None, **extra: Any) -> Record:
        item = self.items[case_id]
        enterprise = self.rng.random() < 0.4
        fields: Record = {
            "case_id": case_id,
            "item_code": item.item_code,
            "channel": self.rng.choice(_CHANNELS[:4]) if item.online_depth >= 2 else "window",
            "applicant_kind": "enterprise" if enterprise else "person",
            "applicant_name": self.rng.choice(_COMPANIES) if enterprise else self.person(),
            "applicant_id": f"91441900MA{self.rng.randint(10**7, 10**8 - 1)}X"
            if enterprise
            else self.person_id(),
            "town": self.rng.choice(_TOWNS),
        }
        fields.update(extra)
        return self.record("submitted", t, source, **fields)

    def materials(self) -> list[str]:
        return self.rng.sample(_MATERIALS, self.rng.randint(1, 3))

    # lifecycles

    def case_life(
        self,
        opts: frozenset[str],
        *,
        random_extras: bool = False,
        bundle: tuple[str, str] | None = None,
        start: datetime | None = None,
    ) -> list[Timed]:
        """A case from submission on, valid in every record; ``opts`` force its path."""
        rng = self.rng
        if random_extras:
            opts = opts | self._random_opts()

        def need(v: ItemVersion) -> bool:
            if ("suspend" in opts or "suspend_item" in opts) and not v.suspendable:
                return False
            if "no_suspend_item" in opts and v.suspendable:
                return False
            if ("extend" in opts or "extend_item" in opts) and v.extension_days == 0:
                return False
            if "no_extend_item" in opts and v.extension_days != 0:
                return False
            return not ("multistep" in opts and len(v.steps) < 2)

        item, t = self.pick_item(need, start.date() if start else None)
        if start is not None:
            t = start
        cid = self.new_id("C")
        self.items[cid] = item
        src = self.source()
        out: list[Timed] = []

        def emit(kind: str, when: datetime, **f: Any) -> None:
            out.append((when, self.record(kind, when, src, case_id=cid, **f)))

        extra = {"bundle_id": bundle[0]} if bundle else {}
        out.append((t, self.submitted(cid, t, src, **extra)))
        if "intake_correction" in opts:
            t = self.after(t, rng.randint(0, 1))
            emit("correction_requested", t, materials=self.materials())
            t = self.after(t, rng.randint(1, 3))
            emit("correction_received", t)
        if "reject" in opts:
            t = self.after(t, 1)
            reason = {} if rng.random() < 0.2 else {"reason": "申请材料不符合法定形式"}
            emit("rejected", t, **reason)
            if rng.random() < 0.5:
                t = self.after(t, 1)
                emit("rated", t, level=rng.randint(1, 5))
            return out
        if "withdraw_early" in opts:
            t = self.after(t, 1)
            emit("concluded", t, outcome="withdrawn", reason="申请人撤回", online=False)
            return out
        t = self.after(t, 1)
        receipt = bundle[1] if bundle else f"SL{cid}"
        code = {"query_code": f"{rng.randint(0, 999_999):06d}"} if rng.random() < 0.7 else {}
        emit("accepted", t, receipt_no=receipt, **code)
        steps = list(item.steps)
        n = len(steps)
        gap_corr = rng.randrange(n) if "correction" in opts else -1
        gap_susp = rng.randrange(n) if "suspend" in opts else -1
        gap_ext = rng.randrange(n) if "extend" in opts else -1
        ret = rng.randrange(n) if "return" in opts else -1
        stop = rng.randrange(n) if "withdraw" in opts else -1
        deny = n - 1 if "deny" in opts else -1
        handler = self.person()
        outcome = "approved"
        for i, st in enumerate(steps):
            if i == gap_corr:
                t = self.after(t, 0)
                emit("correction_requested", t, materials=self.materials())
                t = self.after(t, rng.randint(1, 3))
                emit("correction_received", t)
            if i == gap_susp:
                days = rng.randint(2, 5)
                t = self.after(t, 0)
                emit(
                    "suspended",
                    t,
                    procedure=rng.choice(_PROCEDURES),
                    reason="需检验检测",
                    expected_days=days,
                )
                t = self.after(t, rng.randint(1, days))
                emit("resumed", t)
            if i == gap_ext:
                t = self.after(t, 0)
                days = rng.randint(1, item.extension_days)
                emit("extended", t, days=days, reason="情况复杂", approved_by="分管副局长")
            if i == stop:
                outcome = "withdrawn"
                break
            t = self.after(t, 0)
            emit("step_started", t, step=st.name, handler=handler)
            if i == ret:
                t = self.after(t, rng.randint(0, 1))
                emit(
                    "step_completed",
                    t,
                    step=st.name,
                    handler=handler,
                    decision="return",
                    opinion="材料需补充说明",
                )
                t = self.after(t, rng.randint(0, 1))
                emit("step_started", t, step=st.name, handler=handler)
            t = self.after(t, rng.randint(0, min(st.days, 2)))
            decision = "deny" if i == deny else "pass"
            opinion = {"opinion": "同意"} if rng.random() < 0.5 else {}
            emit("step_completed", t, step=st.name, handler=handler, decision=decision, **opinion)
            if decision == "deny":
                outcome = "denied"
        if "open" in opts:
            return out
        t = self.after(t, 0)
        reason = {"reason": "不符合许可条件"} if outcome == "denied" else {}
        if outcome == "withdrawn":
            reason = {"reason": "申请人撤回"}
        emit("concluded", t, outcome=outcome, online=rng.random() < 0.6, **reason)
        if outcome == "approved" and ("deliver" in opts or "rate" in opts or "bad_rating" in opts):
            t = self.after(t, rng.randint(0, 2))
            emit("delivered", t, method=rng.choice(_ENUMS["method"]), site_visits=rng.randint(0, 2))
        if "rate" in opts or "bad_rating" in opts:
            t = self.after(t, rng.randint(0, 3))
            level = rng.randint(1, 2) if "bad_rating" in opts else rng.randint(3, 5)
            comment = (
                {"comment": rng.choice(("办事快", "态度好", "排队太久"))}
                if rng.random() < 0.4
                else {}
            )
            emit("rated", t, level=level, **comment)
            if level <= 2:
                t = self.after(t, rng.randint(1, 3))
                emit("rating_answered", t, reply="已约谈窗口人员并整改")
        return out

    def _random_opts(self) -> frozenset[str]:
        rng = self.rng
        o: set[str] = {"deliver", "rate"} if rng.random() < 0.85 else set()
        for name, p in (
            ("intake_correction", 0.1),
            ("correction", 0.1),
            ("suspend", 0.12),
            ("extend", 0.12),
            ("return", 0.1),
        ):
            if rng.random() < p:
                o.add(name)
        r = rng.random()
        if r < 0.04:
            o.add("reject")
        elif r < 0.07:
            o.add("withdraw_early")
        elif r < 0.11:
            o.add("withdraw")
        elif r < 0.17:
            o.add("deny")
        elif r < 0.23:
            o.add("open")
        if "deliver" in o and rng.random() < 0.15:
            o.add("bad_rating")
        item_ok = {"suspend", "extend"}
        return frozenset(o - item_ok) | frozenset(o & item_ok)

    def complaint_life(
        self, opts: frozenset[str], about: tuple[str, datetime, str] | None
    ) -> list[Timed]:
        """A complaint about a case (case_id, its time, department) or about a department."""
        rng = self.rng
        cid = self.new_id("TS")
        src = self.source()
        out: list[Timed] = []

        def emit(kind: str, when: datetime, **f: Any) -> None:
            out.append((when, self.record(kind, when, src, complaint_id=cid, **f)))

        if about is not None:
            t = self.after(about[1], rng.randint(1, 4))
            emit(
                "complaint_filed",
                t,
                case_id=about[0],
                channel=rng.choice(_CHANNELS),
                content="窗口办理超时，多次催办无果",
            )
        else:
            _, t = self.pick_item(lambda v: True)
            emit(
                "complaint_filed",
                t,
                department=rng.choice(_DEPARTMENTS),
                channel="hotline",
                content="电话无人接听",
            )
        if "reject" in opts:
            t = self.after(t, rng.randint(1, 3))
            emit("complaint_rejected", t, reason="不属于受理范围")
            return out
        t = self.after(t, rng.randint(1, 3))
        emit("complaint_accepted", t)
        t = self.after(t, rng.randint(0, 2))
        emit("complaint_assigned", t, department=rng.choice(_DEPARTMENTS))
        if "open" in opts:
            return out
        t = self.after(t, rng.randint(1, 8))
        emit("complaint_replied", t, reply="经核查，已督促整改并向投诉人反馈")
        t = self.after(t, rng.randint(1, 3))
        sat = {"satisfied": rng.random() < 0.7} if rng.random() < 0.8 else {}
        emit("complaint_closed", t, **sat)
        return out

    def order_life(
        self, opts: frozenset[str], about: tuple[str, datetime, str] | None
    ) -> list[Timed]:
        rng = self.rng
        oid = self.new_id("DB")
        src = self.source()
        due = rng.randint(3, 10)
        fields: Record = {
            "inspector": self.person(),
            "due_days": due,
            "note": "请说明超时原因并限期整改",
        }
        if about is not None:
            t = self.after(about[1], rng.randint(1, 6))
            fields["case_id"] = about[0]
        else:
            _, t = self.pick_item(lambda v: True)
            fields["department"] = rng.choice(_DEPARTMENTS)
        out: list[Timed] = [(t, self.record("supervision_ordered", t, src, order_id=oid, **fields))]
        if "answer" in opts or ("open" not in opts and rng.random() < 0.8):
            t = self.after(t, rng.randint(1, due + 2))
            out.append(
                (t, self.record("supervision_answered", t, src, order_id=oid, reply="已整改完毕"))
            )
        return out

    # anchors: finished good cases that complaints and orders of victims point at

    def anchor(self) -> tuple[str, datetime, str, datetime]:
        if len(self.anchors) < 24 or self.rng.random() < 0.02:
            life = self.case_life(frozenset({"deliver", "rate"}))
            self.pending_good.extend(life)
            cid = life[0][1]["case_id"]
            receipt = next(r["receipt_no"] for _, r in life if r["kind"] == "accepted")
            a = (cid, life[0][0], receipt, life[-1][0])
            self.anchors.append(a)
            self.anchor_times[cid] = life[0][0]
            return a
        return self.rng.choice(self.anchors)

    def anchor_submitted(self, case_id: str) -> datetime:
        return self.anchor_times[case_id]

    def anchor_receipt(self) -> str:
        return self.anchor()[2]

    def victim(self, a: _Attack) -> tuple[list[Timed], datetime, Record]:
        """A good prefix and the record that would come next, for the attack's cut."""
        cut, nth = ([*a.cut.split("#"), "1"])[:2]
        opts = a.opts | frozenset({"deliver", "rate"})
        if cut.startswith("complaint_"):
            about = self._about(a.variant)
            life = self.complaint_life(opts, about)
        elif cut.startswith("supervision_"):
            about = self._about(a.variant)
            life = self.order_life(opts | {"answer"}, about)
        else:
            life = self.case_life(opts)
        if cut == "END":
            return life, life[-1][0] + timedelta(minutes=30), life[-1][1]
        idx = [i for i, (_, r) in enumerate(life) if r["kind"] == cut]
        if len(idx) < int(nth):
            raise AssertionError(f"victim for {a.why}: no {a.cut} in its lifecycle")
        i = idx[int(nth) - 1]
        return life[:i], life[i][0], dict(life[i][1])

    def _about(self, variant: str) -> tuple[str, datetime, str] | None:
        if variant != "case":
            return None
        cid, _, _, end = self.anchor()
        return (cid, end, "")


def generate(seed: int = 7, n_hostile: int = 0, n_good_cases: int = 300) -> list[Sample]:
    """The feed: ``n_good_cases`` full case lifecycles (plus complaints and orders about
    them) and at least ``n_hostile`` attack records, interleaved in sending order.

    Every attack of the systematic set is included once (about 3,500, each kind and
    field); a larger ``n_hostile`` repeats attacks on fresh victims, a smaller one takes
    an even share of every family. Victim prefixes and anchors add good records.
    """
    gen = _Gen(seed)
    rng = gen.rng
    entries: list[tuple[datetime, int, Sample]] = []
    seq = itertools.count()

    def put(order: datetime, sample: Sample) -> None:
        entries.append((order, next(seq), sample))

    def key_of(r: Any) -> str | None:
        if not isinstance(r, dict):
            return None
        kind = r.get("kind")
        stream = _stream_of(kind) if isinstance(kind, str) else "case"
        v = r.get(_KEY_FIELD[stream])
        return f"{stream}:{v}" if isinstance(v, str) else None

    def good(life: Iterable[Timed], why: str) -> None:
        for t, r in life:
            put(t, Sample(_dumps(r), GOOD, f"{why}:{r['kind']}", key_of(r)))

    # 1. the good feed: full cases (a few bundles), complaints and orders about them
    cases: list[list[Timed]] = []
    i = 0
    while i < n_good_cases:
        if rng.random() < 0.05 and i + 1 < n_good_cases:
            bundle = (gen.new_id("YJ"), gen.new_id("SLB"))
            first = gen.case_life(frozenset(), random_extras=True, bundle=bundle)
            second = gen.case_life(
                frozenset({"deliver", "rate"}),
                bundle=bundle,
                start=first[0][0] + timedelta(minutes=2),
            )
            cases += [first, second]
            i += 2
            continue
        cases.append(gen.case_life(frozenset(), random_extras=True))
        i += 1
    for life in cases:
        good(life, "good:case")
    for _ in range(max(1, n_good_cases // 4)):
        life = rng.choice(cases)
        about = (life[0][1]["case_id"], life[0][0], "") if rng.random() < 0.6 else None
        opts = (
            frozenset({"reject"})
            if rng.random() < 0.1
            else frozenset({"open"})
            if rng.random() < 0.1
            else frozenset()
        )
        good(gen.complaint_life(opts, about), "good:complaint")
    for _ in range(max(1, n_good_cases // 5)):
        life = rng.choice(cases)
        about = (life[0][1]["case_id"], life[0][0], "") if rng.random() < 0.6 else None
        good(gen.order_life(frozenset(), about), "good:order")
    pool = [(t, r) for t, r in _timed_pool(entries) if r is not None]

    # 2. the attacks
    attacks = _choose(_systematic(), n_hostile, rng)
    shared: dict[tuple[str, frozenset[str], str], tuple[list[Timed], datetime, Record, int]] = {}
    for a in attacks:
        share_key = (a.cut, a.opts, a.variant)
        if a.expect == HOSTILE and a.share and a.cut not in ("submitted", "END") and a.setup:
            got = shared.get(share_key)
            if got is None or got[3] >= 4:
                setup, t, target = gen.victim(a)
                good(setup, "victim")
                shared[share_key] = (setup, t, target, 1)
            else:
                setup, t, target, n = got
                shared[share_key] = (setup, t, target, n + 1)
        else:
            setup, t, target = gen.victim(a)
            if a.setup:
                good(setup, "victim")
        ctx = _Ctx(gen, setup, t, dict(target))
        made = a.make(ctx)
        raw = made if isinstance(made, bytes) else _dumps(made)
        hint = a.hint
        if a.why.startswith("bytes:utf8:"):
            off = utf8_error_offset(raw)
            hint = (rf"(?<!\d)({off}|{(off or 0) + 1})(?!\d)",)
        order = t + (
            timedelta(minutes=rng.randint(0, 2880)) if a.expect == HOSTILE else timedelta(0)
        )
        if a.why.endswith("receipt_of_another_case"):
            order += timedelta(days=3650)  # after the other case's acceptance, wherever it falls
        put(
            order,
            Sample(raw, a.expect, a.why, key_of(made if isinstance(made, dict) else target), hint),
        )
    good(gen.pending_good, "anchor")
    gen.pending_good = []

    # 3. idempotency: replays of good records, conflicts, one record id on two cases
    for order, sample in _idempotency(gen, pool, rng, max(40, n_hostile // 40)):
        put(order, sample)
    entries.sort(key=lambda e: (e[0], e[1]))
    samples = [e[2] for e in entries]
    return _replays_of_hostile(samples, rng)


def _timed_pool(
    entries: list[tuple[datetime, int, Sample]],
) -> Iterable[tuple[datetime, Record | None]]:
    for t, _, s in entries:
        try:
            r = orjson.loads(s.raw)
        except orjson.JSONDecodeError:
            continue
        yield t, r if isinstance(r, dict) and s.why.startswith("good:") else None


def _choose(attacks: list[_Attack], n: int, rng: random.Random) -> list[_Attack]:
    """All attacks when ``n`` is 0 or no larger; more repeat the small ones; fewer, a fair share."""
    if n <= 0 or n == len(attacks):
        return attacks
    if n > len(attacks):
        small = [a for a in attacks if not a.big]
        return attacks + [rng.choice(small) for _ in range(n - len(attacks))]
    by_family: dict[str, list[_Attack]] = {}
    for a in attacks:
        by_family.setdefault(a.why.split(":")[0] + ":" + a.expect, []).append(a)
    for v in by_family.values():
        rng.shuffle(v)
    out: list[_Attack] = []
    for row in itertools.zip_longest(*by_family.values()):
        out += [a for a in row if a is not None]
    return out[:n]


def _idempotency(
    gen: _Gen, pool: list[tuple[datetime, Record]], rng: random.Random, n: int
) -> list[tuple[datetime, Sample]]:
    """Replays (duplicates) and reuses of a record id with other content (conflicts)."""
    out: list[tuple[datetime, Sample]] = []
    by_kind: dict[str, list[tuple[datetime, Record]]] = {}
    for t, r in pool:
        by_kind.setdefault(r["kind"], []).append((t, r))
    conflict = _hints(
        "conflict", "digest", "different content", "already used", "reused", "other content"
    )

    def key(r: Record) -> str:
        stream = _stream_of(r["kind"])
        return f"{stream}:{r.get(_KEY_FIELD[stream])}"

    def later(t: datetime) -> datetime:
        return t + timedelta(minutes=rng.randint(1, 40_000))

    for kind in KINDS:  # one exact replay of every kind, then variants
        for t, r in by_kind.get(kind, [])[:2]:
            out.append(
                (later(t), Sample(_dumps(r), DUPLICATE, f"idempotency:{kind}:exact_replay", key(r)))
            )
    picks = [rng.choice(pool) for _ in range(n)]
    for j, (t, r) in enumerate(picks):
        kind = r["kind"]
        variant = j % 8
        k = key(r)
        if variant == 0:
            out.append(
                (
                    t + timedelta(microseconds=1),
                    Sample(_dumps(r), DUPLICATE, f"idempotency:{kind}:replay_same_batch", k),
                )
            )
        elif variant == 1:
            out.append(
                (
                    later(t),
                    Sample(
                        _dumps(dict(reversed(list(r.items())))),
                        DUPLICATE,
                        f"idempotency:{kind}:replay_keys_reordered",
                        k,
                    ),
                )
            )
        elif variant == 2:
            text = json.dumps(r, ensure_ascii=True, separators=(", ", ": ")).encode()
            out.append(
                (later(t), Sample(text, DUPLICATE, f"idempotency:{kind}:replay_reencoded", k))
            )
        elif variant == 3:
            out.append(
                (later(t), Sample(_dumps(r), DUPLICATE, f"idempotency:{kind}:replay_twice", k))
            )
            out.append(
                (
                    later(t) + timedelta(days=30),
                    Sample(_dumps(r), DUPLICATE, f"idempotency:{kind}:replay_twice", k),
                )
            )
        elif variant == 4:
            changed = _changed(r, rng)
            out.append(
                (
                    later(t),
                    Sample(
                        _dumps(changed),
                        HOSTILE,
                        f"idempotency:{kind}:conflict_other_content",
                        k,
                        conflict,
                    ),
                )
            )
        elif variant == 5:
            moved = {**r, "at": _iso(datetime.fromisoformat(r["at"]) + timedelta(seconds=1))}
            if "recorded_at" in moved:
                moved["recorded_at"] = moved["at"]
            out.append(
                (
                    later(t),
                    Sample(
                        _dumps(moved),
                        HOSTILE,
                        f"idempotency:{kind}:conflict_at_moved_1s",
                        k,
                        conflict,
                    ),
                )
            )
        elif variant == 6:
            # the same record id, same source, used for a brand-new case
            cid = gen.new_id("C")
            item, when = gen.pick_item(lambda v: True)
            gen.items[cid] = item
            sub = gen.submitted(cid, max(when, t + timedelta(hours=1)), r.get("source"))
            sub["record_id"] = r["record_id"]
            if "source" not in r:
                sub.pop("source", None)
            hint = (*conflict, "record_id", "another", "already")
            out.append(
                (
                    max(when, t + timedelta(hours=1)),
                    Sample(
                        _dumps(sub),
                        HOSTILE,
                        "idempotency:submitted:record_id_of_another_case",
                        f"case:{cid}",
                        _hints(*hint),
                    ),
                )
            )
        else:
            # the same record id from another source: a different record, and a good one
            cid = gen.new_id("C")
            item, when = gen.pick_item(lambda v: True)
            gen.items[cid] = item
            sub = gen.submitted(cid, when, f"hall-other-{j}")
            sub["record_id"] = r["record_id"]
            out.append(
                (
                    max(when, t),
                    Sample(
                        _dumps(sub),
                        GOOD,
                        "idempotency:submitted:same_record_id_other_source",
                        f"case:{cid}",
                    ),
                )
            )
    return out


def _changed(r: Record, rng: random.Random) -> Record:
    """The record with one content field changed (same record_id and source)."""
    own = [f for f in FIELDS[r["kind"]] if f in r and not f.endswith("_id")]
    if not own:
        return {**r, "at": _iso(datetime.fromisoformat(r["at"]) + timedelta(minutes=5))}
    f = rng.choice(own)
    v = r[f]
    if isinstance(v, bool):
        nv: Any = not v
    elif isinstance(v, int):
        nv = v + 1 if f != "level" or v < 5 else v - 1
    elif isinstance(v, list):
        nv = [*v, "另附材料"]
    elif f in _ENUMS:
        nv = next(x for x in _ENUMS[f] if x != v)
    else:
        nv = str(v) + "（改）"
    return {**r, f: nv}


def _replays_of_hostile(samples: list[Sample], rng: random.Random) -> list[Sample]:
    """A few refused records sent again later: refused again, never a duplicate."""
    hostile = [i for i, s in enumerate(samples) if s.expect == HOSTILE and len(s.raw) < 4096]
    picks = sorted(rng.sample(hostile, min(30, len(hostile))))
    out = list(samples)
    for i in reversed(picks):
        s = samples[i]
        j = rng.randint(i + 1, len(samples))
        out.insert(j, Sample(s.raw, HOSTILE, f"replay:{s.why}", s.key, s.hint))
    return out
