"""Films are formatted in worker processes, never in the daemon's own threads.

Why processes: formatting is CPU work in Python and numpy (a 14x17 in film at 320 dpi takes
100-170 ms). In a thread it holds the interpreter lock that every printer's DICOM threads need,
so each association slowed down while any film was being formatted: the daemon used about 50 ms
of CPU per film where a bare pynetdicom loop uses 17 (bench/README.md). In processes it also
runs on the other cores, and a decoder that crashes or is killed (out of memory) takes only
its worker with it: the film's attempt fails with a retry and the next film gets a fresh worker.

The workers are forked from a forkserver that imported the formatter once, so a new worker is
ready in milliseconds. ``warm()`` starts the forkserver and a first worker in the background
when the daemon starts, so the first film does not wait for the imports.

Formatting is batch work beside the printers' DICOM traffic, which waits on every round trip:
the workers run at a lower CPU priority (:data:`NICENESS`), so on a busy machine a film being
formatted does not slow the film being sent.

The formatter is pure functions of (film spec, image files, printer profile), which is what
makes this safe: nothing but those arguments and the resulting :class:`FilmSheet` crosses the
process boundary.

A big box's pixels come back through a file, not the result pipe (:func:`_hand_over`): a 14x17
in film at 320 dpi and 12 bits is 48.7 MB, which through the pipe was pickled, written and read
in 1 MiB pieces and unpickled (three copies, some 100 ms of the daemon's CPU beside the
printers' DICOM threads, and two films' worth of its memory at the peak). The process writes
the pixels to a file of the daemon's private ``formatted/`` directory (0600 in 0700: they are
patient data), the daemon maps the file read-only and removes it at once, so the pixels are in
memory once, in pages the kernel can drop when the film is gone, and nothing is left on disk:
what a stop leaves there is removed at the next start, and the file of a process that died
writing it when the processes are replaced.
"""
from __future__ import annotations

import dataclasses
import fcntl
import logging
import mmap
import multiprocessing
import os
import select
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from hcserver import formatter
from hcserver.drivers.settings import PrinterConfig
from hcserver.filmplan import PlanError, plan_film
from hcserver.formatter.film import MAX_IMAGE_PIXELS, FilmSheet, PrinterProfile
from hcserver.statefiles import FILE_MODE, private_directory

log = logging.getLogger(__name__)

#: What an unexpected end of a formatting process looks like to the dispatcher.
FormattingCrashed = BrokenProcessPool

#: How much lower the formatting processes' CPU priority is than the daemon's (see above).
NICENESS = 10

#: The pipe a formatted film comes back through holds this much (Linux's default limit for a
#: pipe): a film of a few megabytes then crosses in a few large reads, not hundreds of 64 KiB
#: ones, each of which takes and gives back the interpreter lock the DICOM threads need.
RESULT_PIPE_BYTES = 1 << 20

#: The state directory's directory of pixels coming back from the formatting processes.
FORMATTED_DIR = "formatted"

#: A box's pixels of at least this many bytes come back through a file (module docstring).
HAND_OVER_BYTES = 1 << 20

#: A hand-over file this old is nobody's: its process died writing it (a film's file is mapped and
#: removed as soon as its process is done with the film, within seconds).
ORPHAN_AGE_S = 300.0

#: A box whose pixels were handed over: (its index in the sheet's boxes, file, shape, dtype).
HandedOver = tuple[int, str, tuple[int, ...], str]


def default_processes() -> int:
    """One per CPU, at most 4: more rarely helps (a printer takes a film at a time) and each
    process holds its own copy of the image being decoded."""
    return max(1, min(4, os.cpu_count() or 1))


