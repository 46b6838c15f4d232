"""The local broker of one data folder: rclone, the S3 gate, then tansu.

When no bootstrap servers are configured hallwatch runs these three itself,
on 127.0.0.1 only: ``rclone serve s3`` serves ``<data_dir>/broker/s3`` as a
bucket, the S3 gate (``s3gate.py``) sits in front of it, and tansu stores
everything in that bucket through the gate.  Together they keep every
acknowledged message through ``kill -9`` of all of them and a restart
(``docs/decisions/0003-s3-gate.md``).  Tansu's default ``memory://`` engine
loses everything on a restart, so it is never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import string
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.broker import processes
from infra.broker.binaries import find_rclone, find_tansu
from infra.broker.errors import BrokerError
from infra.broker.processes import Proc, live_pid, port_open, proc_alive, read_pid
from infra.broker.repair import repair_torn_puts

logger = logging.getLogger(__name__)

_KEY_ALPHABET: Final = string.ascii_letters + string.digits
_MIN_KEY_LENGTH: Final = 16  # rclone's S3 server refuses very short access keys
# Variables that the two binaries would read and that must not leak in from
# whoever runs hallwatch (an AWS profile, a session token, a tansu setting …).
_TANSU_ENV_NAMES: Final = frozenset(
    {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "RUST_LOG",
    }
)
# Run as a script in a fresh interpreter (-I: no PYTHONPATH, no current folder on
# sys.path): the gate imports nothing but the standard library.
_GATE_SCRIPT: Final = Path(__file__).resolve().with_name("s3gate.py")


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how the local broker runs.

    ``access_key``/``secret_key`` left as ``None`` are generated once and kept
    in ``<data_dir>/broker/s3-credentials.json`` (mode 0600), so nothing that
    matters lives in code and a restart finds the same bucket credentials.
    """

    data_dir: Path
    kafka_port: int = 9092
    s3_port: int = 9095
    host: str = "127.0.0.1"
    access_key: str | None = None
    secret_key: str | None = None
    bucket: str = "hallwatch"
    cluster_id: str = "hallwatch"

    def __post_init__(self) -> None:
        # The broker's processes run in its own folder: a relative path (the default
        # ./.hallwatch) would point somewhere else for them.
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())
        for name in ("kafka_port", "s3_port"):
            port = getattr(self, name)
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"{name} must be a port number (1-65535), not {port!r}")
        if self.kafka_port == self.s3_port:
            raise ValueError(f"kafka_port and s3_port are both {self.kafka_port}")
        for name in ("access_key", "secret_key"):
            key = getattr(self, name)
            if key is not None and (len(key) < _MIN_KEY_LENGTH or not key.isalnum()):
                raise ValueError(
                    f"{name} must be at least {_MIN_KEY_LENGTH} letters or digits "
                    "(rclone's S3 server refuses short access keys)"
                )
        if not self.bucket or not all(c.islower() or c.isdigit() or c == "-" for c in self.bucket):
            raise ValueError(f"bucket {self.bucket!r}: use lower-case letters, digits and '-'")

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def s3_root(self) -> Path:
        """The folder rclone serves; each sub-folder is a bucket."""
        return self.broker_dir / "s3"


