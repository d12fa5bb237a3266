"""uvicorn's HTTP/1.1 protocol with a header timeout: a connection that has not sent a
complete request head within the timeout (a fresh one, or a keep-alive one after its last
response) is closed, so half-open or trickling connections cannot pile up."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """``H11Protocol`` that closes connections slower than ``header_timeout_s`` to send a
    request's headers (seconds)."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timeout()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timeout()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timeout(self) -> None:
        waiting_for = self.cycle  # a request whose headers arrive replaces the cycle
        previous = getattr(self, "_header_timer", None)
        if previous is not None:
            previous.cancel()

        def expire() -> None:
            if self.cycle is waiting_for and not self.transport.is_closing():
                self.transport.close()

        self._header_timer = self.loop.call_later(self.header_timeout_s, expire)


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class to give uvicorn (``http=``) for a header timeout in seconds."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,),
                {"header_timeout_s": float(seconds)})
