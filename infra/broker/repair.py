"""Finishing the object overwrites that a ``kill -9`` of rclone cut in half.

Run by ``LocalBroker.start`` while rclone is stopped.  Without it, a crash
mid-write could make a whole partition look empty, and tansu would then write
new messages over acknowledged ones (``docs/decisions/0003-s3-gate.md``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

_TEMP_PUT_PREFIX: Final = ".rclone_temp_put_"


def repair_torn_puts(bucket_dir: Path) -> list[str]:
    """Finish the object overwrites that a ``kill -9`` of rclone cut in half.

    rclone's S3 server replaces an object on a local folder by writing a
    ``.rclone_temp_put_<uuid>`` file, *unlinking* the old object, then renaming
    the temporary file into place.  Killed between the last two steps, the
    object is gone and its complete new version sits in the temporary file.
    For tansu that object can be a partition's ``watermark.json`` or the
    cluster's ``meta.json`` (the topic list).  Those two names are the only
    candidates in their folders, so the temporary file is renamed back; a
    temporary file next to an object that still exists is an upload that
    never finished (never acknowledged) and is removed.  Anything else is left
    alone (rclone hides it from listings) and reported.  Must run while rclone
    is stopped.  Returns one line per action.
    """
    notes: list[str] = []
    if not bucket_dir.is_dir():
        return notes
    for folder, dirs, files in os.walk(bucket_dir):
        dirs[:] = [d for d in dirs if d != "records"]  # batches are only created, never replaced
        temps = sorted(f for f in files if f.startswith(_TEMP_PUT_PREFIX))
        if not temps:
            continue
        here = Path(folder)
        target = _overwritten_object(here, bucket_dir)
        for name in temps:
            temp = here / name
            rel = temp.relative_to(bucket_dir)
            if target is None:
                notes.append(f"left {rel}: not an object tansu overwrites")
            elif target.exists():
                temp.unlink()
                notes.append(f"removed {rel}: an unfinished upload ({target.name} is intact)")
            elif _json_object(temp):
                os.replace(temp, target)
                notes.append(f"restored {target.relative_to(bucket_dir)} from {name}")
            else:
                temp.unlink()
                notes.append(f"removed {rel}: an unfinished upload (not complete JSON)")
    return notes


def _overwritten_object(folder: Path, bucket_dir: Path) -> Path | None:
    """The single object tansu overwrites in ``folder``, if the folder has one."""
    parts = folder.relative_to(bucket_dir).parts
    # clusters/<cluster>/meta.json
    if len(parts) == 2 and parts[0] == "clusters":
        return folder / "meta.json"
    # clusters/<cluster>/topics/<topic>/partitions/<0000000007>/watermark.json
    if (
        len(parts) == 6
        and parts[0] == "clusters"
        and parts[2] == "topics"
        and parts[4] == "partitions"
        and parts[5].isdigit()
    ):
        return folder / "watermark.json"
    return None


def _json_object(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False
