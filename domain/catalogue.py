"""Service catalogue (事项目录): parsing the CSV contract and an in-memory, versioned index.

The catalogue tells every case which item it is for, which department owns it, its
statutory (法定时限) and promised (承诺时限) limits and its approval steps (审批环节).
It changes over time, and a case keeps the item version in force when it was received,
so every row is an :class:`ItemVersion` keyed by ``(item_code, valid_from)``.

The CSV format is contract 1 in ``CONTRACTS.md``. A bad row is refused with its line
number and a reason naming the column and the bad value; the rest of the file still
loads. Only whole-file problems raise :class:`CatalogueError`. No database code here.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "CATALOGUE_COLUMNS",
    "CATEGORY_ZH",
    "Catalogue",
    "CatalogueError",
    "Category",
    "ItemVersion",
    "ParsedCatalogue",
    "RowRefusal",
    "Step",
    "format_steps",
    "load_catalogue",
    "parse_catalogue",
    "parse_catalogue_text",
    "parse_steps",
    "sample_catalogue_path",
]

#: The required header of the catalogue CSV, in contract order (CONTRACTS.md §1).
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "item_code",
    "item_name",
    "department",
    "category",
    "statutory_days",
    "promised_days",
    "steps",
    "online_depth",
    "fully_online",
    "suspendable",
    "extension_days",
    "valid_from",
)


class Category(StrEnum):
    """Item category (事项类别).

    - ``licence``: 行政许可 (administrative licence, Administrative Licensing Law applies)
    - ``other_approval``: 非行政许可审批 (other approval / registration)
    - ``public_service``: 公共服务
    - ``social_affairs``: 社会事务服务
    """

    LICENCE = "licence"
    OTHER_APPROVAL = "other_approval"
    PUBLIC_SERVICE = "public_service"
    SOCIAL_AFFAIRS = "social_affairs"

    @property
    def zh(self) -> str:
        """The Chinese name used on hall documents and the dashboard."""
        return CATEGORY_ZH[self]


#: Chinese names of the categories, for display and for hints on bad rows.
CATEGORY_ZH: dict[Category, str] = {
    Category.LICENCE: "行政许可",
    Category.OTHER_APPROVAL: "非行政许可审批",
    Category.PUBLIC_SERVICE: "公共服务",
    Category.SOCIAL_AFFAIRS: "社会事务服务",
}
_CATEGORY_BY_ZH: dict[str, Category] = {zh: c for c, zh in CATEGORY_ZH.items()}
_CATEGORY_VALUES: frozenset[str] = frozenset(c.value for c in Category)
_CATEGORY_LIST = ", ".join(c.value for c in Category)

ONLINE_DEPTHS: tuple[int, ...] = (1, 2, 3)
"""Online-service depth levels (网上办事深度)."""

_INT_RE = re.compile(r"-?[0-9]+")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class CatalogueError(ValueError):
    """A whole-file problem (unreadable, not UTF-8, no header, missing header columns).

    Row problems never raise: they become :class:`RowRefusal` entries instead.
    """


# ---------------------------------------------------------------------------
# value objects


def _text_problem(column: str, value: object) -> str | None:
    """Why a text field is unusable, or None: the CSV cannot carry these faithfully."""
    if not isinstance(value, str):
        return f"{column}: expected text, got {type(value).__name__} {value!r}"
    if not value.strip():
        return f"{column}: empty value"
    if value != value.strip():
        return f"{column}: surrounding whitespace in {value!r}"
    if _CONTROL_RE.search(value):
        return f"{column}: line break or control character in {value!r}"
    return None


def _is_int(value: object) -> bool:
    # bool is an int subclass; `True` days would be a silent bug.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Step:
    """One approval step (审批环节) after acceptance, e.g. 审查 review, with its working-day limit.

    The name may not contain ``:`` or ``;``: those delimit steps in the CSV cell.
    """

    name: str
    days: int

    def __post_init__(self) -> None:
        problems = _step_problems(self.name, self.days)
        if problems:
            raise ValueError("; ".join(problems))


def _step_problems(name: object, days: object) -> list[str]:
    problems: list[str] = []
    text = _text_problem("step name", name)
    if text is not None:
        problems.append(text)
    elif isinstance(name, str) and (":" in name or ";" in name):
        problems.append(f"step name: ':' or ';' in {name!r}")
    if not _is_int(days):
        problems.append(f"step {name!r}: days must be an integer, got {days!r}")
    elif isinstance(days, int) and days < 1:
        problems.append(f"step {name!r}: days must be >= 1, got {days}")
    return problems


def format_steps(steps: Iterable[Step]) -> str:
    """The CSV form of steps: ``审查:5;审核:3;决定:2``."""
    return ";".join(f"{s.name}:{s.days}" for s in steps)


def parse_steps(cell: str) -> tuple[Step, ...]:
    """Parse a ``steps`` cell; raise ValueError with a reason naming the ``steps`` column.

    Full-width ``：``/``；`` (common when typed in a Chinese IME) are refused with a hint
    rather than guessed at, so the file stays in the contract format for other readers.
    """
    cell = cell.strip()
    if not cell:
        raise ValueError("steps: empty value")
    if "：" in cell or "；" in cell:
        raise ValueError(f"steps: full-width '：' or '；' in {cell!r}; use ASCII ':' and ';'")
    steps: list[Step] = []
    seen: set[str] = set()
    for i, part in enumerate(cell.split(";"), start=1):
        name, sep, days_text = part.partition(":")
        name, days_text = name.strip(), days_text.strip()
        if not part.strip():
            raise ValueError(f"steps: empty step #{i} in {cell!r}")
        if not sep or ":" in days_text:
            raise ValueError(f"steps: step #{i} {part.strip()!r} is not 'name:working_days'")
        if not name:
            raise ValueError(f"steps: step #{i} {part.strip()!r} has an empty name")
        if not _INT_RE.fullmatch(days_text):
            raise ValueError(
                f"steps: step {name!r} days {days_text!r} is not an integer (in {cell!r})"
            )
        days = int(days_text)
        if days < 1:
            raise ValueError(f"steps: step {name!r} days must be >= 1, got {days} (in {cell!r})")
        if name in seen:
            raise ValueError(f"steps: step name {name!r} repeated (in {cell!r})")
        seen.add(name)
        try:
            steps.append(Step(name, days))
        except ValueError as exc:
            raise ValueError(f"steps: {exc} (in {cell!r})") from None
    return tuple(steps)


@dataclass(frozen=True)
class ItemVersion:
    """One version of a service item (事项), in force from ``valid_from``.

    Validated on construction, so a version built from a dict (``from_dict``) or in code
    obeys the same contract rules as one read from the CSV. ``category`` is stored as a
    :class:`Category` (a ``str``), whatever string form was given.
    """

    item_code: str  # 事项编码
    item_name: str  # 事项名称
    department: str  # 实施部门
    category: str  # 事项类别, a Category value
    statutory_days: int  # 法定时限, working days
    promised_days: int  # 承诺时限, working days, <= statutory
    steps: tuple[Step, ...]  # 审批环节 after acceptance, in order
    online_depth: int  # 网上办事深度 1/2/3
    fully_online: bool  # 全程网办
    suspendable: bool  # 特别程序 may suspend the clock (行政许可法 art. 45)
    extension_days: int  # 延期 allowed, working days; 0 = none (art. 42)
    valid_from: date  # first day this version is in force
    _step_index: dict[str, Step] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.steps, list):
            object.__setattr__(self, "steps", tuple(self.steps))
        problems = _version_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "_step_index", {s.name: s for s in self.steps})

    @property
    def key(self) -> tuple[str, date]:
        """The identity of a version: ``(item_code, valid_from)``."""
        return (self.item_code, self.valid_from)

    @property
    def step_names(self) -> tuple[str, ...]:
        """Step names in order, e.g. ``("审查", "审核", "决定")``."""
        return tuple(s.name for s in self.steps)

    @property
    def steps_days(self) -> int:
        """Sum of the step limits (never more than ``promised_days``)."""
        return sum(s.days for s in self.steps)

    @property
    def category_zh(self) -> str:
        """Chinese category name, e.g. 行政许可."""
        return Category(self.category).zh

    def step(self, name: str) -> Step | None:
        """The step called ``name``, or None when the item has no such step."""
        return self._step_index.get(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, keys in contract column order (for events and projections)."""
        return {
            "item_code": self.item_code,
            "item_name": self.item_name,
            "department": self.department,
            "category": str(Category(self.category).value),
            "statutory_days": self.statutory_days,
            "promised_days": self.promised_days,
            "steps": [[s.name, s.days] for s in self.steps],
            "online_depth": self.online_depth,
            "fully_online": self.fully_online,
            "suspendable": self.suspendable,
            "extension_days": self.extension_days,
            "valid_from": self.valid_from.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemVersion:
        """Inverse of :meth:`to_dict`. Unknown keys are ignored (fields may be added freely).

        ``steps`` may be ``[[name, days], ...]`` or ``[{"name": .., "days": ..}, ...]``;
        ``valid_from`` an ISO date string or a ``date``. Raises ValueError on bad data.
        """
        missing = [c for c in CATALOGUE_COLUMNS if c not in d]
        if missing:
            raise ValueError(f"item version: missing keys {', '.join(missing)}")
        raw_steps = d["steps"]
        if isinstance(raw_steps, str):
            steps = parse_steps(raw_steps)
        elif isinstance(raw_steps, Sequence):
            steps = tuple(_step_from_json(s) for s in raw_steps)
        else:
            raise ValueError(f"steps: expected a list, got {raw_steps!r}")
        raw_from = d["valid_from"]
        if isinstance(raw_from, str):
            valid_from = _parse_date("valid_from", raw_from)
        elif isinstance(raw_from, date) and not isinstance(raw_from, datetime):
            valid_from = raw_from
        else:
            raise ValueError(f"valid_from: expected an ISO date, got {raw_from!r}")
        return cls(
            item_code=d["item_code"],
            item_name=d["item_name"],
            department=d["department"],
            category=d["category"],
            statutory_days=d["statutory_days"],
            promised_days=d["promised_days"],
            steps=steps,
            online_depth=d["online_depth"],
            fully_online=d["fully_online"],
            suspendable=d["suspendable"],
            extension_days=d["extension_days"],
            valid_from=valid_from,
        )

    def to_csv_row(self) -> list[str]:
        """Cells in :data:`CATALOGUE_COLUMNS` order, as :func:`parse_catalogue` reads them."""
        return [
            self.item_code,
            self.item_name,
            self.department,
            str(Category(self.category).value),
            str(self.statutory_days),
            str(self.promised_days),
            format_steps(self.steps),
            str(self.online_depth),
            "true" if self.fully_online else "false",
            "true" if self.suspendable else "false",
            str(self.extension_days),
            self.valid_from.isoformat(),
        ]


def _step_from_json(s: object) -> Step:
    if isinstance(s, Step):
        return s
    if isinstance(s, Mapping):
        return Step(s.get("name"), s.get("days"))  # type: ignore[arg-type]  # checked in Step
    if isinstance(s, Sequence) and not isinstance(s, str) and len(s) == 2:
        return Step(s[0], s[1])
    raise ValueError(f"steps: each step must be [name, days], got {s!r}")


def _version_problems(v: ItemVersion) -> list[str]:
    """Every contract rule an item version breaks, each naming its column."""
    problems: list[str] = []
    for column in ("item_code", "item_name", "department"):
        text = _text_problem(column, getattr(v, column))
        if text is not None:
            problems.append(text)
    if not isinstance(v.category, str) or v.category not in _CATEGORY_VALUES:
        problems.append(_category_reason(v.category))
    ints_ok = True
    for column in ("statutory_days", "promised_days", "online_depth", "extension_days"):
        value = getattr(v, column)
        if not _is_int(value):
            problems.append(f"{column}: {value!r} is not an integer")
            ints_ok = False
    if ints_ok:
        if v.promised_days < 1:
            problems.append(f"promised_days: must be >= 1, got {v.promised_days}")
        if v.statutory_days < v.promised_days:
            problems.append(
                f"statutory_days: {v.statutory_days} is less than promised_days "
                f"{v.promised_days} (法定时限 must be >= 承诺时限)"
            )
        if v.online_depth not in ONLINE_DEPTHS:
            problems.append(f"online_depth: must be 1, 2 or 3, got {v.online_depth}")
        if v.extension_days < 0:
            problems.append(f"extension_days: must be >= 0, got {v.extension_days}")
    for column in ("fully_online", "suspendable"):
        value = getattr(v, column)
        if not isinstance(value, bool):
            problems.append(f"{column}: {value!r} is not true/false")
    if not isinstance(v.valid_from, date) or isinstance(v.valid_from, datetime):
        problems.append(f"valid_from: {v.valid_from!r} is not a date")
    problems.extend(_steps_problems(v.steps, v.promised_days if ints_ok else None))
    return problems


def _steps_problems(steps: object, promised_days: int | None) -> list[str]:
    if not isinstance(steps, tuple):
        return [f"steps: expected a tuple of Step, got {steps!r}"]
    if not steps:
        return ["steps: at least one step is required"]
    problems: list[str] = []
    if not all(isinstance(s, Step) for s in steps):
        return [f"steps: expected Step values, got {steps!r}"]
    names = [s.name for s in steps]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"steps: step name {', '.join(map(repr, repeated))} repeated")
    total = sum(s.days for s in steps)
    if promised_days is not None and total > promised_days:
        problems.append(
            f"steps: days add up to {total} ({format_steps(steps)!r}), "
            f"more than promised_days {promised_days}"
        )
    return problems


