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
"""
from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import select
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from hcserver import formatter
from hcserver.drivers.settings import PrinterConfig
from hcserver.filmplan import PlanError, plan_film
from hcserver.formatter.film import MAX_IMAGE_PIXELS, PrinterProfile

log = logging.getLogger(__name__)

#: What an unexpected end of a formatting process looks like to the dispatcher.
FormattingCrashed = BrokenProcessPool

#: How much lower the formatting processes' CPU priority is than the daemon's (see above).
NICENESS = 10

#: The pipe a formatted film comes back through holds this much (Linux's default limit for a
#: pipe): a film of a few megabytes then crosses in a few large reads, not hundreds of 64 KiB
#: ones, each of which takes and gives back the interpreter lock the DICOM threads need.
RESULT_PIPE_BYTES = 1 << 20


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

    def __init__(self, processes: int | None = None, max_image_pixels: int = MAX_IMAGE_PIXELS):
        self.processes = processes or default_processes()
        self.max_image_pixels = max_image_pixels    # each image's budget, checked again before decoding
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

    def format_film(self, film: dict, images: dict, profile: PrinterProfile, index: int) -> Future:
        """Format one film in a worker process; the future's result is a :class:`FilmSheet`, or
        the formatter's own error (OptionError, UnprintableImage), or :data:`FormattingCrashed`
        if a process died while formatting it (the next call then starts new processes)."""
        executor = self._pool()
        try:
            return executor.submit(formatter.format_film, film, images, profile, index)
        except BrokenProcessPool:   # an earlier film killed a worker: this one gets new ones
            self._replace(executor)
            return self._pool().submit(formatter.format_film, film, images, profile, index)

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
