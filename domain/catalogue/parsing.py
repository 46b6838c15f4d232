"""Reading the catalogue CSV (docs/contracts.md §1): row by row, refusals kept.

A bad row is refused with its line number and a reason naming the column and
the bad value; the rest of the file still loads. Only whole-file problems raise
:class:`CatalogueError`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from domain.catalogue.index import Catalogue
from domain.catalogue.items import (
    CATALOGUE_COLUMNS,
    CONTROL_RE,
    CatalogueError,
    ItemVersion,
    parse_bool_cell,
    parse_category_cell,
    parse_date_cell,
    parse_depth_cell,
    parse_int_cell,
    parse_steps,
)

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
    header, index = _header(reader, tap, label)
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


def _header(
    reader: Iterator[list[str]], tap: _LineTap, label: str
) -> tuple[list[str], dict[str, int]]:
    """The header row and where each contract column is in it; CatalogueError when the
    header is missing, unreadable or lacks or repeats a column."""
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
    return header, {c: header.index(c) for c in CATALOGUE_COLUMNS}


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
        elif CONTROL_RE.search(cell):
            problems.append(f"{column}: line break or control character in {cell!r}")
        else:
            cells[column] = cell
    if problems:
        raise ValueError("; ".join(problems))

    values: dict[str, Any] = {}
    parsers: dict[str, Any] = {
        "category": parse_category_cell,
        "statutory_days": lambda c: parse_int_cell("statutory_days", c, 1),
        "promised_days": lambda c: parse_int_cell("promised_days", c, 1),
        "steps": parse_steps,
        "online_depth": parse_depth_cell,
        "fully_online": lambda c: parse_bool_cell("fully_online", c),
        "suspendable": lambda c: parse_bool_cell("suspendable", c),
        "extension_days": lambda c: parse_int_cell("extension_days", c, 0),
        "valid_from": lambda c: parse_date_cell("valid_from", c),
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
