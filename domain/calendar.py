"""Working-day calendar (工作日) for China's government service halls.

Statutory time limits (法定时限) and promised limits (承诺时限) count *working
days*: weekends and statutory holidays are excluded, and make-up working days
(调休: a Saturday or Sunday made a working day by State Council notice) are
included.  The schedule comes from the ``holidays`` package (``holidays.China``
and its ``weekend_workdays``) plus an administrator's override file, because
the next year's schedule is published each November/December, before the
package knows it.  An override always wins over the package.

Speed matters: the rules run several times per stored event.  For each year,
on first use, the calendar computes a sorted list of the ordinals of its
working days; counting and adding working days is then a ``bisect`` in that
list (a loop over *years* only when a span crosses a year boundary), never a
loop over days.
"""

from __future__ import annotations

import csv
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType

from holidays import country_holidays
from holidays.countries.china import China

__all__ = [
    "OVERRIDE_HEADER",
    "CalendarOverrideError",
    "WorkCalendar",
    "default_override_path",
    "read_overrides",
]

#: The header every override file must carry, in this order.
OVERRIDE_HEADER: tuple[str, str, str] = ("date", "kind", "note")

#: ``kind`` values of the override file and what they mean for ``is_working_day``.
_KINDS: Mapping[str, bool] = MappingProxyType({"holiday": False, "workday": True})

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# First and last year of the ``holidays`` China data; other years fall back to
# "Monday to Friday" (weekends only).
_PKG_FIRST_YEAR: int = China.start_year
_PKG_LAST_YEAR: int = China.end_year

# Serialises calls into the ``holidays`` package (lazy module loading, lunar
# calendar tables); taken only when a year is first needed.
_PACKAGE_LOCK = threading.Lock()


class CalendarOverrideError(ValueError):
    """A calendar override file cannot be used.

    The message names the file, the line number (when there is one) and the
    reason, so that an administrator can fix the file without reading code.
    """

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        super().__init__(f"calendar override file {where}: {reason}")


def default_override_path() -> Path:
    """The override file shipped with the package (``domain/data/calendar_overrides.csv``)."""
    return Path(__file__).resolve().parent / "data" / "calendar_overrides.csv"


# --------------------------------------------------------------------------- #
# Override file
# --------------------------------------------------------------------------- #


def _content_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line that is not blank or a comment."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CalendarOverrideError(path, None, "file not found") from None
    except IsADirectoryError:
        raise CalendarOverrideError(path, None, "is a directory, not a CSV file") from None
    except OSError as exc:
        raise CalendarOverrideError(path, None, f"cannot be read ({exc.strerror})") from None
    if raw.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark written by some editors
        raw = raw[3:]
    for number, raw_line in enumerate(raw.splitlines(), start=1):
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            raise CalendarOverrideError(path, number, "not valid UTF-8") from None
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield number, text


def _fields(text: str) -> list[str]:
    return [field.strip() for field in next(csv.reader([text]), [])]


def read_overrides(path: Path) -> dict[date, bool]:
    """Read an override file into ``{date: True (working day) / False (holiday)}``.

    Format: CSV, UTF-8, header ``date,kind,note``; blank lines and lines
    starting with ``#`` are ignored; ``date`` is ``YYYY-MM-DD``; ``kind`` is
    ``holiday`` or ``workday``; ``note`` is free text (optional).  Listing a
    date twice with the same kind is harmless; with different kinds it is an
    error, as is any bad header, date or kind.
    """
    path = Path(path)
    lines = _content_lines(path)
    first = next(lines, None)
    if first is None:
        raise CalendarOverrideError(
            path, None, f"missing header {','.join(OVERRIDE_HEADER)!r} (the file has no rows)"
        )
    header_line, header_text = first
    header = [field.lower() for field in _fields(header_text)]
    if tuple(header) != OVERRIDE_HEADER:
        if header and _ISO_DATE.fullmatch(header[0]):
            reason = f"missing header {','.join(OVERRIDE_HEADER)!r} before the first row"
        else:
            reason = (
                f"unknown header {header_text.strip()!r}, expected {','.join(OVERRIDE_HEADER)!r}"
            )
        raise CalendarOverrideError(path, header_line, reason)

    result: dict[date, bool] = {}
    seen_on: dict[date, int] = {}
    for number, text in lines:
        fields = _fields(text)
        if len(fields) < 2:
            raise CalendarOverrideError(
                path, number, f"expected 'date,kind,note', got {text.strip()!r}"
            )
        raw_date, raw_kind = fields[0], fields[1]
        if not _ISO_DATE.fullmatch(raw_date):
            raise CalendarOverrideError(path, number, f"bad date {raw_date!r}, expected YYYY-MM-DD")
        try:
            day = date.fromisoformat(raw_date)
        except ValueError as exc:
            raise CalendarOverrideError(path, number, f"bad date {raw_date!r}: {exc}") from None
        kind = raw_kind.lower()
        if kind not in _KINDS:
            raise CalendarOverrideError(
                path, number, f"unknown kind {raw_kind!r}, expected 'holiday' or 'workday'"
            )
        working = _KINDS[kind]
        if day in result and result[day] != working:
            raise CalendarOverrideError(
                path,
                number,
                f"{day.isoformat()} is listed as {kind!r} here but as "
                f"{'workday' if result[day] else 'holiday'!r} on line {seen_on[day]}",
            )
        if day not in result:
            result[day] = working
            seen_on[day] = number
    return result


# --------------------------------------------------------------------------- #
# Package data, per year (shared by every calendar)
# --------------------------------------------------------------------------- #


