"""Writing intake records as JSON Lines, the file format hallwatch ingests
(docs/contracts.md §2): UTF-8, one JSON object a line."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

__all__ = ["write_jsonl"]


def write_jsonl(records: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write records as JSON Lines (UTF-8, one object a line); return how many.

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("wb") as fh:
            for record in records:
                fh.write(orjson.dumps(dict(record)))
                fh.write(b"\n")
                count += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
