"""The local broker's child processes: pid files, liveness, ports, logs.

The processes are detached (their own session), so they outlive the CLI that
started them; what is known about them lives in files under
``<data_dir>/broker/`` (pid, log, and a port file for a process on a free
port).  Every liveness check also matches the program name, so a reused pid
is not taken for one of ours.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from infra.broker.errors import BrokerError

logger = logging.getLogger(__name__)

LOG_ROTATE_BYTES: Final = 5 * 1024 * 1024

# Popen objects of the children this Python process started, so they are reaped
# (no zombies looking alive) and never garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Proc:
    """One of the managed processes: its name, port and files.

    ``port`` 0 means the process picks a free port and writes it to ``port_file``.
    ``binary`` is the glob its program name must match (default: ``name``)."""

    name: str
    port: int
    pid_file: Path
    log_file: Path
    binary: str = ""
    port_file: Path | None = None

    @property
    def program(self) -> str:
        return self.binary or self.name

    def current_port(self) -> int | None:
        if self.port or self.port_file is None:
            return self.port
        return read_pid(self.port_file)  # the same one-integer format


# --------------------------------------------------------------------------- pids


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def proc_alive(pid: int, binary: str) -> bool:
    """Is ``pid`` a live (not zombie) process whose program name matches ``binary`` (a
    glob such as ``python*``)?  Guards against pid reuse."""
    child = _CHILDREN.get(pid)
    if child is not None:  # our own child: poll() also reaps, and works before its exec
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    proc = Path("/proc") / str(pid)
    if not proc.is_dir():
        return True  # no /proc (not Linux): trust the signal check
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except (OSError, IndexError):
        return False
    return fnmatch.fnmatchcase(Path(argv0).name, binary)


def live_pid(proc: Proc) -> int | None:
    """The pid in ``proc``'s pid file if that process is alive and ours, else None."""
    pid = read_pid(proc.pid_file)
    return pid if pid is not None and proc_alive(pid, proc.program) else None


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a dead child of ours that is not in ``_CHILDREN``."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --------------------------------------------------------------------------- ports


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """Can we listen on host:port?  (SO_REUSEADDR: sockets in TIME_WAIT don't count.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_holder(port: int) -> str | None:
    """Best effort, Linux only: 'pid 123 (name)' of the process listening on ``port``."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    name = (proc / "comm").read_text().strip()
                    return f"pid {proc.name} ({name})"
        except OSError:
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port``, from /proc/net/tcp{,6}."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


# --------------------------------------------------------------------------- start


def spawn(proc: Proc, cmd: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    """Start ``cmd`` detached, output appended to ``proc``'s log, pid in its pid file."""
    rotate_log(proc.log_file)
    log: IO[bytes]
    with proc.log_file.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {proc.name}\n".encode())
        log.flush()
        child = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # survives the CLI and its terminal's signals
            close_fds=True,
        )
    _CHILDREN[child.pid] = child
    proc.pid_file.write_text(f"{child.pid}\n")
    logger.info(
        "starting %s: pid %d, port %s, log %s",
        proc.name,
        child.pid,
        proc.port or "(a free one)",
        proc.log_file,
    )


def wait_ready(
    proc: Proc, deadline: float, ready: Callable[[], bool], host: str, hint: str = ""
) -> None:
    """Wait until ``ready()``; BrokerError with the log's tail if ``proc`` dies or
    ``deadline`` (monotonic) passes.  ``hint`` goes into the timeout message."""
    pid = read_pid(proc.pid_file)
    while True:
        if pid is None or not proc_alive(pid, proc.program):
            tail = log_tail(proc.log_file)
            logger.error(
                "%s (pid %s) exited while starting; log %s:\n%s",
                proc.name,
                pid,
                proc.log_file,
                tail,
            )
            raise BrokerError(f"{proc.name} exited while starting (log {proc.log_file}):\n" + tail)
        if ready():
            logger.info("started %s: pid %d, %s:%s", proc.name, pid, host, proc.current_port())
            return
        if time.monotonic() > deadline:
            where = f"{host}:{proc.current_port() or '(a free port)'}"
            tail = log_tail(proc.log_file)
            logger.error(
                "%s (pid %d) did not become ready on %s in time; log %s:\n%s",
                proc.name,
                pid,
                where,
                proc.log_file,
                tail,
            )
            raise BrokerError(
                f"{proc.name} did not become ready on {where} in time"
                + hint
                + f"; log {proc.log_file}:\n"
                + tail
            )
        time.sleep(0.05)


def rotate_log(path: Path) -> None:
    """Keep one previous log (``*.log.1``) once ``path`` outgrows LOG_ROTATE_BYTES."""
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        os.replace(path, path.with_suffix(".log.1"))


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- stop


def stop(proc: Proc, timeout: float) -> None:
    """SIGTERM ``proc``, SIGKILL it if still there after ``timeout``; then remove its
    pid and port files (also when they were stale)."""
    pid = read_pid(proc.pid_file)
    if pid is not None and not proc_alive(pid, proc.program):
        logger.warning(
            "stale pid file %s: pid %d is not a running %s", proc.pid_file, pid, proc.name
        )
        pid = None
    if pid is not None:
        logger.info("stopping %s (pid %d)", proc.name, pid)
        send_signal(pid, signal.SIGTERM)
        gone = _gone_within(pid, proc.program, timeout, 0.05)
        if not gone:
            logger.warning(
                "%s (pid %d) still running %.1f s after SIGTERM: killing it",
                proc.name,
                pid,
                timeout,
            )
            send_signal(pid, signal.SIGKILL)
            gone = _gone_within(pid, proc.program, 5.0, 0.02)
        if gone:
            logger.info("stopped %s (pid %d)", proc.name, pid)
        else:
            logger.error("%s (pid %d) still running after SIGKILL", proc.name, pid)
    for path in (proc.pid_file, proc.port_file):
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def kill_all(procs: Sequence[Proc]) -> None:
    """``kill -9`` every live process of ``procs`` at once; pid files stay behind."""
    running = [(p, pid) for p in procs if (pid := live_pid(p)) is not None]
    for _, pid in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for proc, pid in running:
        logger.warning("killed %s (pid %d) with SIGKILL", proc.name, pid)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(
        proc_alive(pid, proc.program) for proc, pid in running
    ):
        time.sleep(0.02)


def send_signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group the child leads (start_new_session), else the process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _gone_within(pid: int, program: str, timeout: float, step: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc_alive(pid, program):
        time.sleep(step)
    return not proc_alive(pid, program)
