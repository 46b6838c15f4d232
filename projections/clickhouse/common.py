"""The SQL both backends accept, the one way values become SQL, and what backends share.

The SQL that projectors and queries write must be accepted by both the newest
ClickHouse (chdb) and Debian's 18.16. On 18.16 there are no window functions,
DateTime64, Map/JSON types, ``{p:Type}`` parameters, ``WITH name AS (subquery)``
CTEs, ``true``/``false`` literals, ``FILTER (WHERE …)``, ``JSONExtract*``
(use ``visitParamExtract*``) or more than one JOIN per SELECT (nest aliased
subqueries instead); ``formatDateTime``'s ``%M`` means minutes there and the
month name in new versions (avoid it, or format in Python).

Every value reaching SQL goes through :func:`quote` (``ts`` and ``day`` are
spelled with it); table and column names through :func:`identifier`. Inserts go
through :meth:`ClickHouse.insert` only: an inline ``INSERT … VALUES (…)`` sent
through the native driver hangs against 18.16 (and with no data is silently
dropped), so ``execute`` refuses one on both backends.

Values: ``DateTime('Asia/Shanghai')`` for instants (naive datetimes are taken as
Asia/Shanghai; sub-second precision is dropped: use UInt64 epoch milliseconds
where it matters), ``Date`` for dates, ``UInt8`` for booleans, ``Nullable(T)``
for optional columns. Results come back as Python values: str, int, float,
``date``, ``datetime`` (aware, in the column's zone), ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.vocabulary import TIME_ZONE

#: The halls' zone (domain/vocabulary.py): naive datetimes are taken to be in it.
SHANGHAI = TIME_ZONE
SERVER_SCHEMES = ("clickhouse://", "clickhouses://")


class ClickHouseError(RuntimeError):
    """A statement, an insert or a connection failed; the message says which and why."""


#: One table's batch: (table, columns, rows).
Insert = tuple[str, Sequence[str], Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Inserts encoded by a backend's ``prepare_inserts``, for its ``insert_prepared``
    only (chdb: statements; a server: native inserts)."""

    statements: tuple[Any, ...]


class Reader(Protocol):
    """What the query layer needs: reading, whichever backend is behind it."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SELECT-like statement and return its rows."""
        ...

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        """Run one SELECT and return its rows as dicts keyed by column name."""
        ...


class ClickHouse(Protocol):
    """What projectors and queries use, whichever backend is behind it."""

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, INSERT … SELECT, OPTIMIZE…)."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (one tuple per row, in ``columns`` order) as one batch."""
        ...

    def insert_many(self, inserts: Sequence[Insert]) -> None:
        """Several ``insert`` calls (table, columns, rows) that readers should see together
        where the backend can publish them at once (chdb: one log segment)."""
        ...

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """``insert_many`` in two halves: this one checks and encodes the rows, touching
        no connection (a projector does it while the previous batch is written) …"""
        ...

    def insert_prepared(self, prepared: Prepared) -> None:
        """… and this one sends what ``prepare_inserts`` made."""
        ...

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SELECT-like statement and return its rows."""
        ...

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        """Like ``query``, one dict per row keyed by column name."""
        ...

    def server_version(self) -> tuple[int, ...]:
        """The ClickHouse version, e.g. (18, 16, 1) or (26, 9, 2, 1)."""
        ...

    def close(self) -> None:
        """Release the connection (and, for chdb, the write lease)."""
        ...


# --------------------------------------------------------------------------- literals

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_INLINE_INSERT = re.compile(
    r"INSERT\s+INTO\s+(?:TABLE\s+)?[^\s(]+\s*(?:\([^)]*\)\s*)?(?:SETTINGS\b.*?)?\b(?:VALUES|FORMAT)\b",
    re.I | re.S,
)
_STRING_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def quote(value: Any) -> str:
    """A SQL literal for ``value``, safe to splice into a statement where no
    server-side parameters exist (18.16 has none). Strings are escaped with
    backslashes as ClickHouse reads them; datetimes become
    ``toDateTime('…', 'Asia/Shanghai')`` (naive ones taken as Shanghai time)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"cannot quote {value!r}")
        return str(value)
    if isinstance(value, datetime):
        local = value.astimezone(SHANGHAI) if value.tzinfo else value
        return f"toDateTime('{local:%Y-%m-%d %H:%M:%S}', '{SHANGHAI.key}')"
    if isinstance(value, date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, str):
        return "'" + value.translate(_STRING_ESCAPES) + "'"
    raise TypeError(f"cannot quote a {type(value).__name__} as a ClickHouse literal")


