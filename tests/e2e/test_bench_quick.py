"""``python -m bench --quick`` runs every benchmark end to end (the dashboard's on chdb:
the server's start is covered by the integration tests) and prints its table.

Only that it runs is checked: speed is judged by reading the table, never by a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_benchmark_runs_every_benchmark_and_prints_the_table(tmp_path: Path) -> None:
    quick = ["--quick", "--backends", "chdb", "--out-dir", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "bench", *quick],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "240", "PATH": "/usr/bin:/bin"},
        timeout=900,
    )
    assert out.returncode in (0, 1), out.stderr[-3000:]  # 1: a target missed on this machine
    table = out.stdout
    for row in (
        "intake", "relay", "projector", "freshness", "alert latency", "chdb reader open",
        "live board tick", "board as of", "unit page", "notice page", "case page",
        "dashboard start",
    ):  # fmt: skip
        assert row in table, table
    assert ", server" not in table
    assert "Traceback" not in out.stderr
