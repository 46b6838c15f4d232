"""What every ``hallwatch`` command prints, and how it ends.

Every value that comes from data (a town, a case id, a refusal reason, an error
quoting a record) goes through :func:`safe` before rich renders it, so markup
such as ``[/]`` cannot break a view and an escape sequence cannot reach the
terminal. Exit codes follow one rule (:data:`EXIT_OK`, :data:`EXIT_REFUSED`,
:data:`EXIT_USAGE`), written in ``hallwatch --help`` and the README.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any, NoReturn

import orjson
from rich.console import Console
from rich.markup import escape

#: Done.
EXIT_OK = 0
#: Refused or failed: a record or row refused, an unknown reference, a failed check
#: (verify, broker status), nothing to show yet, a failure while working.
EXIT_REFUSED = 1
#: Usage error: a bad option or argument, a file that does not exist, a setting that
#: cannot be used, a store or service the settings name that cannot be opened.
EXIT_USAGE = 2

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 refused or failed (refused input, an unknown reference, a "
    "failed check, nothing to show yet); 2 usage error (a bad option or argument, a "
    "missing file, an unusable setting, a store or service that cannot be opened)."
)

#: Unicode categories shown escaped: controls, format characters (bidi overrides,
#: zero-width characters), lone surrogates, line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


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


console = make_console()
err = make_console(stderr=True)


def say(text: str) -> None:
    """A plain line on standard output (no markup, no wrapping); ``text`` already safe."""
    sys.stdout.write(text + "\n")


def wide(width: int) -> Console:
    """A console for a table that keeps every column when piped (a terminal keeps its own
    width)."""
    return console if console.is_terminal else make_console(width=width)


def print_json(value: Any) -> None:
    """``--json`` output: indented, UTF-8 (Chinese names stay readable); control
    characters are JSON-escaped by the encoder."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dates and times as ISO strings (times with their +08:00 offset)."""
    return orjson.loads(orjson.dumps(rows, default=str))  # type: ignore[no-any-return]


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print ``error: message`` on standard error and exit with ``code``."""
    # one line however long (a path in it stays whole to copy), whatever the width
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def usage_error(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


def pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.1f}%"


def num(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    return f"{v:,}" if isinstance(v, int) else f"{float(v):,.{digits}f}"
