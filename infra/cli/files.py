"""Files the commands write that hold personal data (reject files): owner-only.

Refused records keep the applicant's name masked and ids redacted, but a reject
file is still written 0600 in a 0700 folder whatever the umask (docs/intake.md).
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from infra.settings import Settings


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), created if missing; set
    explicitly so the umask does not matter."""
    path.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)
    return path


def open_private(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created owner-only (0600) whatever the umask; an
    existing file of ours is narrowed to 0600 too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) != 0o600 and st.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def rejects_path(settings: Settings, source: Path, explicit: Path | None) -> Path:
    """Where the refused lines of ``source`` go: ``explicit``, else the data folder's
    ``rejected/`` with the file's name and a time stamp."""
    if explicit is not None:
        if not explicit.parent.exists():  # a folder we create is owner-only; yours stays yours
            private_dir(explicit.parent)
        return explicit
    private_dir(settings.rejects_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.rejects_dir / f"{source.stem or 'stdin'}-{stamp}.rejected.jsonl"
