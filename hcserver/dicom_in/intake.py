"""What the front door's routes share: images into the spool, films into jobs, and what the
queue knows of printers and jobs.

Durability: an image is written to the spool and fsynced (``Spool.put``), or, by the store
route, to its association's journal and fdatasynced (hcserver.dicom_in.store_route), before
the request that brought it is answered, and a job is committed (``JobQueue.jobs.submit_once``) before the
print action or the last image is answered; the route answers success only after these return.

A job from a front door belongs to its origin, ``dicom:CALLING@CALLED`` (``owner``): no Unix
user or remote client has such a name (remote ones are ``tls:NAME``), so only administrators
act on these jobs (hcserver.access).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from hcserver import formatter
from hcserver.config import ServerConfig
from hcserver.dicom_in.space import DoorSpace, NoRoom
from hcserver.jobspec import JobSpecValidator, SpecError
from hcserver.queue import JobQueue, QueueError
from hcserver.spool import Spool, SpoolError
from hcserver.states import JobState
from hcserver.uploads import UploadQuota

log = logging.getLogger(__name__)

IMAGE_INFO_CACHE = 4096          # images whose header facts are kept (the spec checks ask for them)


class Refused(Exception):
    """A request refused with a DIMSE ``status`` and an Error Comment (at most 64 characters)."""

    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status = status
        self.comment = comment[:64]


@dataclass(frozen=True)
class Queued:
    job: int
    new: bool            # False: the same film from the same origin was queued recently (a retry)


OWNER_PREFIX = "dicom:"          # of every front door job's owner


def owner(calling_ae: str, called_ae: str) -> str:
    """The owner of a front door's jobs: its origin (see the module docstring)."""
    return f"{OWNER_PREFIX}{calling_ae or '?'}@{called_ae}"


