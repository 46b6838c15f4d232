"""Logging: the level and the format come from settings; JSON lines for a log collector."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from infra.logs import configure_logging, configure_worker_logging
from infra.settings import Settings, SettingsError, from_env


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_the_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(log_format="json", log_level="INFO"))
    log = logging.getLogger("streams.relay")
    log.info("published %d events", 3)
    try:
        raise RuntimeError("broker away")
    except RuntimeError:
        log.exception("batch failed")
    lines = [orjson.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [(x["level"], x["logger"], x["message"]) for x in lines] == [
        ("INFO", "streams.relay", "published 3 events"),
        ("ERROR", "streams.relay", "batch failed"),
    ]
    assert "RuntimeError: broker away" in lines[1]["exception"]
    assert lines[0]["time"].endswith("+00:00")


def test_workers_say_more_by_default_and_a_set_level_wins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings())
    logging.getLogger("infra.broker").info("quiet by default")
    configure_worker_logging(Settings())
    logging.getLogger("infra.broker").info("a worker says what it does")
    configure_worker_logging(Settings(log_level="WARNING"))
    logging.getLogger("infra.broker").info("unless told otherwise")
    err = capsys.readouterr().err
    assert "a worker says what it does" in err and "INFO infra.broker:" in err
    assert "quiet by default" not in err and "unless told otherwise" not in err
    assert len([h for h in logging.getLogger().handlers if h.get_name() == "hallwatch"]) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HALLWATCH_LOG_LEVEL": "chatty"}, "HALLWATCH_LOG_LEVEL"),
        ({"HALLWATCH_LOG_FORMAT": "xml"}, "HALLWATCH_LOG_FORMAT"),
    ],
)
def test_a_bad_log_setting_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        from_env(env)
    assert from_env({"HALLWATCH_LOG_LEVEL": "debug"}).log_level == "DEBUG"
