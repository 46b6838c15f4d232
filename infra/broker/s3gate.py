"""The S3 gate: a small HTTP proxy between tansu and ``rclone serve s3``.

tansu relies on S3 conditional writes (``If-None-Match: *``, ``If-Match``)
that rclone ignores, and rclone replaces an object by unlinking it before the
new file is renamed into place; either made a restarted tansu write partitions
from offset 0 again, over acknowledged messages.  Measurements and reasoning:
``docs/decisions/0003-s3-gate.md``.

The gate runs as its own process: ``LocalBroker`` starts this file with
``python -I``, so it must import nothing but the standard library.  By hand:
``python -m infra.broker.s3gate --host … --upstream-port … --root … --port-file …``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

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

_Upstream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class S3Gate:
    """Makes rclone's S3 writes mean what tansu expects.

    The gate checks PUT preconditions against the served folder itself (S3
    semantics: 412 when they fail; ETags are MD5 hex, rclone's
    ``--etag-hash MD5``) and serialises the requests on each key, so the check
    and the write are one step and no read sees an object half-replaced.
    Everything else passes through byte for byte (signatures stay valid).
    """

    def __init__(self, root: Path, upstream_host: str, upstream_port: int) -> None:
        self.root = root.resolve()
        self.upstream = (upstream_host, upstream_port)
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def serve(self, host: str, port_file: Path) -> None:
        """Listen on a free port of ``host`` and write that port to ``port_file``."""
        server = await asyncio.start_server(self.handle, host, 0, limit=_GATE_HEAD_LIMIT)
        port = server.sockets[0].getsockname()[1]
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(f"{port}\n")
        os.replace(tmp, port_file)
        async with server:
            await server.serve_forever()

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
            logger.warning("%r", e)
        finally:
            if up is not None:
                up[1].close()
            writer.close()

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


def main(argv: Sequence[str]) -> None:
    """Entry point of the gate process (started by ``LocalBroker``; its stderr is gate.log)."""
    parser = argparse.ArgumentParser(prog="hallwatch-s3-gate")
    parser.add_argument("--host", required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(list(argv))
    # This is a process of its own, with nothing but the standard library: nobody
    # else can set up its logging.  The format is gate.log's line format.
    logging.basicConfig(
        stream=sys.stderr, format="%(asctime)s gate: %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
    )
    gate = S3Gate(args.root, args.host, args.upstream_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gate.serve(args.host, args.port_file))


if __name__ == "__main__":
    main(sys.argv[1:])
