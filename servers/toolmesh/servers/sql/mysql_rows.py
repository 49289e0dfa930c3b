"""MariaDB/MySQL result rows read off the socket with the row budget (omission.py) applied on the wire.

aiomysql reads a whole row packet (a row of several 16 MB values spans several packets, appended one to the
next) before pymysql decodes it, so one row costs a few times its size however the cap is set. While a
result's rows are read, ``RowReader`` stands in for the connection's ``_read_packet``: a row packet within
the byte cap is read as aiomysql reads it; a bigger one (or one continued in further packets) is read value
by value, each value's length coming before its bytes in the text protocol, and a value the budget leaves
out is read off the socket in small chunks and dropped. The row is handed to pymysql as a packet with NULL
in place of each value left out, so types, names and order are the server's, and ``omitted`` records the
sizes for the notes.

No SQL is wrapped: MariaDB ignores ORDER BY in a derived table, so a wrapper would reorder rows, and SHOW,
DESCRIBE and EXPLAIN could not be wrapped at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Iterator
from typing import Any

import pymysql  # type: ignore[import-untyped]
from pymysql.protocol import MysqlPacket  # type: ignore[import-untyped]

from toolmesh.servers.sql.omission import RowBudget

__all__ = ["RowReader"]

_CONTINUED = 0xFFFFFF  # a packet of this length is continued in the next one
_CHUNK = 1 << 16  # bytes read at a time from a value that is dropped
_NULL = b"\xfb"


def _length_prefix(n: int) -> bytes:
    """The protocol's length-encoded integer for ``n``."""
    if n < 0xFB:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


class _Payload:
    """One row's payload, read across the packets it spans."""

    def __init__(self, conn: Any, length: int) -> None:
        self.conn = conn
        self.left = length
        self.more = length == _CONTINUED

    async def _next_packet(self) -> None:
        self.left = await _header(self.conn)
        self.more = self.left == _CONTINUED

    async def _piece(self, limit: int) -> bytes:
        while self.left == 0:
            if not self.more:
                raise pymysql.err.InternalError("a row packet ended before its last column")
            await self._next_packet()
        piece: bytes = await self.conn._read_bytes(min(limit, self.left))
        self.left -= len(piece)
        return piece

    async def read(self, n: int) -> bytes:
        parts = []
        while n > 0:
            piece = await self._piece(n)
            parts.append(piece)
            n -= len(piece)
        return b"".join(parts)

    async def skip(self, n: int) -> None:
        while n > 0:
            n -= len(await self._piece(min(n, _CHUNK)))

    async def length(self) -> int | None:
        """The next value's length, or None for NULL."""
        first = (await self.read(1))[0]
        if first < 0xFB:
            return first
        if first == 0xFB:
            return None
        width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
        return int.from_bytes(await self.read(width), "little")

    async def finish(self) -> None:
        while (
            self.left == 0 and self.more
        ):  # a payload of an exact multiple of 16 MB ends with an empty packet
            await self._next_packet()
        if self.left:
            raise pymysql.err.InternalError(f"a row packet has {self.left} bytes after its last column")


async def _header(conn: Any) -> int:
    """Read a packet header as aiomysql does (sequence numbers checked); the payload length."""
    try:
        header = await conn._read_bytes(4)
    except asyncio.CancelledError:
        conn._close_on_cancel()
        raise
    low, high, number = struct.unpack("<HBB", header)
    if number != conn._next_seq_id:
        conn.close()
        raise pymysql.err.InternalError(
            f"packet sequence number wrong: got {number}, expected {conn._next_seq_id}"
        )
    conn._next_seq_id = (conn._next_seq_id + 1) % 256
    return int(low + (high << 16))


class RowReader:
    """Reads a result's row packets for ``conn`` under ``budget``; ``omitted[n]`` maps the columns left out of
    the ``n``-th row read (from 0) to their sizes."""

    def __init__(self, conn: Any, budget: RowBudget) -> None:
        self.conn = conn
        self.budget = budget
        self.omitted: dict[int, dict[int, int]] = {}
        self._rows = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Stand in for the connection's packet reader while the rows are read."""
        self.conn._read_packet = self.read_packet
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError):
                del self.conn._read_packet

    async def read_packet(self, packet_type: Any = MysqlPacket) -> Any:
        length = await _header(self.conn)
        if length <= self.budget.max_bytes and length != _CONTINUED:  # a small row, or the closing EOF/error
            packet = packet_type(await self.conn._read_bytes(length), self.conn._encoding)
            if packet.is_error_packet():
                result = self.conn._result
                if result is not None and result.unbuffered_active is True:
                    result.unbuffered_active = False
                packet.raise_for_error()
        else:
            packet = packet_type(await self._big_row(_Payload(self.conn, length)), self.conn._encoding)
        self._rows += 1
        return packet

    async def _big_row(self, payload: _Payload) -> bytes:
        """The row's payload rebuilt with NULL for each value the budget leaves out."""
        kept: list[tuple[bytes | None, int | None]] = []  # (value, size) per column read so far
        omitted: dict[int, int] = {}
        total, over, share = 0, False, self.budget.share
        for column in range(len(self.conn._result.fields)):
            size = await payload.length()
            if size is None:
                kept.append((None, None))
                continue
            total += size
            if not over and total > self.budget.max_bytes:  # over the cap: drop what was kept over the share
                over = True
                for index, (_, earlier) in enumerate(kept):
                    if earlier is not None and earlier > share:
                        kept[index] = (None, earlier)
                        omitted[index] = earlier
            if over and size > share:
                await payload.skip(size)
                kept.append((None, size))
                omitted[column] = size
            else:
                kept.append((await payload.read(size), size))
        await payload.finish()
        if omitted:
            self.omitted[self._rows] = omitted
        return b"".join(_NULL if value is None else _length_prefix(len(value)) + value for value, _ in kept)
