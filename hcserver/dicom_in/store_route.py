"""The store route: a Storage SCP whose images are laid out and printed.

Every image is written to the spool and fsynced, and named in the association's journal
(fsynced too), before its C-STORE success goes back; so an image the modality was told is
stored is never lost, even if the daemon stops before the job is queued: the journals left
behind are queued at the next start (:func:`recover`), before anything collects images no job
uses (hcserver.uploads).

When a batch becomes jobs: at the association's end (release or abort), or after the route's
``quiet_s`` without an image. A batch's images become one job per study, ordered by Series
Number, then Instance Number, then arrival; every frame of a multi-frame image is printed. The
layout is the route's, else the automatic one (as ``hcq submit``); each frame is windowed by
the image's own first window, else by the route's preset for its Modality, else automatically.
"""
from __future__ import annotations

import io
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pydicom

from hcserver import formatter
from hcserver.config_dicom_in import DicomRoute
from hcserver.dicom_in.intake import Intake, Refused, owner
from hcserver.dicom_in.sop import (
    INVALID_ATTRIBUTE_VALUE,
    SESSION_QUEUE_FULL,
    STORE_CANNOT_UNDERSTAND,
    STORE_NOT_AN_IMAGE,
    STORE_OUT_OF_RESOURCES,
)
from hcserver.statefiles import fsync_directory, private_directory

log = logging.getLogger(__name__)

_HEADER_TAGS = ["StudyInstanceUID", "SeriesNumber", "InstanceNumber", "Modality", "PixelData", "FloatPixelData",
                "DoubleFloatPixelData"]


@dataclass(frozen=True)
class Stored:
    digest: str
    study: str
    series: int
    instance: int
    modality: str
    frames: int
    own_window: bool


