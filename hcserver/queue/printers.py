"""Printers: their rows (one per configured printer, shared by the nodes) and what they show."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hcserver.errors import ErrorCode
from hcserver.events import JobChange, Notice
from hcserver.models import Job, Printer
from hcserver.queue.store import QueueError, Store, iso, node_of, utcnow
from hcserver.states import UNFINISHED


def unknown_printer(name: str) -> QueueError:
    return QueueError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r}")


class Printers:
    def __init__(self, store: Store):
        self.store = store

    def sync(self, names: Iterable[str]) -> None:
        """Give every configured printer its row (several nodes may do this at the same time)."""
        rows = [{"name": name, "enabled": True, "accepting": True, "stopped": False, "updated_at": utcnow()}
                for name in names]
        if not rows:
            return
        dialect = self.store.engine.dialect.name
        insert_rows = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(Printer)
        with self.store.writing() as session:
            session.execute(insert_rows.on_conflict_do_nothing(index_elements=["name"]), rows)

    def get(self, name: str) -> Printer:
        with self.store.reading() as session:
            printer = session.get(Printer, name)
            if printer is None:
                raise unknown_printer(name)
            return printer

    def update(self, name: str, **changes) -> Printer:
        """Change a printer's row; nothing is written (or announced) when nothing differs, as
        when each job's N-GET finds the printer as it was."""
        with self.store.writing() as session:
            printer = session.get(Printer, name)
            if printer is None:
                raise unknown_printer(name)
            if all(getattr(printer, key) == value for key, value in changes.items()):
                return printer
            for key, value in changes.items():
                setattr(printer, key, value)
            printer.updated_at = utcnow()
        self.store.notify(JobChange(0, name, Notice.PRINTER, ""))
        return printer

    def views(self) -> list[dict]:
        now = utcnow()
        with self.store.reading() as session:
            counts = dict(session.execute(
                select(Job.printer, func.count()).where(Job.state.in_([s.value for s in UNFINISHED]))
                .group_by(Job.printer)).all())
            return [{"name": p.name, "enabled": p.enabled, "accepting": p.accepting, "stopped": p.stopped,
                     "dicom_status": p.dicom_status, "dicom_status_info": p.dicom_status_info,
                     "reason": p.reason, "queued": counts.get(p.name, 0), "updated_at": iso(p.updated_at),
                     "node": node_of(p.driver_owner) if p.driver_until and p.driver_until > now else None}
                    for p in session.scalars(select(Printer).order_by(Printer.name))]
