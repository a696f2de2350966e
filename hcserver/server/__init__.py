"""The request server: the sockets (``transport``; what a client may hold: ``admission``) and what
each request does (``operations``, an explicit table of operations, with the handlers in
``jobs``, ``images`` and ``printers``)."""
from hcserver.server.operations import Operations
from hcserver.server.transport import SocketServer, TlsServer

__all__ = ["Operations", "SocketServer", "TlsServer"]