def _number(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class Journal:
    """One batch's images on disk (JSON lines, the first naming the batch's origin)."""

    def __init__(self, directory: Path, origin: dict):
        private_directory(directory)
        self.path = directory / f"{uuid.uuid4().hex}.batch"
        self._file = open(self.path, "x", encoding="utf-8")   # noqa: SIM115 - kept open for the batch
        self._append(origin)
        fsync_directory(directory)

    def _append(self, entry: dict) -> None:
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        os.fdatasync(self._file.fileno())

    def add(self, stored: Stored) -> None:
        self._append(asdict(stored))

    def close(self, remove: bool) -> None:
        self._file.close()
        if remove:
            self.path.unlink(missing_ok=True)


def batch_specs(route: DicomRoute, images: list[Stored], max_films: int) -> list[dict]:
    """The job specs of a batch: one per study (in order of arrival), images sorted."""
    studies: dict[str, list[tuple[int, Stored]]] = {}
    for arrival, image in enumerate(images):
        studies.setdefault(image.study, []).append((arrival, image))
    specs = []
    for entries in studies.values():
        entries.sort(key=lambda e: (e[1].series, e[1].instance, e[0]))
        frames = []
        for _arrival, image in entries:
            window = route.windows.get(image.modality.upper()) if not image.own_window else None
            for k in range(image.frames):
                frame: dict = {"image": image.digest, "frame": k}
                if window is not None:
                    frame["window"] = dict(window)
                frames.append(frame)
        base = {"printer": route.printer, "copies": route.copies, "priority": route.priority}
        base.update({k: v for k, v in (("layout", route.layout), ("film_size", route.film_size),
                                        ("orientation", route.orientation)) if v is not None})
        # a job has at most max_films films: a larger study is queued as several jobs
        per_film = formatter.film_box_count(route.layout) if route.layout else None
        chunk = max_films * per_film if per_film else len(frames)
        for i in range(0, len(frames), chunk or 1):
            specs.append({**base, "images": frames[i:i + chunk]})
    return specs


class StoreAssociation:
    """One association of the store route: its batch, and the C-STOREs that fill it."""

    def __init__(self, intake: Intake, route: DicomRoute, calling_ae: str, journal_dir: Path, max_bytes: int,
                 schedule: Callable[[float, Callable[[], object]], threading.Timer] | None = None):
        self.intake, self.route, self.journal_dir = intake, route, journal_dir
        self.owner = owner(calling_ae, route.ae_title)
        self.max_bytes = max_bytes
        self._schedule = schedule
        self._lock = threading.Lock()
        self._images: list[Stored] = []
        self._journal: Journal | None = None
        self._timer: threading.Timer | None = None
        self.received = 0          # bytes of this association's images
        self.jobs: list[int] = []

    def c_store(self, data: bytes) -> int:
        """One C-STORE's data set as a DICOM file (File Meta Information included): spooled,
        journalled, then answered."""
        if self.received + len(data) > self.max_bytes:
            return STORE_OUT_OF_RESOURCES
        try:
            header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=False, specific_tags=_HEADER_TAGS,
                                     defer_size=64)
        except Exception:   # noqa: BLE001 - whatever pydicom makes of a bad stream, the answer is the same
            return STORE_CANNOT_UNDERSTAND
        if not any(k in header for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            return STORE_NOT_AN_IMAGE
        try:
            self.intake.room(STORE_OUT_OF_RESOURCES)
            digest = self.intake.put(data, STORE_CANNOT_UNDERSTAND, decode=False)
            info = self.intake.image_info(digest)
        except Refused as exc:
            log.warning("store route %s: image refused: %s", self.route.ae_title, exc.comment)
            return exc.status
        stored = Stored(digest, str(header.get("StudyInstanceUID", "")), _number(header.get("SeriesNumber")),
                        _number(header.get("InstanceNumber")), str(header.get("Modality", "") or ""),
                        info.frames, bool(info.vois))
        with self._lock:
            try:
                if self._journal is None:
                    self._journal = Journal(self.journal_dir, {"owner": self.owner, "route": self.route.ae_title})
                self._journal.add(stored)
            except OSError as exc:
                log.error("store route %s: cannot write its journal: %s", self.route.ae_title, exc)
                return STORE_OUT_OF_RESOURCES
            self._images.append(stored)
            self.received += len(data)
            self._restart_timer()
        return 0x0000

    def _restart_timer(self) -> None:
        if self.route.quiet_s is None or self._schedule is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._schedule(self.route.quiet_s, self.flush)

    def flush(self) -> list[int]:
        """Queue the batch received so far; its journal goes once its jobs are committed (a batch
        that cannot be queued now keeps its journal, and is queued at the next start)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            images, journal = self._images, self._journal
            self._images, self._journal = [], None
        if journal is None:
            return []
        jobs = queue_batch(self.intake, self.route, self.owner, images)
        journal.close(remove=jobs is not None)
        self.jobs.extend(jobs or [])
        return jobs or []


def queue_batch(intake: Intake, route: DicomRoute, origin: str, images: list[Stored]) -> list[int] | None:
    """Queue a batch's jobs; None if they could not be queued (the reason is logged)."""
    jobs = []
    for spec in batch_specs(route, images, intake.config.max_films_per_job):
        try:
            queued = intake.submit(origin, spec, status=INVALID_ATTRIBUTE_VALUE, queue_full=SESSION_QUEUE_FULL,
                                   details={"origin": origin, "route": route.ae_title})
        except Refused as exc:
            log.error("store route %s: the images of %s cannot be queued: %s", route.ae_title, origin, exc.comment)
            return None
        except Exception:   # noqa: BLE001 - the queue is down: the journal keeps the batch
            log.exception("store route %s: the images of %s cannot be queued now", route.ae_title, origin)
            return None
        jobs.append(queued.job)
    return jobs


def recover(intake: Intake, routes: dict[str, DicomRoute], journal_dir: Path) -> list[int]:
    """Queue the batches a stopped daemon left in ``journal_dir`` (see the module docstring)."""
    if not journal_dir.is_dir():
        return []
    jobs: list[int] = []
    for path in sorted(journal_dir.glob("*.batch")):
        try:
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError):
            lines = []   # a half-written last line is what a crash leaves: the whole lines before it count
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    break
        if not lines:
            path.unlink(missing_ok=True)
            continue
        origin, entries = lines[0], lines[1:]
        route = routes.get(origin.get("route", ""))
        images = [Stored(**entry) for entry in entries if intake.spool.exists(entry.get("digest", ""))]
        if route is None or not images:
            log.warning("front door: batch %s of %s left unqueued (route %s %s)", path.name, origin.get("owner"),
                        origin.get("route"), "no longer configured" if route is None else "has no image")
            if route is not None:
                path.unlink(missing_ok=True)
            continue
        queued = queue_batch(intake, route, origin["owner"], images)
        if queued is not None:
            jobs.extend(queued)
            path.unlink(missing_ok=True)
    return jobs
