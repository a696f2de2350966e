"""``[server] spool``: a directory path (images as files), or ``"database"`` (images in the
queue's PostgreSQL database, for nodes without a shared directory: hcserver.dbspool), where the
node keeps its cache of them in ``spool-cache/`` of its state directory (README, "Several
nodes"). Checked as every key of the configuration is (hcserver.configerrors)."""
from __future__ import annotations

from pathlib import Path

from hcserver.configerrors import Collector, ConfigError

DATABASE = "database"
CACHE = Path("spool-cache")   # with the database spool: this node's copies of its images


def parse_spool(file: str, value: str, database: str, found: Collector) -> tuple[Path, bool]:
    """The spool directory (relative to the state directory) and whether the images are in the
    database; ``database``: the queue's SQLAlchemy URL."""
    if value != DATABASE:
        return Path(value), False
    if not database.startswith("postgresql"):
        found.errors.append(ConfigError(file, "server.spool", 'spool = "database" needs the queue in PostgreSQL '
                                        '(several nodes); with SQLite (one node) images stay in the file spool'))
    return CACHE, True