def _category_reason(value: object) -> str:
    hint = ""
    if isinstance(value, str) and value.strip() in _CATEGORY_BY_ZH:
        hint = f"; write {_CATEGORY_BY_ZH[value.strip()].value!r} for {value.strip()}"
    return f"category: {value!r} is not one of {_CATEGORY_LIST}{hint}"


# ---------------------------------------------------------------------------
# cell parsers: each raises ValueError with a reason naming the column and value


def _parse_int(column: str, cell: str, minimum: int) -> int:
    if not _INT_RE.fullmatch(cell):
        raise ValueError(f"{column}: {cell!r} is not an integer")
    value = int(cell)
    if value < minimum:
        raise ValueError(f"{column}: must be >= {minimum}, got {cell!r}")
    return value


def _parse_depth(cell: str) -> int:
    if not _INT_RE.fullmatch(cell) or int(cell) not in ONLINE_DEPTHS:
        raise ValueError(f"online_depth: must be 1, 2 or 3, got {cell!r}")
    return int(cell)


def _parse_bool(column: str, cell: str) -> bool:
    if cell == "true":
        return True
    if cell == "false":
        return False
    raise ValueError(f"{column}: {cell!r} is not 'true' or 'false'")


def _parse_date(column: str, cell: str) -> date:
    # date.fromisoformat also takes '20250101' and '2025-W01-1'; the contract says YYYY-MM-DD.
    if not _DATE_RE.fullmatch(cell):
        raise ValueError(f"{column}: {cell!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(cell)
    except ValueError:
        raise ValueError(f"{column}: {cell!r} is not a valid date") from None


def _parse_category(cell: str) -> Category:
    try:
        return Category(cell)
    except ValueError:
        raise ValueError(_category_reason(cell)) from None


# ---------------------------------------------------------------------------
# file parsing


@dataclass(frozen=True)
class RowRefusal:
    """A refused row: 1-based ``line`` where the row starts (header = line 1), why, raw text."""

    line: int
    reason: str
    raw: str


@dataclass(frozen=True)
class ParsedCatalogue:
    """What a catalogue file yielded: the accepted versions (file order) and the refused rows."""

    versions: tuple[ItemVersion, ...]
    refusals: tuple[RowRefusal, ...]

    @property
    def ok(self) -> bool:
        """True when no row was refused."""
        return not self.refusals


class _LineTap:
    """Feeds lines to csv.reader while remembering them, for line numbers and raw text."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.consumed = 0
        self.buffer: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed += 1
        self.buffer.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self.buffer).rstrip("\r\n")
        self.buffer.clear()
        return raw


def _read_source(source: Path | str | TextIO, name: str | None) -> tuple[str, str]:
    """Return (display name, decoded text) or raise CatalogueError."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise CatalogueError(f"{label}: cannot read catalogue file: {reason}") from exc
        try:
            return label, data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CatalogueError(
                f"{label}: not UTF-8 (bad byte 0x{data[exc.start]:02x} on line {line}); "
                "save the catalogue as UTF-8 (GBK/GB18030 exports must be converted)"
            ) from exc
    label = name or str(getattr(source, "name", "<stream>"))
    try:
        text = source.read()
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{label}: not UTF-8 ({exc.reason})") from exc
    except OSError as exc:
        raise CatalogueError(f"{label}: cannot read catalogue: {exc}") from exc
    if not isinstance(text, str):
        raise CatalogueError(f"{label}: expected a text stream, got {type(text).__name__}")
    return label, text.removeprefix("\ufeff")


def parse_catalogue(source: Path | str | TextIO, name: str | None = None) -> ParsedCatalogue:
    """Parse a catalogue CSV (contract 1): a ``Path`` or path string, or an open text stream.

    ``name`` labels the source in error messages (default: the path or stream name).
    Every bad row becomes a :class:`RowRefusal` and the other rows still load; fully blank
    lines are skipped. Extra columns are ignored. Raises :class:`CatalogueError` only for
    whole-file problems. To parse CSV held in a string, use :func:`parse_catalogue_text`.
    """
    label, text = _read_source(source, name)
    tap = _LineTap(io.StringIO(text, newline=""))
    reader = csv.reader(tap)
    try:
        header_row = next(reader)
    except StopIteration:
        raise CatalogueError(f"{label}: empty file, no header row") from None
    except csv.Error as exc:
        raise CatalogueError(f"{label}: unreadable header row: {exc}") from exc
    tap.take()
    header = [h.strip().removeprefix("\ufeff").strip() for h in header_row]
    missing = [c for c in CATALOGUE_COLUMNS if c not in header]
    if missing:
        raise CatalogueError(
            f"{label}: header is missing required column(s) {', '.join(missing)} "
            f"(expected {','.join(CATALOGUE_COLUMNS)})"
        )
    doubled = sorted({c for c in CATALOGUE_COLUMNS if header.count(c) > 1})
    if doubled:
        raise CatalogueError(f"{label}: header repeats column(s) {', '.join(doubled)}")
    index = {c: header.index(c) for c in CATALOGUE_COLUMNS}

    versions: list[ItemVersion] = []
    refusals: list[RowRefusal] = []
    first_line: dict[tuple[str, date], int] = {}
    while True:
        start = tap.consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            refusals.append(RowRefusal(start, f"malformed CSV: {exc}", tap.take()))
            continue
        raw = tap.take()
        if not any(cell.strip() for cell in row):
            continue
        try:
            version = _row_to_version(row, index, len(header))
        except ValueError as exc:
            refusals.append(RowRefusal(start, str(exc), raw))
            continue
        earlier = first_line.get(version.key)
        if earlier is not None:
            reason = (
                f"item_code {version.item_code!r} with valid_from "
                f"{version.valid_from.isoformat()} already defined on line {earlier}"
            )
            refusals.append(RowRefusal(start, reason, raw))
            continue
        first_line[version.key] = start
        versions.append(version)
    return ParsedCatalogue(tuple(versions), tuple(refusals))


def parse_catalogue_text(text: str, name: str = "<text>") -> ParsedCatalogue:
    """Parse catalogue CSV held in a string (a leading BOM is ignored)."""
    return parse_catalogue(io.StringIO(text, newline=""), name=name)


def _row_to_version(row: list[str], index: Mapping[str, int], width: int) -> ItemVersion:
    """Build an ItemVersion from one CSV row or raise ValueError listing every problem."""
    problems: list[str] = []
    if len(row) > width and any(cell.strip() for cell in row[width:]):
        problems.append(f"row has {len(row)} cells but the header has {width} (an unquoted comma?)")
    absent = [c for c, i in index.items() if i >= len(row)]
    if absent:
        problems.append(
            f"row has {len(row)} of {width} cells; missing column(s) {', '.join(absent)}"
        )
    cells: dict[str, str] = {}
    for column, i in index.items():
        if i >= len(row):
            continue
        cell = row[i].strip()
        if not cell:
            problems.append(f"{column}: empty value")
        elif _CONTROL_RE.search(cell):
            problems.append(f"{column}: line break or control character in {cell!r}")
        else:
            cells[column] = cell
    if problems:
        raise ValueError("; ".join(problems))

    values: dict[str, Any] = {}
    parsers: dict[str, Any] = {
        "category": _parse_category,
        "statutory_days": lambda c: _parse_int("statutory_days", c, 1),
        "promised_days": lambda c: _parse_int("promised_days", c, 1),
        "steps": parse_steps,
        "online_depth": _parse_depth,
        "fully_online": lambda c: _parse_bool("fully_online", c),
        "suspendable": lambda c: _parse_bool("suspendable", c),
        "extension_days": lambda c: _parse_int("extension_days", c, 0),
        "valid_from": lambda c: _parse_date("valid_from", c),
    }
    for column in CATALOGUE_COLUMNS:
        parse = parsers.get(column)
        try:
            values[column] = parse(cells[column]) if parse else cells[column]
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return ItemVersion(**values)  # cross-column rules are checked in __post_init__


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


def load_catalogue(source: Path | str | TextIO, name: str | None = None) -> Catalogue:
    """Parse a catalogue file and index it; raise CatalogueError if any row was refused.

    For callers that want all-or-nothing; use :func:`parse_catalogue` to keep good rows.
    """
    parsed = parse_catalogue(source, name)
    if parsed.refusals:
        label = name or str(getattr(source, "name", source))
        detail = "; ".join(f"line {r.line}: {r.reason}" for r in parsed.refusals[:5])
        more = len(parsed.refusals) - 5
        suffix = f"; and {more} more" if more > 0 else ""
        raise CatalogueError(f"{label}: {len(parsed.refusals)} row(s) refused: {detail}{suffix}")
    return Catalogue(parsed.versions)


def sample_catalogue_path() -> Path:
    """The sample catalogue shipped with the package (``domain/data/catalogue.csv``)."""
    return Path(__file__).resolve().parent / "data" / "catalogue.csv"
