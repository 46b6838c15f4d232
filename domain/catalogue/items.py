"""Service items (事项) and their versions: the value objects of the catalogue.

Each :class:`ItemVersion` is one row of the catalogue CSV (docs/contracts.md §1),
checked whole: a version that breaks a rule cannot be built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from domain.vocabulary import Category

#: The required header of the catalogue CSV, in contract order (docs/contracts.md §1).
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


#: Chinese names of the categories (domain/vocabulary.py), for hints on bad rows.
CATEGORY_ZH: dict[Category, str] = {c: c.zh for c in Category}
_CATEGORY_BY_ZH: dict[str, Category] = {zh: c for c, zh in CATEGORY_ZH.items()}
_CATEGORY_VALUES: frozenset[str] = frozenset(c.value for c in Category)
_CATEGORY_LIST = ", ".join(c.value for c in Category)

ONLINE_DEPTHS: tuple[int, ...] = (1, 2, 3)
"""Online-service depth levels (网上办事深度)."""

_INT_RE = re.compile(r"-?[0-9]+")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


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
    if CONTROL_RE.search(value):
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
            valid_from = parse_date_cell("valid_from", raw_from)
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


def parse_int_cell(column: str, cell: str, minimum: int) -> int:
    if not _INT_RE.fullmatch(cell):
        raise ValueError(f"{column}: {cell!r} is not an integer")
    value = int(cell)
    if value < minimum:
        raise ValueError(f"{column}: must be >= {minimum}, got {cell!r}")
    return value


def parse_depth_cell(cell: str) -> int:
    if not _INT_RE.fullmatch(cell) or int(cell) not in ONLINE_DEPTHS:
        raise ValueError(f"online_depth: must be 1, 2 or 3, got {cell!r}")
    return int(cell)


def parse_bool_cell(column: str, cell: str) -> bool:
    if cell == "true":
        return True
    if cell == "false":
        return False
    raise ValueError(f"{column}: {cell!r} is not 'true' or 'false'")


def parse_date_cell(column: str, cell: str) -> date:
    # date.fromisoformat also takes '20250101' and '2025-W01-1'; the contract says YYYY-MM-DD.
    if not _DATE_RE.fullmatch(cell):
        raise ValueError(f"{column}: {cell!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(cell)
    except ValueError:
        raise ValueError(f"{column}: {cell!r} is not a valid date") from None


def parse_category_cell(cell: str) -> Category:
    try:
        return Category(cell)
    except ValueError:
        raise ValueError(_category_reason(cell)) from None
