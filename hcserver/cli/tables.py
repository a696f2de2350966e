"""hcq's tables: fitted to the terminal, never cutting an id, a state or a name.

Every column but one is as wide as its widest value; the one left (a note or a reason) takes
the rest of the terminal and wraps. When that leaves it too little, the columns that matter
least are left out, in a fixed order. ``--wide`` leaves nothing out and wraps nothing.

The columns' widths are known before anything is drawn, so a table is drawn as lines of text
(:class:`Lines`, printed by rich's console like any of its renderables), laid out as a rich
``Table`` without borders would be: rich's ``Table`` measures every cell of every row again,
which took 6.4 s for the 10,000 rows of a long queue (0.1 s so).
"""
from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hcserver import notes
from hcserver.states import PrinterState

if TYPE_CHECKING:
    import rich.console

#: The narrowest a wrapping column gets before other columns are left out for it.
MIN_FLEXIBLE = 24


def console(wide: bool = False) -> rich.console.Console:
    """The rich console, imported only by commands that draw tables (hcq starts faster).
    ``wide``: as wide as the content, whatever the terminal (for logs, pipes and wide screens)."""
    from rich.console import Console

    return Console(width=1 << 16) if wide else Console()


@dataclass
class Fitted:
    headers: list[str]
    rows: list[list[str]]
    widths: list[int]


def fit(headers: list[str], rows: list[list[str]], width: int | None, flexible: str,
        optional: tuple[str, ...] = ()) -> Fitted:
    """The columns of a table that fit ``width`` (None: any width), with their widths: see the
    module docstring. ``optional``: the columns that may be left out, the first one first."""
    keep = list(headers)

    def natural(name: str) -> int:
        at = headers.index(name)
        return max([len(name)] + [len(row[at]) for row in rows])

    def room() -> int:   # for the flexible column: each column has one space either side
        return (width or 0) - sum(natural(name) + 2 for name in keep if name != flexible) - 2

    if width is not None:
        for name in optional:
            if room() >= min(MIN_FLEXIBLE, natural(flexible)):
                break
            keep.remove(name)
    at = [headers.index(name) for name in keep]
    widths = [natural(name) if name != flexible or width is None else max(min(natural(name), room()), 8)
              for name in keep]
    return Fitted(keep, [[row[i] for i in at] for row in rows], widths)


@dataclass
class Lines:
    """A fitted table as lines of text: each cell padded to its column's width with a space
    either side, the wrapping column's text wrapped (a word longer than the column folded)."""
    title: str | None
    header: str
    rows: list[str]

    def __rich_console__(self, console: rich.console.Console, options: object) -> Iterator[object]:
        from rich.segment import Segment
        from rich.style import Style

        if self.title:
            yield Segment(self.title, Style(italic=True))
            yield Segment.line()
        yield Segment(self.header, Style(bold=True))
        yield Segment.line()
        for line in self.rows:
            yield Segment(line)
            yield Segment.line()


def _line(cells: list[str], widths: list[int]) -> str:
    return "".join(f" {cell.ljust(width)} " for cell, width in zip(cells, widths)).rstrip()


def _cell_lines(cell: str, width: int) -> list[str]:
    """A cell's lines: its own (a message may have several), each wrapped to ``width``."""
    out = []
    for line in cell.splitlines() or [""]:
        out += (textwrap.wrap(line, width, break_on_hyphens=False) or [""]) if len(line) > width else [line]
    return out


def render(fitted: Fitted, title: str | None = None) -> Lines:
    widths = fitted.widths
    lines = []
    for row in fitted.rows:
        parts = [_cell_lines(cell, width) for cell, width in zip(row, widths)]
        for k in range(max(len(part) for part in parts)):
            lines.append(_line([part[k] if k < len(part) else "" for part in parts], widths))
    return Lines(title, _line(fitted.headers, widths), lines)