#: No department, town, item, case or alert is named by more characters than this (intake
#: bounds names to 200): a longer filter value can match nothing and is never sent.
MAX_MATCH_CHARS = 1000


def equals(column: str, value: Any) -> str:
    """``column = <value>`` through ``quote``; a text longer than anything hallwatch stores
    matches nothing and stays out of the statement (past 18.16's 256 KiB query limit a
    long value would fail the query instead of finding nothing)."""
    if isinstance(value, str) and len(value) > MAX_MATCH_CHARS:
        return "0"
    return f"{column} = {quote(value)}"


def quote_all(values: Sequence[Any]) -> str:
    """``quote`` of each value, comma-separated: the operands of an ``IN (…)``."""
    return ", ".join(quote(v) for v in values)


def ts(when: datetime) -> str:
    """A DateTime literal both ClickHouse versions read the same way (a Unix time).
    A naive ``when`` has no defined instant: ValueError."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"when must be timezone-aware, got naive {when.isoformat()}")
    return f"toDateTime({quote(int(when.timestamp()))})"


def day(d: date) -> str:
    """A Date literal from its ISO text (what ``toDate`` reads on both versions)."""
    return f"toDate({quote(d.isoformat())})"


def identifier(name: str) -> str:
    """``name`` if it is a plain (optionally database-qualified) identifier; refuse anything else,
    since table and column names are spliced into SQL as they are."""
    if not _IDENT.match(name):
        raise ClickHouseError(f"not a plain identifier: {name!r}")
    return name


def statement(sql: str) -> str:
    """One statement without the trailing ``;``; refuse inline INSERT data (module doc)."""
    text = sql.strip().rstrip(";").rstrip()
    if not text:
        raise ClickHouseError("empty statement")
    m = _LEADING_COMMENTS.match(text)
    head = text[m.end() :] if m else text
    if _INLINE_INSERT.match(head):
        raise ClickHouseError(
            "inline INSERT … VALUES/FORMAT is not portable (the native driver hangs on it "
            "against ClickHouse 18.16): use insert(table, columns, rows)"
        )
    return text


# --------------------------------------------------------------------------- rows to insert


def naive_as_local(rows: Sequence[Sequence[Any]], width: int) -> Sequence[Sequence[Any]]:
    """Rows with every naive datetime given the Shanghai zone, so both backends read it the
    same way whatever the column's zone (columns are only rewritten where one is found)."""
    fix = []
    for i in range(width):
        first = next((r[i] for r in rows if r[i] is not None), None)
        if isinstance(first, datetime) and any(
            isinstance(r[i], datetime) and r[i].tzinfo is None for r in rows
        ):
            fix.append(i)
    if not fix:
        return rows
    out = [list(r) for r in rows]
    for r in out:
        for i in fix:
            v = r[i]
            if isinstance(v, datetime) and v.tzinfo is None:
                r[i] = v.replace(tzinfo=SHANGHAI)
    return out


def check_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The insert's column names, checked; every row must have one value per column."""
    cols = [identifier(c) for c in columns]
    if not cols:
        raise ClickHouseError("insert needs at least one column")
    width = len(cols)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ClickHouseError(f"row {i} has {len(row)} values for {width} columns")
    return cols


def version_tuple(text: str) -> tuple[int, ...]:
    """``'18.16.1'`` -> (18, 16, 1)."""
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


class BackendBase:
    """What both backends derive from their own ``_select`` (column names, rows),
    ``prepare_inserts`` and ``insert_prepared``."""

    def _select(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        raise NotImplementedError

    def insert_prepared(self, prepared: Prepared) -> None:
        raise NotImplementedError

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.insert_many([(table, columns, rows)])

    def insert_many(self, inserts: Sequence[Insert]) -> None:
        self.insert_prepared(self.prepare_inserts(inserts))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._select(sql)[1]

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        names, rows = self._select(sql)
        return [dict(zip(names, r, strict=True)) for r in rows]