def _worker_init(daemon_pid: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group; only the daemon decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    threading.Thread(target=_end_with, args=(daemon_pid,), name="end-with-daemon", daemon=True).start()


def _end_with(pid: int) -> None:
    """End this worker as soon as the daemon has ended, even by SIGKILL. A pool's worker would
    otherwise wait for work forever (it holds both ends of its own task pipe, so it never sees
    the daemon go), and so would the forkserver and the resource tracker it keeps open."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    select.select([handle], [], [])   # a pidfd becomes readable when its process ends
    os._exit(0)


def _widen_result_pipe(executor: ProcessPoolExecutor) -> None:
    """Give the pool's result pipe :data:`RESULT_PIPE_BYTES` (see there), if the system allows."""
    try:
        reader = executor._result_queue._reader    # type: ignore[attr-defined]  # private, not in typeshed
        fcntl.fcntl(reader.fileno(), fcntl.F_SETPIPE_SZ, RESULT_PIPE_BYTES)
    except (AttributeError, OSError) as exc:   # not Linux, another Python's pool, a lower pipe-max-size
        log.debug("the formatting result pipe keeps its default size: %s", exc)


def _ready() -> int:
    return os.getpid()


def _format_and_hand_over(film: dict, images: dict, profile: PrinterProfile, index: int,
                          directory: str | None) -> tuple[FilmSheet, list[HandedOver]]:
    """In a formatting process: format the film, and write each big box's pixels to a file of
    ``directory`` (the sheet then holds an empty array in its place)."""
    sheet = formatter.format_film(film, images, profile, index)
    if directory is None:
        return sheet, []
    handed: list[HandedOver] = []
    boxes = list(sheet.boxes)
    try:
        for k, box in enumerate(boxes):
            pixels = np.ascontiguousarray(box.pixels)
            if pixels.nbytes < HAND_OVER_BYTES:
                continue
            path = os.path.join(directory, f"{uuid.uuid4().hex}.pixels")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            handed.append((k, path, pixels.shape, pixels.dtype.str))
            with os.fdopen(fd, "wb") as file:
                file.write(pixels.data)
            boxes[k] = dataclasses.replace(box, pixels=np.empty((0,), pixels.dtype))
    except BaseException:
        for _k, path, _shape, _dtype in handed:
            _remove(path)
        raise
    return dataclasses.replace(sheet, boxes=tuple(boxes)), handed


def _take_back(sheet: FilmSheet, handed: list[HandedOver]) -> FilmSheet:
    """In the daemon: put each handed-over box's pixels back, mapped from its file; the files are
    removed, mapped or not (a mapping outlives its file's name)."""
    boxes = list(sheet.boxes)
    try:
        for k, path, shape, dtype in handed:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            boxes[k] = dataclasses.replace(boxes[k], pixels=np.frombuffer(mapped, np.dtype(dtype)).reshape(shape))
    finally:
        for _k, path, _shape, _dtype in handed:
            _remove(path)
    return dataclasses.replace(sheet, boxes=tuple(boxes))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _handed_back(inner: Future) -> Future:
    """A future of the sheet with its pixels taken back, once ``inner`` (the process's) is done."""
    outer: Future = Future()

    def done(inner: Future) -> None:
        try:
            sheet, handed = inner.result()
            result = _take_back(sheet, handed)
        except BaseException as exc:   # noqa: BLE001 - whatever it is, the film's waiter gets it
            outer.set_exception(exc)
        else:
            outer.set_result(result)

    inner.add_done_callback(done)
    return outer


def printer_profile(printer: PrinterConfig, film: dict, color: bool, index: int,
                    max_pixels: int = MAX_IMAGE_PIXELS) -> PrinterProfile:
    """What the formatter is told about ``printer`` for film ``index`` of a job (a normalised film
    spec): the printer's settings and the plan that fits the film to it (:mod:`hcserver.filmplan`,
    whose warnings become the film's first notes). Raises :class:`PlanError` if nothing fits."""
    plan = plan_film(film, printer, f"films[{index}].")
    return PrinterProfile(dpi=printer.dpi, bit_depth=plan.bit_depth, color=color,
                          magnification=film.get("magnification") or printer.defaults.magnification,
                          max_pixels=max_pixels, compose=plan.compose, notes=plan.warnings,
                          burn_presentation_lut=plan.burn_presentation_lut)


class FormatPool:
    """A pool of formatting processes shared by all printers (each printer waits for its own
    films, in order, so sharing costs no ordering)."""

    def __init__(self, processes: int | None = None, max_image_pixels: int = MAX_IMAGE_PIXELS,
                 hand_over_dir: Path | None = None):
        self.processes = processes or default_processes()
        self.max_image_pixels = max_image_pixels    # each image's budget, checked again before decoding
        # where big boxes' pixels come back (module docstring); None: through the result pipe
        self.hand_over_dir = hand_over_dir
        if hand_over_dir is not None:
            shutil.rmtree(hand_over_dir, ignore_errors=True)   # what a stopped daemon left
            private_directory(hand_over_dir)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["hcserver.formatter", "hcserver.formatter.pipeline"])
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._warming: threading.Thread | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the formatting pool is shut down")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.processes, mp_context=self._context,
                                                     initializer=_worker_init, initargs=(os.getpid(),))
                _widen_result_pipe(self._executor)
            return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                log.warning("a formatting process ended unexpectedly; starting new ones")
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)
        self.remove_orphans()

    def remove_orphans(self, now: float | None = None) -> int:
        """Remove the hand-over files older than :data:`ORPHAN_AGE_S` (a process that died while
        writing one leaves it); how many were removed."""
        if self.hand_over_dir is None:
            return 0
        limit, removed = (now if now is not None else time.time()) - ORPHAN_AGE_S, 0
        try:
            entries = list(os.scandir(self.hand_over_dir))
        except OSError:
            return 0
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        if removed:
            log.warning("removed %d formatted film file(s) left by a formatting process that ended", removed)
        return removed

    def format_film(self, film: dict, images: dict, profile: PrinterProfile, index: int) -> Future:
        """Format one film in a worker process; the future's result is a :class:`FilmSheet`, or
        the formatter's own error (OptionError, UnprintableImage), or :data:`FormattingCrashed`
        if a process died while formatting it (the next call then starts new processes)."""
        executor = self._pool()
        directory = None if self.hand_over_dir is None else str(self.hand_over_dir)
        try:
            inner = executor.submit(_format_and_hand_over, film, images, profile, index, directory)
        except BrokenProcessPool:   # an earlier film killed a worker: this one gets new ones
            self._replace(executor)
            inner = self._pool().submit(_format_and_hand_over, film, images, profile, index, directory)
        return _handed_back(inner)

    def format_job_film(self, printer: PrinterConfig, film: dict, color: bool, index: int,
                        image_path: Callable[[str], Path]) -> Future:
        """Format film ``index`` of a job (a normalised film spec) for ``printer``; its images are
        spool digests, found with ``image_path``. A film the printer can no longer print (its
        configuration changed) gives a future with the :class:`PlanError`."""
        try:
            profile = printer_profile(printer, film, color, index, self.max_image_pixels)
        except PlanError as exc:     # the printer's configuration changed since the job was checked
            failed: Future = Future()
            failed.set_exception(exc)
            return failed
        images = {frame["image"]: image_path(frame["image"]) for frame in film["frames"]}
        return self.format_film(film, images, profile, index)

    def warm(self) -> None:
        """Start the forkserver and one worker in the background; :meth:`wait_ready` waits for them."""
        def start() -> None:
            try:
                self._pool().submit(_ready).result()
            except Exception as exc:   # the first film will try again and report it
                log.warning("formatting processes did not start: %s", exc)
        self._warming = threading.Thread(target=start, name="format-warm-up", daemon=True)
        self._warming.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until :meth:`warm` is done (the daemon serves only then: its first film would
        otherwise wait for the formatter's imports)."""
        if self._warming is not None:
            self._warming.join(timeout)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        # a film still being formatted may yet write its file: the next start removes it
