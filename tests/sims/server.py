"""A simulator served over real HTTP on a free loopback port, in a background thread."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """Serve `handler` (a Request -> Response function); yields the base URL, http://127.0.0.1:PORT."""

    @Request.application
    def app(request: Request) -> Any:
        return handler(request)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="platform-simulator", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