class LocalBroker:
    """Starts, stops and inspects the rclone + gate + tansu processes of one data folder."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        d = config.broker_dir
        self._rclone = Proc("rclone", config.s3_port, d / "rclone.pid", d / "rclone.log")
        self._gate = Proc(
            "gate", 0, d / "gate.pid", d / "gate.log", binary="python*", port_file=d / "gate.port"
        )
        self._tansu = Proc("tansu", config.kafka_port, d / "tansu.pid", d / "tansu.log")
        self._procs = (self._rclone, self._gate, self._tansu)  # start order

    # ---------------------------------------------------------------- public

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.config.host}:{self.config.kafka_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.config.s3_port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start rclone, the S3 gate, then tansu, and wait until tansu answers; no-op when up."""
        deadline = time.monotonic() + timeout
        with self._lock():
            if self._healthy():
                return
            # Half-up (one died, a stale pid file, a crash): start both afresh.
            self._stop_locked(timeout=10.0)
            tansu_bin, rclone_bin = find_tansu(), find_rclone()
            for proc in (self._rclone, self._tansu):
                self._check_port(proc)
            access_key, secret_key = self._credentials()
            self._repair_bucket()
            self._spawn(
                self._rclone, self._rclone_cmd(rclone_bin), self._rclone_env(access_key, secret_key)
            )
            try:
                self._start_after_rclone(tansu_bin, access_key, secret_key, deadline)
            except BaseException:
                self._stop_locked(timeout=5.0)
                raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM tansu then rclone, SIGKILL what is left after ``timeout``; no-op when down."""
        with self._lock():
            self._stop_locked(timeout)

    def kill_hard(self) -> None:
        """``kill -9`` every process at once, leaving pid files behind, as a crash would."""
        processes.kill_all(self._procs)

    def status(self) -> dict[str, Any]:
        """Per process (tansu, rclone, and the S3 gate between them): pid, alive, port,
        listening (+ log file); and the bootstrap address."""
        out: dict[str, Any] = {}
        for proc in (self._tansu, self._rclone, self._gate):
            pid = read_pid(proc.pid_file)
            alive = pid is not None and proc_alive(pid, proc.program)
            port = proc.current_port()
            out[proc.name] = {
                "pid": pid if alive else None,
                "alive": alive,
                "port": port,
                "listening": bool(port) and port_open(self.config.host, port or 0, timeout=0.3),
                "log": str(proc.log_file),
            }
        out["bootstrap_servers"] = self.bootstrap_servers
        out["running"] = all(out[proc.name]["alive"] for proc in self._procs)
        out["data_dir"] = str(self.config.s3_root / self.config.bucket)
        return out

    # ---------------------------------------------------------------- starting

    def _repair_bucket(self) -> None:
        """Finish writes torn by a crash; rclone is stopped, so its files are safe to touch."""
        bucket_dir = self.config.s3_root / self.config.bucket
        bucket_dir.mkdir(parents=True, exist_ok=True)
        notes = repair_torn_puts(bucket_dir)
        for note in notes:
            logger.warning("repair of writes torn by a crash in %s: %s", bucket_dir, note)
        if notes:
            with self._tansu.log_file.open("a") as log:
                log.writelines(f"--- repair: {note}\n" for note in notes)

    def _start_after_rclone(
        self, tansu_bin: Path, access_key: str, secret_key: str, deadline: float
    ) -> None:
        """Wait for rclone, then start the gate and tansu in turn, each once the one before
        answers."""
        host = self.config.host
        self._wait(self._rclone, deadline, lambda: port_open(host, self.config.s3_port))
        assert self._gate.port_file is not None
        with contextlib.suppress(FileNotFoundError):
            self._gate.port_file.unlink()
        self._spawn(self._gate, self._gate_cmd(), self._base_env())
        self._wait(self._gate, deadline, self._gate_listening)
        gate_port = self._gate.current_port()
        assert gate_port is not None
        self._spawn(
            self._tansu,
            self._tansu_cmd(tansu_bin),
            self._tansu_env(access_key, secret_key, f"http://{host}:{gate_port}"),
        )
        self._wait(
            self._tansu,
            deadline,
            lambda: _kafka_metadata_ok(host, self.config.kafka_port),
            hint=f" (it answers only once it reaches its storage, rclone at {self.s3_endpoint})",
        )

    def _spawn(self, proc: Proc, cmd: list[str], env: dict[str, str]) -> None:
        processes.spawn(proc, cmd, env, cwd=self.config.broker_dir)

    def _wait(self, proc: Proc, deadline: float, ready: Callable[[], bool], hint: str = "") -> None:
        processes.wait_ready(proc, deadline, ready, self.config.host, hint)

    def _check_port(self, proc: Proc) -> None:
        if processes.port_free(self.config.host, proc.port):
            return
        holder = processes.port_holder(proc.port)
        env = "HALLWATCH_KAFKA_PORT" if proc.name == "tansu" else "HALLWATCH_S3_PORT"
        raise BrokerError(
            f"port {proc.port} on {self.config.host} (for {proc.name}) is already taken"
            + (f" by {holder}" if holder else "")
            + f"; free it, choose another port with {env}, or set HALLWATCH_KAFKA_BOOTSTRAP"
            " to use a broker that is already running"
        )

    def _credentials(self) -> tuple[str, str]:
        if self.config.access_key and self.config.secret_key:
            return self.config.access_key, self.config.secret_key
        path = self.config.broker_dir / "s3-credentials.json"
        try:
            stored = json.loads(path.read_text())
            access, secret = str(stored["access_key"]), str(stored["secret_key"])
            if len(access) >= _MIN_KEY_LENGTH and len(secret) >= _MIN_KEY_LENGTH:
                return self.config.access_key or access, self.config.secret_key or secret
        except (OSError, ValueError, KeyError, TypeError):
            pass
        access = "HW" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18)
        )
        secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"access_key": access, "secret_key": secret}, f)
        os.replace(tmp, path)
        return self.config.access_key or access, self.config.secret_key or secret

    # ---------------------------------------------------------------- commands

    def _rclone_cmd(self, binary: Path) -> list[str]:
        """``rclone serve s3`` of the data folder; credentials come from RCLONE_AUTH_KEY."""
        return [
            str(binary),
            "serve",
            "s3",
            "--config",
            "",  # no rclone.conf: the plain path below is a local folder
            "--addr",
            f"{self.config.host}:{self.config.s3_port}",
            # off: a PUT is answered only once the file is in place, never from a cache
            "--vfs-cache-mode",
            "off",
            "--etag-hash",
            "MD5",
            "--log-level",
            "NOTICE",
            str(self.config.s3_root),
        ]

    def _gate_cmd(self) -> list[str]:
        """The S3 gate (``s3gate.py``) in a fresh interpreter, standard library only."""
        assert self._gate.port_file is not None
        return [
            sys.executable,
            "-I",
            str(_GATE_SCRIPT),
            "--host",
            self.config.host,
            "--upstream-port",
            str(self.config.s3_port),
            "--root",
            str(self.config.s3_root),
            "--port-file",
            str(self._gate.port_file),
        ]

    def _gate_listening(self) -> bool:
        port = self._gate.current_port()
        return bool(port) and port_open(self.config.host, port or 0)

    def _tansu_cmd(self, binary: Path) -> list[str]:
        listener = f"tcp://{self.config.host}:{self.config.kafka_port}"
        return [
            str(binary),
            "broker",
            "--cluster-id",
            self.config.cluster_id,
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            f"s3://{self.config.bucket}/",
        ]

    def _base_env(self) -> dict[str, str]:
        return {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "RCLONE_")) and k not in _TANSU_ENV_NAMES
        }

    def _rclone_env(self, access_key: str, secret_key: str) -> dict[str, str]:
        # In the environment rather than on the command line, where `ps` shows it.
        return {**self._base_env(), "RCLONE_AUTH_KEY": f'"{access_key},{secret_key}"'}

    def _tansu_env(self, access_key: str, secret_key: str, endpoint: str) -> dict[str, str]:
        """Tansu talks S3 to the gate (``endpoint``), never to rclone directly."""
        return {
            **self._base_env(),
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "RUST_LOG": "warn",
        }

    # ---------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One start/stop at a time per data folder (two CLIs at once, tests in parallel)."""
        self.config.broker_dir.mkdir(parents=True, exist_ok=True)
        with (self.config.broker_dir / ".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _healthy(self) -> bool:
        """All three ours, alive and answering.  A busy broker gets a few tries before
        ``start`` decides it is broken and restarts it."""
        if any(live_pid(proc) is None for proc in self._procs):
            return False
        for attempt in range(3):
            if attempt:
                time.sleep(0.5)
            if (
                port_open(self.config.host, self.config.s3_port)
                and self._gate_listening()
                and _kafka_metadata_ok(self.config.host, self.config.kafka_port, timeout=3.0)
            ):
                return True
        return False

    def _stop_locked(self, timeout: float) -> None:
        # tansu first: it stops taking writes before its storage goes away.
        for proc in reversed(self._procs):
            processes.stop(proc, timeout)


def _kafka_metadata_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send a Kafka Metadata (v0, all topics) request; True if a well-formed answer comes.

    Tansu answers it from the bucket (it lists the topics), so this also shows
    that tansu reaches rclone, not only that its port is open.
    """
    correlation_id = 0x48570001
    client_id = b"hallwatch-broker-probe"
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # v0: an empty topic array means every topic
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 8)
            size, got_id = struct.unpack(">ii", head)
            if got_id != correlation_id or size < 8:
                return False
            _recv_exact(s, size - 4)
            return True
    except (OSError, struct.error):
        return False


def _recv_exact(s: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = s.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)
