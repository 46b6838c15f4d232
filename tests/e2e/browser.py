"""The dashboard in a real browser: Debian's chromium driven by Playwright, the
dashboard and the pipeline behind it (broker, relay, projector, alerter) as processes.

Screenshots go to tests/artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]  # fmt: skip


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless (Playwright passes --no-sandbox when run as root)."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def settled(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until the app's run is over (its "running" widget gone) and the grids drew."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=timeout_ms)
    page.wait_for_timeout(1000)


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot under tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def hallwatch(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    """A ``hallwatch`` command as a process, its output in a log under tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / f"{args[0]}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, **kw,
    )  # fmt: skip


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.3)


@contextlib.contextmanager
def dashboard(env: dict[str, str]) -> Iterator[str]:
    """``hallwatch dashboard`` on a free port; its base URL."""
    port = free_port()
    proc = hallwatch("dashboard", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/_stcore/health")
        yield base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def environment(hall_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The test process's environment with a hall's settings, nothing of another hall."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLWATCH_")}
    env.update(hall_env)
    env.update(extra)
    return env


@contextlib.contextmanager
def pipeline(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The local broker on free ports, and the relay, the projector and the alerter
    running against the hall: what the dashboard writes reaches its board the normal way."""
    env = {
        **env,
        "HALLWATCH_KAFKA_PORT": str(free_port()),
        "HALLWATCH_S3_PORT": str(free_port()),
        "HALLWATCH_TOPIC_PARTITIONS": "2",
    }
    subprocess.run(
        [sys.executable, "-m", "infra.cli", "broker", "start"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    procs = [hallwatch(cmd, env=env) for cmd in ("relay", "project", "alert")]
    try:
        yield env
    finally:
        for proc in procs:
            stop(proc)
        subprocess.run(
            [sys.executable, "-m", "infra.cli", "broker", "stop"],
            cwd=ROOT, env=env, capture_output=True, timeout=60,
        )  # fmt: skip
