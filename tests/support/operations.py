"""The request handling of a server without its sockets and workers: what the fuzzers drive."""
from __future__ import annotations

from pathlib import Path

from hcserver.audit import AuditLog
from hcserver.config import parse
from hcserver.db import make_engine, upgrade
from hcserver.events import EventBus
from hcserver.formatting import FormatPool
from hcserver.queue import JobQueue
from hcserver.server import Operations
from hcserver.spool import Spool

# Operations that need running printer workers; the daemon tests cover them.
NEEDS_WORKERS = {"printers", "enable", "disable", "accept", "reject", "echo", "reload", "probe"}


def make_operations(base: Path, printers: str = "") -> Operations:
    """``printers``: more printer tables, besides the preview printer ``film``."""
    config = parse(f'[server]\nstate_dir = "{base}"\n[printers.film]\ndriver = "preview"\ndpi = 20\n{printers}',
                   "fuzz")
    engine = make_engine(f"sqlite:///{base / 'queue.db'}")
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync(config.printers)
    return Operations(config, queue, Spool(base / "spool"), EventBus(), dispatcher=None,
                      audit=AuditLog(base / "audit.log"), formatting=FormatPool(1))
