"""What the nodes sharing one PostgreSQL queue must have alike, checked at each node's start:
the spool their jobs' images are in, and their printers.

- **The spool.** The database records which spool the nodes use (``shared_settings``, row
  ``spool``): ``database``, or a file spool by the random id of the marker file
  (:data:`MARKER_NAME`) the first node wrote into it. A node whose spool is another one (no
  marker, another marker, the other kind) refuses to start and says why: it would fail every
  job it took over from the other nodes. The record is replaced only when nothing depends on
  it: no other node connected and no unfinished job. (Moving a spool directory moves its marker.)
- **The printers and pools.** Each node records a fingerprint of each printer's configuration,
  and of each pool's (``node_printers``; a pool as "pool NAME": a job sent to a pool may be
  claimed by any node driving a member, so every node must offer its members alike). A node
  whose printers or pools differ from those of a connected node refuses to start, naming them.
  A reload is applied whatever the other nodes have (a rolling change reloads the nodes one
  after the other) and records the node's new fingerprints; its answer and the log name the
  printers and pools that differ from connected nodes until they are reloaded too.

A node is connected while its listening connection is (hcserver.channel). SQLite has one node:
nothing is checked there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, Row, func, select
from sqlalchemy.dialects.postgresql import insert

from hcserver.channel import listed_as
from hcserver.config import ServerConfig
from hcserver.models import Job, NodePrinters, SharedSetting
from hcserver.statefiles import fsync_directory, open_private, private_directory
from hcserver.states import UNFINISHED

log = logging.getLogger(__name__)

MARKER_NAME = ".hcserver-spool"   # in a file spool: its id, which the database records
SHARING_LOCK = 0x68637368         # "hcsh": one node at a time checks and records
DATABASE = "database"


class NotShared(RuntimeError):
    """This node does not have what the other nodes have: it must not start."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def fingerprints(config: ServerConfig) -> dict[str, str]:
    """Each printer's configuration, and each pool's (as "pool NAME"), as a short digest (equal
    configurations, equal digests)."""
    def digest(settings) -> str:
        text = json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    found = {name: digest(printer) for name, printer in config.printers.items()}
    found.update({f"pool {name}": digest(pool) for name, pool in config.pools.items()})
    return found


def differences(mine: dict[str, str], theirs: dict[str, str], node: str) -> list[str]:
    """The printers and pools that differ, each with how."""
    found = []
    for name in sorted(mine.keys() | theirs.keys()):
        if name not in theirs:
            found.append(f"{name} (only on this node)")
        elif name not in mine:
            found.append(f"{name} (only on {node})")
        elif mine[name] != theirs[name]:
            found.append(f"{name} (configured differently)")
    return found


