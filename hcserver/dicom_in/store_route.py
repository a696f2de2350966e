"""The store route: a Storage SCP whose images are laid out and printed.

Durability: an image the modality was told is stored is never lost, even if the daemon stops
(or the machine loses power) before its job is queued. Each C-STORE's data set, once checked
(a printable image, see ``Intake.check``), is appended to its association's journal, a file in
the state directory, with one ``fdatasync`` (the bytes and the file's new length), before its
success goes back; the journal was created, and its directory fsynced, at the batch's first
image. So every acknowledged image is on disk, whole, in a journal, and a crash can only cut a
record that was never acknowledged (:func:`read_journal` stops there).

A batch is filed (:meth:`StoreAssociation.flush`): each image from the journal into the spool
(``Spool.put``: written, fsynced, renamed, its directory fsynced; or committed to the database
spool), then its jobs committed, and only then the journal removed. A journal left by a stop
is filed the same way at the next start (:func:`recover`), before anything collects images no
job uses (hcserver.uploads); filing again what was filed already is harmless (the spool is
content-addressed; a job queued again within the duplicate window is found, not queued twice).

Why a journal of the bytes, not the spool at once: one ``fdatasync`` of an appended file per
image, where writing each image to the spool as it arrives took three syncs (the file, its
directory for the rename, the journal's line). The images are written twice (journal, spool),
the second time after the association, off the modality's clock; the journal is bounded by
``max_association_bytes``, and free spool space is checked before each image as before.

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
from dataclasses import dataclass
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

_PIXEL_TAGS = ["PixelData", "FloatPixelData", "DoubleFloatPixelData"]


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
    """One batch's images on disk: a JSON line naming the batch's origin, then per image a
    JSON line of its facts (``bytes``: its length) followed by the image file's bytes and a
    newline (see the module docstring)."""

    def __init__(self, directory: Path, origin: dict):
        private_directory(directory)
        self.path = directory / f"{uuid.uuid4().hex}.batch"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self._size = 0
        try:
            self._append([json.dumps(origin).encode() + b"\n"])
            fsync_directory(directory)
        except OSError:
            self.close(remove=True)
            raise

    def _append(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` at the end and fdatasync; a failed append is cut off again."""
        try:
            for chunk in chunks:
                with memoryview(chunk) as view:
                    done = 0
                    while done < len(view):
                        done += os.write(self._fd, view[done:])
            os.fdatasync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
                os.lseek(self._fd, self._size, os.SEEK_SET)
            except OSError:
                pass
            raise
        self._size += sum(len(chunk) for chunk in chunks)

    def add(self, facts: dict, data: bytes) -> int:
        """Append an image; the offset of its bytes in the journal."""
        line = json.dumps({**facts, "bytes": len(data)}).encode() + b"\n"
        offset = self._size + len(line)
        self._append([line, data, b"\n"])
        return offset

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._reader(), length, offset)

    def _reader(self) -> int:
        fd = self.__dict__.get("_rfd")
        if fd is None:
            fd = self._rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def close(self, remove: bool) -> None:
        for fd in (self._fd, self.__dict__.pop("_rfd", None)):
            if fd is not None:
                os.close(fd)
        self._fd = -1
        if remove:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Received:
    """An image acknowledged and journalled, not yet filed into the spool."""
    facts: dict                  # Stored's fields but the digest
    offset: int                  # of its bytes in the journal
    length: int
    info: formatter.ImageInfo
    key: str                     # what it is charged under (hcserver.dicom_in.space)


