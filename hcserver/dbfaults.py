"""What a fault of the queue database means, in words a user or an operator can act on.

A database that cannot be written (a full disk, a read-only file or file system) or reached is
no bug of the request that met it: clients get ``database-unavailable`` with these words, never
the driver's exception. SQLite says what happened in its result codes (sqlite3 exceptions carry
them since Python 3.11), PostgreSQL in its SQLSTATE.
"""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

WRITE = "the queue database cannot be written"
USE = "the queue database cannot be used"

# SQLite primary result codes (the low byte of an extended code), https://sqlite.org/rescode.html
_SQLITE: dict[int, tuple[str, str]] = {
    3: (USE, "permission denied"),                                     # SQLITE_PERM
    5: (USE, "it is locked by another process"),                       # SQLITE_BUSY
    6: (USE, "it is locked by another process"),                       # SQLITE_LOCKED
    8: (WRITE, "its file is read-only"),                               # SQLITE_READONLY
    10: (USE, "the disk reported an I/O error"),                       # SQLITE_IOERR
    11: (USE, "its file is damaged"),                                  # SQLITE_CORRUPT
    13: (WRITE, "the disk is full"),                                   # SQLITE_FULL
    14: (USE, "its file cannot be opened"),                            # SQLITE_CANTOPEN
    26: (USE, "its file is not an SQLite database"),                   # SQLITE_NOTADB
}

# PostgreSQL SQLSTATEs and classes
_POSTGRES: dict[str, tuple[str, str]] = {
    "53100": (WRITE, "the database server's disk is full"),
    "25006": (WRITE, "the database is read-only"),
    "53300": (USE, "the database server has too many connections"),
    "57P01": (USE, "the database server ended the connection"),
    "57P02": (USE, "the database server is shutting down"),
    "57P03": (USE, "the database server is not accepting connections yet"),
}
_POSTGRES_CLASSES: dict[str, tuple[str, str]] = {
    "08": (USE, "the database server cannot be reached"),
    "53": (USE, "the database server is out of resources"),
    "58": (USE, "the database server reported a system error"),
}


def database_fault(exc: BaseException) -> str | None:
    """Words for ``exc`` if it is a fault of the database itself, else None (a bug)."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    found = None
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        found = _SQLITE.get(code & 0xFF)   # the primary code: what an operator can act on
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        found = _POSTGRES.get(state) or _POSTGRES_CLASSES.get(state[:2])
    if found:
        return f"{found[0]}: {found[1]}"
    if isinstance(exc, OperationalError):   # e.g. a connection refused: the driver's first line says it
        detail = str(orig).strip().splitlines()[0] if str(orig).strip() else "the database did not answer"
        return f"{USE}: {detail}"
    return None
