"""Database engine and schema upgrades (Alembic, run at daemon start)."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, inspect, select

# Found by name, not imported: the migrations import this module (env.py), not the other way.
MIGRATIONS_DIR = Path(str(files("hcserver.migrations")))


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    else:  # e.g. postgresql+psycopg://…: a pool that notices connections the server dropped
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None   # we emit BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed job survives a power loss too
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            # A writing transaction takes the write lock before it reads, so two threads can
            # never both read "pending" and both act on it (e.g. claim and cancel).
            immediate = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    return engine


WRITE_OPTION = "hcserver_write"


def writer(engine: Engine) -> Engine:
    """The same engine, for transactions that write (SQLite: BEGIN IMMEDIATE)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


#: PostgreSQL advisory lock key held while migrating (nodes starting together migrate one at a time)
MIGRATION_LOCK = 0x6863736D   # "hcsm"


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":   # released when this transaction ends
            connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
