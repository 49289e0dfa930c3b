"""HTTP/1.1 connection timeouts: a deadline for the request head, and a keep-alive longer than clients'.

uvicorn's h11 protocol arms no timer while it waits for a request head: not when a connection opens, and
not once the first bytes of a request have arrived (they cancel the keep-alive timer). A client that
connects and sends nothing, or sends ``GET / HTTP/1.1\\r\\nHost: x\\r\\n`` and never the blank line
(slowloris), holds a connection, a file descriptor and a buffer for as long as it likes; a few thousand
of them exhaust the server. :class:`TimedH11Protocol` gives every request head ``header_timeout``
seconds, counted from the connection opening or from the first byte of the next request, then answers
408 and closes. ``h11_max_incomplete_event_size`` (64 KiB, see ``serving``) bounds the head's size.

Keep-alive: after a response uvicorn closes a connection that stays idle for ``timeout_keep_alive``
(5 s by default). httpx and httpcore keep idle pooled connections for 5 s too (``keepalive_expiry``), so a
client could pick a connection from its pool just as the server closed it, and its request failed with
``ReadError`` / ``RemoteProtocolError`` (the 4-in-3,301 errors under load in issue 15). The server's
idle timeout must outlast its clients' and its load balancer's: :data:`DEFAULT_KEEP_ALIVE` is 120 s,
above httpx's 5 s, aiohttp's 15 s, nginx's and AWS ALB's 60 s and Go's 90 s (see docs/serving.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_KEEP_ALIVE", "TimedH11Protocol", "timed_h11"]

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_KEEP_ALIVE = 120

_TIMEOUT_BODY = b"Request head not received in time; send the whole request head at once.\n"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline of ``header_timeout`` seconds for every request head."""

    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request is held no longer than a slow one

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm()  # the first bytes of a request start its clock (if the connection's is not running)
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer, handles pipelined requests
        if self._waiting_for_head() and self.conn.trailing_data[0]:
            self._arm()  # part of the next head arrived while we were answering

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        self.logger.info("closing a connection whose request head took over %ss", self.header_timeout)
        if self.conn.trailing_data[0]:  # a request was begun: tell the client why it is dropped
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


def timed_h11(header_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with this head deadline."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"header_timeout": header_timeout})
