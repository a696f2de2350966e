"""Building blocks of the Print SCU tests: film sheets built by hand, printer settings, running a
job through a driver and watching what it reports."""
from __future__ import annotations

import numpy as np
import pytest

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.drivers.base import Action, JobTicket, PrinterStatus, PrintFailure
from hcserver.drivers.dicom import DicomDriver
from hcserver.formatter.film import BoxRect, FilmSheet, ImageBox

SERVER = ServerConfig(source="<test>", ae_title="HCTEST")


class RecordingObserver:
    """A JobObserver that keeps every call."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, int | None, str]] = []
        self.statuses: list[PrinterStatus] = []
        self.exchanges: list[tuple[str, str, int | None, str, float]] = []
        self.accepted: list[tuple[int, str | None, int]] = []   # (film, output, exchanges so far)
        self.print_jobs: list[tuple[tuple[int, ...], str, str]] = []   # (films, status, info)

    def warning(self, operation: str, status: int | None, meaning: str) -> None:
        self.warnings.append((operation, status, meaning))

    def printer_status(self, status: PrinterStatus) -> None:
        self.statuses.append(status)

    def dimse(self, operation: str, sop_class: str, status: int | None, meaning: str,
              seconds: float) -> None:
        self.exchanges.append((operation, sop_class, status, meaning, seconds))

    def film_accepted(self, index: int, output: str | None) -> None:
        self.accepted.append((index, output, len(self.exchanges)))

    def print_job(self, films: tuple[int, ...], status: str, info: str) -> None:
        self.print_jobs.append((films, status, info))

    def operations(self) -> list[tuple[str, str]]:
        return [(op, sop) for op, sop, *_ in self.exchanges]


def gradient(rows: int, cols: int, top: int = 255, dtype=np.uint8) -> np.ndarray:
    return (np.arange(rows * cols, dtype=np.uint32).reshape(rows, cols) % (top + 1)).astype(dtype)


def sheet(index: int = 0, fmt: str = "STANDARD\\2,2", film_size: str = "14INX17IN",
          shapes: list[tuple[int, int]] | None = None, bits: int = 8, color: bool = False,
          **attrs) -> FilmSheet:
    columns, rows = (int(n) for n in fmt.split("\\")[1].split(","))
    count = columns * rows
    shapes = shapes or [(96, 80)] * count
    boxes = []
    for position, (r, c) in enumerate(shapes, start=1):
        if color:
            pixels = np.dstack([gradient(r, c)] * 3)
        elif bits == 12:
            pixels = gradient(r, c, top=4095, dtype=np.uint16)
        else:
            pixels = gradient(r, c)
        boxes.append(ImageBox(position=position, pixels=pixels))
    rects = tuple(BoxRect(0, 0, 10, 10) for _ in range(count))
    return FilmSheet(index=index, display_format=fmt, film_size=film_size, orientation="PORTRAIT",
                     film_pixels=(4480, 5440), rects=rects, boxes=tuple(boxes), bit_depth=bits,
                     color=color, **attrs)


def printer(port: int, ae_title: str = "HCSIM", **overrides) -> PrinterConfig:
    settings = dict(name="test", driver="dicom", host="127.0.0.1", port=port, ae_title=ae_title,
                    connect_timeout_s=3.0, acse_timeout_s=5.0, dimse_timeout_s=5.0,
                    network_timeout_s=30.0)
    settings.update(overrides)
    return PrinterConfig(**settings)


def run_job(driver: DicomDriver, sheets: list[FilmSheet], ticket: JobTicket | None = None,
            observer: RecordingObserver | None = None) -> RecordingObserver:
    """Print ``sheets`` in one session; the observer that saw it."""
    observer = observer or RecordingObserver()
    ticket = ticket or JobTicket(job_id=1, films_total=len(sheets))
    with driver.session(ticket, observer) as session:
        for s in sheets:
            session.print_film(s)
    return observer


def expect_failure(driver: DicomDriver, sheets: list[FilmSheet], action: Action,
                   observer: RecordingObserver | None = None) -> PrintFailure:
    with pytest.raises(PrintFailure) as info:
        run_job(driver, sheets, observer=observer)
    assert info.value.action is action, info.value.reason
    return info.value