def file_bytes(ds: Dataset, transfer_syntax: UID, implementation_class_uid: str | None) -> bytes:
    """``ds`` as a DICOM file (PS3.10): preamble, File Meta Information, the data set."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    if implementation_class_uid:
        meta.ImplementationClassUID = UID(implementation_class_uid)
    ds.file_meta = meta
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


class Intake:
    """The spool, the queue and the spec checks, as the routes use them."""

    def __init__(self, config: ServerConfig, queue: JobQueue, spool: Spool, quota: UploadQuota | None = None):
        self.queue, self.spool = queue, spool
        # the daemon's upload quota: the front door's images count there under their origin
        self.space = DoorSpace(quota if quota is not None else UploadQuota(), queue.views.unfinished_among)
        seeded = self.space.seed(queue.views.images_of_unfinished(OWNER_PREFIX), spool.size)
        if seeded:
            log.info("front door: %d bytes of images of unfinished jobs count toward max_spool_bytes", seeded)
        self._infos: OrderedDict[str, formatter.ImageInfo] = OrderedDict()
        self._held: dict[str, int] = {}     # images open film sessions spooled: how many hold each
        self._lock = threading.Lock()
        self.use_config(config)

    def use_config(self, config: ServerConfig) -> None:
        self.config = config
        self.validator = JobSpecValidator(config, self._resolve, self.image_info)

    # ---- images ----------------------------------------------------------------------
    def _resolve(self, reference, field: str) -> str:
        if not isinstance(reference, str) or not self.spool.exists(reference):
            raise SpecError(field, f"image {reference!r} is not in the spool")
        return reference

    def image_info(self, digest: str, decode: bool = True) -> formatter.ImageInfo:
        with self._lock:
            info = self._infos.get(digest)
            if info is not None:
                self._infos.move_to_end(digest)
                return info
        info = formatter.inspect_image(self.spool.path(digest), self.config.max_image_pixels, decode=decode)
        with self._lock:
            self._infos[digest] = info
            while len(self._infos) > IMAGE_INFO_CACHE:
                self._infos.popitem(last=False)
        return info

    def check(self, data: bytes, name: str) -> tuple[Dataset, formatter.ImageInfo]:
        """A DICOM file's bytes (File Meta Information included) checked as ``put`` checks a
        file (``decode=False``), without writing them anywhere: its data set (Pixel Data read,
        nothing decoded) and its header facts; UnprintableImage naming the reason otherwise."""
        ds = formatter.read_dataset(name, self.config.max_image_pixels, data)
        return ds, formatter.inspect_dataset(ds, name, decode=False)

    def file(self, data: bytes, info: formatter.ImageInfo) -> str:
        """Store the bytes of an image :meth:`check` found printable (its ``info``), durably,
        as ``put`` does; its digest."""
        try:
            digest = self.spool.put(data)
        except SpoolError as exc:
            log.error("front door: %s", exc)
            raise Refused(0xA700, "cannot write to the spool") from None
        with self._lock:
            self._infos[digest] = info
            self._infos.move_to_end(digest)
            while len(self._infos) > IMAGE_INFO_CACHE:
                self._infos.popitem(last=False)
        return digest

    def room(self, status: int) -> None:
        """Refuse with ``status`` while the spool has less free space than new jobs need."""
        try:
            free = self.spool.free_bytes()
        except OSError:
            return
        if free < self.config.min_free_spool_bytes:
            raise Refused(status, "spool is full")

    def charge(self, owner: str, key: str, size: int, status: int) -> None:
        """Charge an image of ``size`` bytes to ``owner``'s quota and the front door's total
        (hcserver.dicom_in.space) before it is journalled or spooled; Refused with ``status``
        when there is no room."""
        door = self.config.dicom_in
        try:
            self.space.charge(owner, key, size, door.max_spool_bytes if door else 1 << 62,
                              self.config.max_upload_bytes_per_owner)
        except NoRoom as exc:
            log.warning("front door: image of %s refused: %s", owner, exc)
            raise Refused(status, str(exc)) from None

    def door_room(self, status: int) -> None:
        """Refuse with ``status`` while the front door's images fill ``max_spool_bytes``."""
        door = self.config.dicom_in
        if door is not None:
            try:
                self.space.check(door.max_spool_bytes)
            except NoRoom as exc:
                raise Refused(status, str(exc)) from None

    def put(self, data: bytes, status: int, hold: bool = False, decode: bool = True) -> str:
        """Store a DICOM file in the spool, durably; its digest. Its header facts are read now,
        so the print action does not read the file again; a file the formatter cannot print is
        refused with ``status`` (``decode=False``: an uncompressed image of the declared length
        is not decoded to find out). ``hold``: the caller may give the image up (``give_up``) if
        no job comes to use it."""
        if hold:
            with self._lock:
                digest = hashlib.sha256(data).hexdigest()
                self._held[digest] = self._held.get(digest, 0) + 1
        try:
            digest = self.spool.put(data)
        except SpoolError as exc:
            log.error("front door: %s", exc)
            raise Refused(0x0213 if status < 0xA000 else 0xA700, "cannot write to the spool") from None
        try:
            self.image_info(digest, decode)
        except formatter.UnprintableImage as exc:
            raise Refused(status, f"unprintable image: {exc.reason}") from None
        return digest

    def give_up(self, digests: list[str]) -> int:
        """Remove held images that no job uses and no other association holds (a film session
        that ended without printing leaves nothing in the spool); how many were removed. Under
        the lock, so an association that holds the same image meanwhile keeps it (it holds it
        before writing it)."""
        removed = 0
        with self._lock:
            for digest in digests:
                count = self._held.get(digest, 0) - 1
                if count > 0:
                    self._held[digest] = count
                    continue
                self._held.pop(digest, None)
                if not self.queue.views.image_in_use(digest) and self.spool.remove(digest, min_age_s=0):
                    removed += 1
        return removed

    # ---- jobs ------------------------------------------------------------------------
    def submit(self, owner: str, spec: dict, *, status: int, queue_full: int, details: dict) -> Queued:
        """Check ``spec`` against its printer and queue it, once per content within the
        listener's duplicate window (a modality's retry finds the job it queued before)."""
        try:
            job = self.validator.normalise(spec)
        except SpecError as exc:
            raise Refused(status, str(exc)) from None
        except formatter.UnprintableImage as exc:
            raise Refused(status, f"unprintable image: {exc.reason}") from None
        # a pool's job is accepted while one of its printers accepts jobs (as hcq submit's)
        if not any(self.queue.printers.get(member).accepting for member in self.config.members(job["printer"])):
            raise Refused(queue_full, f"printer {job['printer']} is not accepting jobs")
        if self.queue.views.queued_count(owner) >= self.config.max_jobs_per_owner:
            raise Refused(queue_full, f"{self.config.max_jobs_per_owner} jobs of {owner} already queued")
        key = hashlib.sha256(json.dumps([owner, job], sort_keys=True).encode()).hexdigest()
        window = self.config.dicom_in.duplicate_window_s if self.config.dicom_in else 0.0
        job_id, new = self.queue.jobs.submit_once(owner, job, details=details, origin_key=key, window_s=window)
        if new:
            log.info("front door: job %d from %s for %s (%d film%s)", job_id, owner, job["printer"],
                     len(job["films"]), "" if len(job["films"]) == 1 else "s")
        else:
            log.info("front door: %s sent again what job %d prints: not queued twice", owner, job_id)
        return Queued(job_id, new)

    # ---- what the queue knows --------------------------------------------------------
    def printer_status(self, name: str) -> tuple[str, str]:
        """(Printer Status, Printer Status Info) as last known for printer ``name``."""
        try:
            row = self.queue.printers.get(name)
        except QueueError:   # not in the queue yet: nothing is known of it
            return "NORMAL", "NORMAL"
        if row.dicom_status:
            return row.dicom_status, row.dicom_status_info or "NORMAL"
        if row.stopped:
            return "FAILURE", (row.reason or "STOPPED")[:64]
        return "NORMAL", "NORMAL"

    def job_state(self, job_id: int) -> JobState | None:
        """The job's state, or None once it is gone (purged)."""
        try:
            return JobState(self.queue.views.state_of(job_id))
        except QueueError:
            return None
