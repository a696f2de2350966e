"""The status page and the Prometheus metrics (``[web]``, off unless configured): a WSGI
application (Flask, hcserver.web.app) served by cheroot's threaded server in the daemon's
process, beside the socket.

Why these: the daemon is threads, not an event loop, and so is cheroot, a maintained,
production WSGI server with TLS of its own (a remote page needs it, as the TLS listener of
remote clients does); Flask renders the pages with Jinja2, which escapes every value it puts
into a page. A live page holds one of the server's threads for its event stream, so the
streams are bounded (``max_streams``) and the server has a few threads more than that for
everything else.
"""
from __future__ import annotations

import logging
import socket
import threading

from hcserver.access import LoginLinks
from hcserver.config import WebListener
from hcserver.events import EventBus
from hcserver.server import Operations
from hcserver.spool import Spool
from hcserver.web.live import Streams
from hcserver.web.metrics import Metrics

__all__ = ["Metrics", "WebServer"]

log = logging.getLogger(__name__)

#: Threads of the web server beyond the live pages' streams: for pages, actions and /metrics.
SPARE_THREADS = 4
#: What one request may send: its request line and headers, and its body (the page's forms are a
#: few fields). Past either, cheroot answers 413 and closes the connection, so a client cannot
#: make the daemon keep what it streams.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
#: A connection that sends nothing for this long is closed (a stream of events is written to, not read).
SOCKET_TIMEOUT_S = 10


class WebServer:
    def __init__(self, listener: WebListener, ops: Operations, bus: EventBus, spool: Spool, metrics: Metrics,
                 logins: LoginLinks):
        from cheroot import wsgi

        from hcserver.web.app import create_app

        self.listener = listener
        self.streams = Streams(bus, listener.max_streams)
        app = create_app(ops, logins, self.streams, metrics, spool, secure=listener.cert_file is not None,
                         max_body_bytes=MAX_BODY_BYTES)
        self.server = wsgi.Server((listener.host, listener.port), app, numthreads=listener.max_streams + SPARE_THREADS,
                                  server_name="hcserver", timeout=SOCKET_TIMEOUT_S)
        self.server.max_request_header_size = MAX_HEADER_BYTES
        self.server.max_request_body_size = MAX_BODY_BYTES
        if listener.cert_file and listener.key_file:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            self.server.ssl_adapter = BuiltinSSLAdapter(str(listener.cert_file), str(listener.key_file))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen (an error here stops the daemon's start), then serve on a thread of its own."""
        self.server.prepare()
        self._thread = threading.Thread(target=self.server.serve, name="web", daemon=True)
        self._thread.start()
        log.info("status page and metrics on %s", self.base_url)

    @property
    def port(self) -> int:
        return self.server.bind_addr[1]

    @property
    def base_url(self) -> str:
        host = self.listener.host if self.listener.host not in ("0.0.0.0", "::", "") else socket.getfqdn()
        host = f"[{host}]" if ":" in host else host
        return f"{self.listener.scheme}://{host}:{self.port}"

    def stop(self) -> None:
        self.streams.stop()
        self.server.stop()