def read_journal(path: Path) -> tuple[dict | None, list[tuple[dict, bytes | None]]]:
    """A journal's origin and its images: (facts, bytes), or (entry, None) for a line of the
    journals before the bytes were kept in them (it names a digest in the spool). Reading stops
    at the first record that is not whole: what a crash cuts short was never acknowledged."""
    entries: list[tuple[dict, bytes | None]] = []
    with open(path, "rb") as file:
        try:
            origin = json.loads(file.readline())
        except ValueError:
            return None, []
        while True:
            line = file.readline()
            if not line.endswith(b"\n"):
                break
            try:
                facts = json.loads(line)
            except ValueError:
                break
            length = facts.pop("bytes", None)
            if length is None:
                entries.append((facts, None))
                continue
            data = file.read(int(length))
            if len(data) != int(length) or file.read(1) != b"\n":
                break
            entries.append((facts, data))
    return origin, entries


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
        self._images: list[Received] = []
        self._journal: Journal | None = None
        self._timer: threading.Timer | None = None
        self.received = 0          # bytes of this association's images
        self.jobs: list[int] = []
        self._ended = False        # the association ended: a C-STORE still being served is refused

    def c_store(self, data: bytes) -> int:
        """One C-STORE's data set as a DICOM file (File Meta Information included): checked,
        journalled, then answered (see the module docstring)."""
        if self.received + len(data) > self.max_bytes:
            return STORE_OUT_OF_RESOURCES
        try:
            ds, info = self.intake.check(data, f"C-STORE from {self.owner}")
        except formatter.UnprintableImage as exc:
            status = STORE_CANNOT_UNDERSTAND if _has_pixels(data) else STORE_NOT_AN_IMAGE
            log.info("store route %s: image refused (0x%04X): %s", self.route.ae_title, status, exc.reason)
            return status
        facts = {"study": str(ds.get("StudyInstanceUID", "")), "series": _number(ds.get("SeriesNumber")),
                 "instance": _number(ds.get("InstanceNumber")), "modality": str(ds.get("Modality", "") or ""),
                 "frames": info.frames, "own_window": bool(info.vois)}
        del ds
        key = f"dicom-in:{uuid.uuid4().hex}"
        try:
            self.intake.room(STORE_OUT_OF_RESOURCES)
            self.intake.charge(self.owner, key, len(data), STORE_OUT_OF_RESOURCES)
        except Refused as exc:
            log.warning("store route %s: image refused: %s", self.route.ae_title, exc.comment)
            return exc.status
        with self._lock:
            try:
                if self._ended:
                    raise OSError("the association has ended")
                if self._journal is None:
                    self._journal = Journal(self.journal_dir, {"owner": self.owner, "route": self.route.ae_title})
                offset = self._journal.add(facts, data)
            except OSError as exc:
                log.error("store route %s: cannot write its journal: %s", self.route.ae_title, exc)
                self.intake.space.release([key])
                return STORE_OUT_OF_RESOURCES
            self._images.append(Received(facts, offset, len(data), info, key))
            self.received += len(data)
            self._restart_timer()
        return 0x0000

    def _restart_timer(self) -> None:
        if self.route.quiet_s is None or self._schedule is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._schedule(self.route.quiet_s, self.flush)

    def end(self) -> list[int]:
        """The association ended (released, aborted, closed): file its batch (:meth:`flush`);
        a C-STORE still being served (the end came from the network thread, e.g. an abort past a
        limit) is refused rather than journalled into a batch nobody files."""
        with self._lock:
            self._ended = True
        return self.flush()

    def flush(self) -> list[int]:
        """File the batch received so far into the spool and queue its jobs; its journal goes
        once they are committed (a batch that cannot be filed or queued now keeps its journal,
        and is filed at the next start)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            received, journal = self._images, self._journal
            self._images, self._journal = [], None
        if journal is None:
            return []
        jobs = None
        try:
            images = [Stored(self.intake.file(journal.read(r.offset, r.length), r.info), **r.facts)
                      for r in received]
        except (Refused, OSError) as exc:
            log.error("store route %s: the images of %s cannot be filed now (%s): kept in %s for the next start",
                      self.route.ae_title, self.owner, getattr(exc, "comment", exc), journal.path.name)
        else:
            jobs = queue_batch(self.intake, self.route, self.owner, images)
        if jobs is not None:
            self.intake.space.queued([r.key for r in received], jobs)
        journal.close(remove=jobs is not None)
        self.jobs.extend(jobs or [])
        return jobs or []


def _has_pixels(data: bytes) -> bool:
    """Whether a data set that is not a printable image has pixel data at all (its answer:
    cannot understand, else not an image); one that cannot be read counts as having them."""
    try:
        header = pydicom.dcmread(io.BytesIO(data), specific_tags=_PIXEL_TAGS, defer_size=64)
    except Exception:   # noqa: BLE001 - whatever pydicom makes of a bad stream, the answer is the same
        return True
    return any(k in header for k in _PIXEL_TAGS)


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
    """File and queue the batches a stopped daemon left in ``journal_dir`` (see the module
    docstring)."""
    if not journal_dir.is_dir():
        return []
    jobs: list[int] = []
    for path in sorted(journal_dir.glob("*.batch")):
        try:
            origin, entries = read_journal(path)
        except OSError as exc:
            log.error("front door: batch %s cannot be read: %s", path.name, exc)
            continue
        if origin is None or not entries:
            path.unlink(missing_ok=True)
            continue
        route = routes.get(origin.get("route", ""))
        if route is None:
            log.warning("front door: batch %s of %s left unqueued (route %s no longer configured)", path.name,
                        origin.get("owner"), origin.get("route"))
            continue
        images, unfiled = [], False
        for facts, data in entries:
            if data is None:      # a journal of the images in the spool
                if intake.spool.exists(facts.get("digest", "")):
                    images.append(Stored(**facts))
                continue
            try:
                digest = intake.put(data, STORE_CANNOT_UNDERSTAND, decode=False)
            except Refused as exc:
                log.error("front door: an image of batch %s cannot be filed: %s", path.name, exc.comment)
                unfiled = unfiled or exc.status == STORE_OUT_OF_RESOURCES
                continue
            images.append(Stored(digest, **facts))
        if unfiled:
            continue              # the spool cannot take them now: the journal keeps them
        if not images:
            log.warning("front door: batch %s of %s left unqueued (no image)", path.name, origin.get("owner"))
            path.unlink(missing_ok=True)
            continue
        queued = queue_batch(intake, route, origin["owner"], images)
        if queued is not None:
            jobs.extend(queued)
            path.unlink(missing_ok=True)
    return jobs
