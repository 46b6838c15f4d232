"""The main job as the README runs it (``hallwatch demo``), end to end in its own process:
SQLite store, alerter, local broker, relay, projector, chdb, ranking and alert list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import free_port


def demo(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hallwatch demo`` as the README runs it: in a folder, data under ./.hallwatch."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=folder,
    )


def test_the_demo_runs_the_whole_path_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    elsewhere = (
        "HALLWATCH_KAFKA_BOOTSTRAP", "HALLWATCH_CLICKHOUSE_URL", "HALLWATCH_DATABASE_URL",
        "HALLWATCH_DATA_DIR",
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in elsewhere}  # the embedded defaults
    env.update(
        HALLWATCH_KAFKA_PORT=str(free_port()), HALLWATCH_S3_PORT=str(free_port()), COLUMNS="200"
    )
    data = tmp_path / ".hallwatch"

    first = demo(tmp_path, env)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert "every hash chain intact" in out
    assert "alert: 0 alerts raised" not in out  # the sample's open cases are long overdue now
    assert "relay: 0 events published" not in out
    assert "0 new events" not in out and "0 unreadable" in out
    assert "2026-03 ranking by department" in out
    assert "教育局" in out and "score: 0-100" in out
    assert "open alerts" in out and "case_overdue" in out
    assert "stopped the local broker it started" in out
    assert (data / "clickhouse" / "head.json").is_file()

    second = demo(tmp_path, env)
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout
    assert "0 new item versions" in out
    assert "alert: 0 alerts raised" in out
    assert "relay: 0 events published" in out
    assert "0 new events" in out
    assert "2026-03 ranking by department" in out

    status = subprocess.run(
        [sys.executable, "-m", "infra.cli", "broker", "status"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert status.returncode == 1 and "not running" in status.stdout
