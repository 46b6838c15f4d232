"""Logging for hallwatch's processes: one format, the level and the format from settings.

Long-running workers (relay, intake, projector, alerter, the broker's supervision)
say what they do through module loggers; ``HALLWATCH_LOG_LEVEL`` sets how much
they say and ``HALLWATCH_LOG_FORMAT=json`` writes one JSON object per line for a
log collector. Interactive commands keep their own tables and progress bars.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

from infra.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The level long-running commands log at when HALLWATCH_LOG_LEVEL is not set.
WORKER_DEFAULT_LEVEL = "INFO"
#: The level every other command logs at when it is not set: warnings and errors only.
DEFAULT_LEVEL = "WARNING"

_HANDLER_NAME = "hallwatch"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the
    exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(settings: Settings, *, default_level: str = DEFAULT_LEVEL) -> None:
    """Send hallwatch's log records to standard error in the configured format and level
    (``settings.log_level``, else ``default_level``). Calling it again replaces the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root.addHandler(handler)
    root.setLevel(settings.log_level or default_level)
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the client's chatter stays out


def configure_worker_logging(settings: Settings) -> None:
    """As :func:`configure_logging`, at INFO unless a level is set: a long-running worker
    reports what it does."""
    configure_logging(settings, default_level=WORKER_DEFAULT_LEVEL)