def when(iso: str | None, now: datetime | None = None) -> str:
    """A server time (ISO 8601, UTC) as local time: the time alone today, else the date too."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso).astimezone()
    today = (now or datetime.now().astimezone()).date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M")


def job_note(job: dict, printers: dict[str, dict], pools: dict[str, dict] | None = None) -> str:
    """The job's note (hcserver.notes), its times in local time; its warnings: where to read them.
    ``printers``, ``pools``: their views by name."""
    note = notes.job_note(job, printers, when, pools)
    return f"{note}: hcq show {job['id']}" if note.endswith("warning(s)") else note


def printer_cell(job: dict) -> str:
    """Where a job was sent, and for a pool's job the member printing or that printed it."""
    member = job.get("printed_on")
    if member and member != job["printer"] and job["state"] not in ("pending", "held"):
        return f"{job['printer']} ({member})"
    return job["printer"]


def jobs_table(jobs: list[dict], printers: list[dict], width: int | None,
               pools: Sequence[dict] = ()) -> Lines:
    by_name, pools_by_name = {p["name"]: p for p in printers}, {p["name"]: p for p in pools}
    rows = [[str(job["id"]), job["state"], printer_cell(job), job["priority"],
             f"{job['films_printed']}/{job['films_total']}", str(job["attempts"]), job["owner"],
             when(job["created_at"]), job_note(job, by_name, pools_by_name)] for job in jobs]
    headers = ["ID", "STATE", "PRINTER", "PRI", "FILMS", "TRIES", "OWNER", "SUBMITTED", "NOTE"]
    return render(fit(headers, rows, width, "NOTE", optional=("SUBMITTED", "TRIES", "PRI", "OWNER")))


def printer_state(printer: dict) -> str:
    """The state the server gives (printing, retrying, removed, ...), else from the row."""
    return printer.get("state") or PrinterState.of(printer["enabled"], printer["stopped"]).value


def printer_reason(printer: dict) -> str:
    if printer.get("printing"):
        return f"job {printer['printing']}"
    retry = printer.get("retry")
    if printer_state(printer) == "retrying" and retry:
        return f"job {retry['job']} retries at {when(retry['at'])}: {retry['reason'] or 'after a failure'}"
    return printer.get("reason") or ""


def printers_table(data: list[dict], width: int | None) -> Lines:
    rows = []
    for p in data:
        status = " ".join(x for x in (p["dicom_status"], p["dicom_status_info"]) if x) or "-"
        rows.append([p["name"], p.get("driver") or "-", p.get("node") or "-", "yes" if p["enabled"] else "no",
                     "yes" if p["accepting"] else "no", printer_state(p), status, p.get("association") or "-",
                     str(p["queued"]), printer_reason(p)])
    headers = ["PRINTER", "DRIVER", "NODE", "ENABLED", "ACCEPTING", "STATE", "DICOM STATUS", "ASSOCIATION",
               "QUEUED", "REASON"]
    return render(fit(headers, rows, width, "REASON", optional=("NODE", "ASSOCIATION", "ENABLED", "DRIVER")),
                  title="printers")


def pools_table(data: list[dict], width: int | None) -> Lines:
    """Each pool: its printers in order, policy, queued jobs, where its jobs print, and the
    printer that would take its next job now."""
    rows = [[pool["name"], pool["policy"], ", ".join(pool["printers"]), str(pool["queued"]),
             pool["next"] or "none free", ", ".join(f"{p['job']} on {p['printer']}" for p in pool["printing"]) or "-"]
            for pool in data]
    headers = ["POOL", "POLICY", "PRINTERS", "QUEUED", "NEXT", "PRINTING"]
    return render(fit(headers, rows, width, "PRINTING", optional=("POLICY",)), title="pools")


def progress(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def watch_jobs_table(jobs: list[dict], printers: list[dict], width: int | None,
                     pools: Sequence[dict] = ()) -> Lines:
    by_name, pools_by_name = {p["name"]: p for p in printers}, {p["name"]: p for p in pools}
    rows = [[str(job["id"]), job["state"], printer_cell(job), job["priority"],
             progress(job["films_printed"], job["films_total"]), str(len(job["warnings"])),
             job_note(job, by_name, pools_by_name)] for job in jobs]
    headers = ["ID", "STATE", "PRINTER", "PRI", "FILMS", "WARNINGS", "NOTE"]
    return render(fit(headers, rows, width, "NOTE", optional=("WARNINGS", "PRI")), title="jobs")
