"""What the command modules (``infra/cli.py``, ``projections/cli.py``,
``infra/broker_cli.py``) print, parse and write the same way.

Terminal safety (终端安全): every value that comes from data (a town, a department,
a case id, a refusal reason, an exception message quoting a record) is passed
through :func:`safe` before rich renders it, so ``[/]`` cannot crash a view,
``[red]`` or ``[link=…]`` cannot restyle it, and an escape sequence cannot reach
the terminal. Consoles are made by :func:`make_console` (no ``:emoji:`` codes).
"""

from __future__ import annotations

import os
import stat
import sys
import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.console import Console
from rich.markup import escape

from domain import clock

#: Unicode categories shown escaped: controls, format characters (bidi overrides,
#: zero-width characters), lone surrogates, line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: The years a ``--month`` or ``--as-of`` may name; outside them is a usage error.
FIRST_YEAR = 2000
LAST_YEAR = 2100


def _shown(c: str) -> str:
    if unicodedata.category(c) not in _HIDDEN_CATEGORIES:
        return c
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else (f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")


def printable(value: object) -> str:
    """``value`` as text with every control or invisible character written out
    (ESC → ``\\x1b``, a newline → ``\\n``, U+202E → ``\\u202e``); None is empty."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(map(_shown, text))


def safe(value: object) -> str:
    """``value`` ready to be embedded in rich markup: control characters written out
    (:func:`printable`) and markup escaped, so it is shown literally."""
    return escape(printable(value))


def make_console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A console that does not turn ``:name:`` in data into emoji."""
    return Console(stderr=stderr, width=width, emoji=False)


def print_json(value: Any) -> None:
    """``--json`` output: indented, UTF-8 (Chinese names stay readable); control
    characters are JSON-escaped by the encoder."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def check_year(when: date, option: str) -> None:
    """A usage error (exit 2) naming ``option`` when ``when`` lies outside
    FIRST_YEAR..LAST_YEAR: no case is that old or that far ahead, and the
    calendar and ClickHouse's dates end long before year 9999."""
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


# --- files with personal data ----------------------------------------------------------


def private_dir(path: Path) -> Path:
    """``path`` (a folder of hallwatch's own, such as ``<data>/rejected``) as a folder
    only its owner can enter (0700), created if missing; set explicitly so the umask
    does not matter."""
    path.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)
    return path


def open_private(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created owner-only (0600) whatever the umask;
    an existing file of ours is narrowed to 0600 too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) != 0o600 and st.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise
