"""``hallwatch dashboard``: the inspectors', heads' and public pages in a browser
(Streamlit on 127.0.0.1:8501 unless told otherwise)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from infra.cli.context import current_settings
from infra.cli.output import err, safe

ENTRY = Path(__file__).resolve().parents[1] / "dashboard" / "main.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The Streamlit server running the dashboard's entry script, headless, not watching
    files, sending nothing anywhere."""
    return [
        sys.executable, "-m", "streamlit", "run", str(ENTRY),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--theme.base", "light",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


@click.command()
@click.option("--host", help="Address to listen on (default HALLWATCH_DASHBOARD_HOST, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port (default HALLWATCH_DASHBOARD_PORT, 8501)."
)
def dashboard(host: str | None, port: int | None) -> None:
    """Serve the dashboard: the live board, case pages, unit rankings, the public tracker."""
    settings = current_settings()
    host = host or settings.dashboard_host
    port = port or settings.dashboard_port
    env = dict(os.environ)
    env["HALLWATCH_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        env["HALLWATCH_DATABASE_URL"] = settings.database_url
    err.print(f"dashboard: http://{safe(host)}:{port}/", highlight=False)
    os.execve(sys.executable, streamlit_command(host, port), env)
