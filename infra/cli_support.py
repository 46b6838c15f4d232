"""What both command modules (``infra/cli.py``, ``projections/cli.py``) print and parse
the same way."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click
import orjson

from domain import clock


def print_json(value: Any) -> None:
    """``--json`` output: indented, UTF-8 (Chinese names stay readable)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def parse_as_of(value: str | None) -> datetime | None:
    """``--as-of``: see ``clock.parse_as_of``; a bad value is a usage error."""
    if value is None:
        return None
    try:
        return clock.parse_as_of(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--as-of") from None