@cache
def _package_year(year: int) -> tuple[frozenset[int], frozenset[int]]:
    """Ordinals of the statutory holidays and the make-up working days of ``year``.

    Neighbouring years are populated too: a make-up day in late December can
    belong to the next year's New Year holiday.
    """
    if not _PKG_FIRST_YEAR <= year <= _PKG_LAST_YEAR:
        return frozenset(), frozenset()
    years = range(max(year - 1, _PKG_FIRST_YEAR), min(year + 1, _PKG_LAST_YEAR) + 1)
    with _PACKAGE_LOCK:
        cn = country_holidays("CN", years=years)
    days_off = frozenset(d.toordinal() for d in cn if d.year == year)
    make_up = frozenset(d.toordinal() for d in cn.weekend_workdays if d.year == year)
    return days_off, make_up


class _Year:
    """The working days of one calendar year, as sorted ordinals and as a set."""

    __slots__ = ("members", "ords")

    def __init__(self, ords: list[int]) -> None:
        self.ords = ords
        self.members = frozenset(ords)


# --------------------------------------------------------------------------- #
# The calendar
# --------------------------------------------------------------------------- #


class WorkCalendar:
    """Which days are working days (工作日), and arithmetic on them.

    ``overrides`` maps a date to ``True`` (a working day, e.g. a newly
    announced make-up Saturday) or ``False`` (a holiday); it wins over the
    ``holidays`` package.  Years the package does not cover count weekdays
    only.
    """

    __slots__ = ("_by_year", "_overrides", "_years")

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        clean: dict[date, bool] = {}
        by_year: dict[int, dict[int, bool]] = {}
        for day, working in (overrides or {}).items():
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"override keys must be dates, got {day!r}")
            clean[day] = bool(working)
            by_year.setdefault(day.year, {})[day.toordinal()] = bool(working)
        self._overrides: Mapping[date, bool] = MappingProxyType(clean)
        self._by_year = by_year
        self._years: dict[int, _Year] = {}

    @classmethod
    def load(cls, override_path: Path | None = None) -> WorkCalendar:
        """A calendar from the ``holidays`` package plus the override CSV at ``override_path``.

        ``None`` means the package alone.  Raises ``CalendarOverrideError``
        (naming the file and line) when the file is missing or malformed.
        """
        if override_path is None:
            return cls()
        return cls(read_overrides(Path(override_path)))

    @classmethod
    def default(cls) -> WorkCalendar:
        """The package calendar plus the override file shipped with hallwatch."""
        return cls.load(default_override_path())

    @property
    def overrides(self) -> Mapping[date, bool]:
        """The overrides in force (read-only): date -> working day?"""
        return self._overrides

    def __repr__(self) -> str:
        return f"WorkCalendar(overrides={len(self._overrides)})"

    # -- per-year tables ---------------------------------------------------- #

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            # Built outside any lock: two threads may both build a year, the
            # results are equal and setdefault keeps one (safe under CPython).
            table = self._years.setdefault(year, self._build_year(year))
        return table

    def _build_year(self, year: int) -> _Year:
        if not 1 <= year <= 9999:
            raise OverflowError("date value out of range")
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        days_off, make_up = _package_year(year)
        overrides = self._by_year.get(year, {})
        ords: list[int] = []
        for o in range(first, last + 1):
            working = overrides.get(o)
            if working is None:
                # (o + 6) % 7 == date.fromordinal(o).weekday(); 5, 6 = Sat, Sun.
                working = o in make_up or ((o + 6) % 7 < 5 and o not in days_off)
            if working:
                ords.append(o)
        return _Year(ords)

    def working_days_in_year(self, year: int) -> int:
        """How many working days ``year`` has."""
        return len(self._year(year).ords)

    # -- queries ------------------------------------------------------------ #

    def is_working_day(self, d: date) -> bool:
        """True for a working day: a weekday that is no holiday, or a make-up day (调休)."""
        return d.toordinal() in self._year(d.year).members

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day strictly after ``start``; ``n == 0`` returns ``start``.

        ``start`` itself never counts, whether or not it is a working day:
        a limit started on a Saturday ends on the same day as one started on
        the Friday before.
        """
        if n <= 0:
            if n == 0:
                return start
            raise ValueError(f"n must be >= 0, got {n}")
        ords = self._year(start.year).ords
        i = bisect_right(ords, start.toordinal()) + n - 1
        if i < len(ords):
            return date.fromordinal(ords[i])
        remaining = i - len(ords) + 1
        year = start.year
        while True:
            year += 1
            ords = self._year(year).ords
            if remaining <= len(ords):
                return date.fromordinal(ords[remaining - 1])
            remaining -= len(ords)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open interval ``(a, b]``; 0 when ``b <= a``."""
        if b <= a:
            return 0
        ao, bo = a.toordinal(), b.toordinal()
        ya, yb = a.year, b.year
        if ya == yb:
            ords = self._year(ya).ords
            return bisect_right(ords, bo) - bisect_right(ords, ao)
        ords = self._year(ya).ords
        count = len(ords) - bisect_right(ords, ao)
        for year in range(ya + 1, yb):
            count += len(self._year(year).ords)
        return count + bisect_right(self._year(yb).ords, bo)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        year = d.year
        ords = self._year(year).ords
        i = bisect_left(ords, d.toordinal())
        while i == 0:
            year -= 1
            ords = self._year(year).ords
            i = len(ords)
        return date.fromordinal(ords[i - 1])

    def working_day_on_or_after(self, d: date) -> date:
        """``d`` when it is a working day, else the next working day."""
        return d if self.is_working_day(d) else self.add_working_days(d, 1)
