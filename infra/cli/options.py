"""Options the commands share: times (``--as-of``) and months (``--month``).

A value outside the years hallwatch serves, or one that does not parse, is a usage
error naming the option (exit 2), never a traceback.
"""

from __future__ import annotations

from datetime import date, datetime

import click

from domain import clock
from infra.cli.output import printable
from projections.kpi import Month

#: The years a ``--month`` or ``--as-of`` may name; outside them is a usage error.
FIRST_YEAR = 2000
LAST_YEAR = 2100


def check_year(when: date, option: str) -> None:
    """A usage error naming ``option`` when ``when`` lies outside FIRST_YEAR..LAST_YEAR: no
    case is that old or that far ahead, and the calendar's years end long before."""
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise click.BadParameter(
            f"{when.isoformat()[:10]} is outside {FIRST_YEAR}-01 .. {LAST_YEAR}-12",
            param_hint=option,
        )


def parse_as_of(value: str | None, option: str = "--as-of") -> datetime | None:
    """``--as-of``: see ``clock.parse_as_of``; a bad or far-off value is a usage error."""
    if value is None:
        return None
    try:
        when = clock.parse_as_of(value)
    except (ValueError, OverflowError) as e:
        raise click.BadParameter(printable(e), param_hint=option) from None
    check_year(when, option)
    return when


def parse_month(text: str, option: str = "--month") -> Month:
    """``--month``: YYYY-MM between FIRST_YEAR-01 and LAST_YEAR-12, else a usage error
    naming the option (year 0000 or 9999 would overflow the month's bounds)."""
    try:
        month = Month.parse(text)
    except (ValueError, OverflowError) as e:
        raise click.BadParameter(printable(e), param_hint=option) from None
    if not text.strip().isascii():  # int() reads full-width and other Unicode digits
        raise click.BadParameter(
            f"month {printable(repr(text))} is not YYYY-MM (e.g. 2026-10)", param_hint=option
        )
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise click.BadParameter(
            f"{month} is outside {FIRST_YEAR}-01 .. {LAST_YEAR}-12", param_hint=option
        )
    return month


def now_or(as_of: datetime | None) -> datetime:
    """``as_of``, or now in Asia/Shanghai."""
    return as_of or datetime.now(clock.SHANGHAI)
