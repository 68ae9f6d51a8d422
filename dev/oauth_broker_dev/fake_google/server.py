"""Serving the fake on a loopback port with werkzeug's threaded server, in a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class FakeGoogleServer:
    """A running server: `.base_url`, `.host`, `.port`, `.stop()`; also a context manager."""

    def __init__(self, server: BaseWSGIServer, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port
        self.base_url = f"http://{host}:{self.port}"
        self.on_stop: Callable[[], None] | None = None
        self._stopped = False

    @classmethod
    def start(cls, app: Any, host: str = "127.0.0.1", port: int = 0) -> FakeGoogleServer:
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fake-google-{server.server_port}",
            daemon=True,
        )
        thread.start()
        return cls(server, thread, host)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
        if self.on_stop is not None:
            self.on_stop()

    def __enter__(self) -> FakeGoogleServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