def spool_marker(spool: Path) -> str | None:
    try:
        return (spool / MARKER_NAME).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _write_marker(spool: Path) -> str:
    marker = secrets.token_hex(16)
    private_directory(spool)   # a new spool: the first node creates it (its prefix directories: hcserver.spool)
    fd, _ = open_private(spool / MARKER_NAME, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(marker + "\n")
        out.flush()
        os.fsync(out.fileno())
    fsync_directory(spool)
    return marker


class Sharing:
    """The checks of one node (``owner``: "node#incarnation"); ``connected`` gives the node
    processes connected now (this one included), as hcserver.channel lists them."""

    def __init__(self, engine: Engine, owner: str, connected: Callable[[], set[str]]):
        self.engine, self.owner, self.connected = engine, owner, connected
        self.node = owner.rpartition("#")[0]

    def check_at_start(self, config: ServerConfig) -> None:
        """Refuse (NotShared) a spool, printers or pools unlike the other nodes'; else record this node's."""
        with self.engine.begin() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(SHARING_LOCK)))
            others = self.connected() - {listed_as(self.owner)}
            self._check_spool(connection, config, others)
            mine = fingerprints(config)
            for node, theirs in self._connected_printers(connection, others).items():
                differ = differences(mine, theirs, node)
                if differ:
                    raise NotShared(f"this node's printers and pools are not those of node {node}: "
                                    f"{', '.join(differ)}; give every node the same printers and pools")
            self._record_printers(connection, mine)

    def record_printers(self, config: ServerConfig) -> dict[str, list[str]]:
        """After a reload: record this node's printers and pools; the connected nodes whose
        printers or pools differ, with those that do."""
        mine = fingerprints(config)
        with self.engine.begin() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(SHARING_LOCK)))
            self._record_printers(connection, mine)
            others = self.connected() - {listed_as(self.owner)}
            found = {node: differences(mine, theirs, node)
                     for node, theirs in self._connected_printers(connection, others).items()}
        return {node: differ for node, differ in found.items() if differ}

    # ---- the spool -------------------------------------------------------------------

    def _check_spool(self, connection: Connection, config: ServerConfig, others: set[str]) -> None:
        recorded = connection.execute(select(SharedSetting.value, SharedSetting.node, SharedSetting.updated_at)
                                      .where(SharedSetting.name == "spool")).first()
        if config.spool_in_database:
            mine: str | None = DATABASE
        else:
            mine = spool_marker(config.spool)
            mine = None if mine is None else f"file {mine}"
        if recorded is not None and recorded.value == mine:
            return
        unfinished = connection.scalar(select(func.count()).select_from(Job).where(
            Job.state.in_([s.value for s in UNFINISHED])))
        if recorded is not None and (others or unfinished):
            raise NotShared(self._spool_refusal(config, recorded, mine, others, unfinished or 0))
        if mine is None:
            mine = f"file {_write_marker(config.spool)}"
        if recorded is not None:
            log.warning("the spool the nodes use is now this node's (%s; it was node %s's, and no other node "
                        "is connected and no job is unfinished)", mine, recorded.node)
        connection.execute(insert(SharedSetting).values(name="spool", value=mine, node=self.node, updated_at=_now())
                           .on_conflict_do_update(index_elements=["name"],
                                                  set_={"value": mine, "node": self.node, "updated_at": _now()}))

    @staticmethod
    def _spool_refusal(config: ServerConfig, recorded: Row, mine: str | None, others: set[str],
                       unfinished: int) -> str:
        who = (f"the other nodes ({', '.join(sorted({o.rpartition('#')[0] for o in others}))})" if others
               else f"the spool of the {unfinished} unfinished job(s)")
        since = f"recorded by node {recorded.node} on {recorded.updated_at:%Y-%m-%d %H:%M} UTC"
        if recorded.value == DATABASE:
            return (f"this node keeps images in the file spool {config.spool}, but {who} keep them in the "
                    f"database ({since}): set spool = \"database\" on this node too")
        if mine == DATABASE:
            return (f"this node has spool = \"database\", but {who} keep images in a shared spool directory "
                    f"({since}): set spool to that directory on this node too")
        found = "no marker file" if mine is None else f"the marker file of another spool ({mine.split()[1]})"
        return (f"this node's spool {config.spool} is not the one {who} use: it has {found} {MARKER_NAME}, "
                f"where the shared spool has {recorded.value.split()[1]} ({since}); mount the shared spool "
                f"directory there (or set spool to where it is mounted), or use spool = \"database\" on every node")

    # ---- the printers ------------------------------------------------------------------

    def _connected_printers(self, connection: Connection, others: set[str]) -> dict[str, dict[str, str]]:
        rows = connection.execute(select(NodePrinters.node, NodePrinters.owner, NodePrinters.printers)
                                  .where(NodePrinters.node != self.node)).all()
        return {row.node: row.printers for row in rows if listed_as(row.owner) in others}

    def _record_printers(self, connection: Connection, mine: dict[str, str]) -> None:
        values = {"owner": self.owner, "printers": mine, "updated_at": _now()}
        connection.execute(insert(NodePrinters).values(node=self.node, **values)
                           .on_conflict_do_update(index_elements=["node"], set_=values))
