"""Following the printer's own Print Jobs for a job's films (Print Job SOP class) to their end.

With ``print_job = true`` the Print Job presentation context is proposed. When the printer
accepted it, the reply to each print action (N-ACTION) may name the Print Job the printer made
for it (Referenced Print Job Sequence); :class:`PrintJobs` keeps them with the films they print.
Print Job N-EVENT-REPORTs that name one of them update it as they come. When the job's films
are all sent (before the film session is deleted), :meth:`PrintJobs.follow` asks each print job
that has not ended for its Execution Status (N-GET), again after 0.5 s, 1 s, 2 s and then every
:data:`MAX_POLL_S`, until it is DONE or FAILURE, or until the printer's
``print_job_timeout_s`` has passed since it began to wait.

What the job is told (``JobObserver.print_job``, an event of the job, with the films):

* DONE: the films came out;
* FAILURE: the printer accepted the films and then could not print them (its Execution Status
  Info says why, e.g. FILM JAM). The films count as printed all the same, as every film whose
  print action succeeded does: the printer may have printed some of them, or some copies, so
  they are not sent again by themselves. The job completes, with a warning naming the films,
  for someone to look at the printer and reprint what is missing (``hcq reprint``);
* UNKNOWN, with a warning: it had not ended after ``print_job_timeout_s``, or the printer
  would not say (its N-GET failed, which the status policy records as a warning too).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from hcserver.drivers.dicom.association import SOP_CLASSES
from hcserver.drivers.dicom.datasets import PRINT_JOB_STATUS
from hcserver.drivers.dicom.event_reports import PrinterEvent

if TYPE_CHECKING:
    from hcserver.drivers.dicom.film_session import DicomFilmSession

log = logging.getLogger(__name__)

FINAL = ("DONE", "FAILURE")
FIRST_POLL_S = 0.5          # the first wait between N-GET rounds; it doubles up to MAX_POLL_S
MAX_POLL_S = 5.0
PRINT_JOB_STATUS_TAGS = [tag_for_keyword(a.keyword) for a in PRINT_JOB_STATUS.attributes]


@dataclass
class _PrintJob:
    uid: str
    films: tuple[int, ...]
    status: str = ""          # PENDING, PRINTING, DONE or FAILURE; "" until the printer says
    info: str = ""
    asked: bool = True        # False once its N-GET failed: the printer will not say
    told: bool = False        # its outcome went to the observer


def _films(films: tuple[int, ...]) -> str:
    numbers = [str(index + 1) for index in films]
    return f"film {numbers[0]}" if len(numbers) == 1 else f"films {', '.join(numbers)}"


class PrintJobs:
    """The print jobs of one job's print actions on one film session (see the module docstring)."""

    def __init__(self, session: DicomFilmSession):
        self.session = session
        self._jobs: list[_PrintJob] = []
        self._early: dict[str, tuple[str, str]] = {}   # events for a job not yet named by its N-ACTION reply

    def add(self, films: tuple[int, ...], reply: Dataset | None) -> None:
        """Keep the print job a print action's reply names, if the printer follows print jobs."""
        if not (self.session.printer.print_job and self.session.association.accepts(SOP_CLASSES["print-job"])):
            return
        refs = reply.get("ReferencedPrintJobSequence") if reply is not None else None
        uid = str(refs[0].get("ReferencedSOPInstanceUID", "") or "").strip() if refs else ""
        if not uid:
            return
        job = _PrintJob(uid, films)
        self._jobs.append(job)
        if uid in self._early:       # its report came with the N-ACTION's response
            self._update(job, *self._early.pop(uid))

    def event(self, ev: PrinterEvent) -> bool:
        """A Print Job N-EVENT-REPORT: True if it was about one of this job's print jobs (or may
        be, having come before the N-ACTION reply that names it)."""
        if ev.sop_class != "print-job" or not ev.instance_uid or not ev.status:
            return False
        for job in self._jobs:
            if job.uid == ev.instance_uid:
                self._update(job, ev.status, ev.info)
                return True
        self._early[ev.instance_uid] = (ev.status, ev.info)
        return True

    def follow(self) -> None:
        """Ask every print job that has not ended for its status until it has (see the module
        docstring); tell the observer each outcome."""
        deadline = time.monotonic() + self.session.printer.print_job_timeout_s
        wait = FIRST_POLL_S
        while True:
            for job in self._waiting():
                self._get(job)
            left = deadline - time.monotonic()
            if not self._waiting() or left <= 0:
                break
            time.sleep(min(wait, left))
            wait = min(wait * 2, MAX_POLL_S)
            self.session.take_events()       # reports that came meanwhile
        for job in self._jobs:
            if not job.told:
                why = (f"the printer did not say (its N-GET failed), last status {job.status or 'unknown'}"
                       if not job.asked else
                       f"not ended after print_job_timeout_s ({self.session.printer.print_job_timeout_s:g} s), "
                       f"last status {job.status or 'unknown'}")
                self.session.observer.warning("N-GET", None, f"{_films(job.films)}: the outcome of the printer's "
                                                             f"print job is unknown: {why}")
                self._tell(job, "UNKNOWN", why)

    def _waiting(self) -> list[_PrintJob]:
        return [job for job in self._jobs if not job.told and job.asked]

    def _get(self, job: _PrintJob) -> None:
        uid = job.uid
        status, attrs = self.session._x(
            "N-GET", "print-job",
            lambda a, m, i: a.send_n_get(PRINT_JOB_STATUS_TAGS, SOP_CLASSES["print-job"], uid, msg_id=i))
        if int(status.Status) not in (0x0000, 0x0107) or attrs is None:
            job.asked = False          # the status policy recorded why
            return
        if not job.told:
            self._update(job, str(attrs.get("ExecutionStatus", "") or "").strip(),
                         str(attrs.get("ExecutionStatusInfo", "") or "").strip())

    def _update(self, job: _PrintJob, status: str, info: str) -> None:
        job.status, job.info = status, info
        if status in FINAL and not job.told:
            if status == "FAILURE":
                self.session.observer.warning(
                    "print-job", None, f"{_films(job.films)}: the printer's print job ended in FAILURE"
                    + (f" ({info})" if info else "") + ": the printer accepted the film(s), so they count as "
                    "printed and are not sent again; check the printer and reprint what is missing")
            self._tell(job, status, info)

    def _tell(self, job: _PrintJob, status: str, info: str) -> None:
        job.told = True
        log.info("printer %s: %s: print job %s %s", self.session.printer.name, _films(job.films), status, info)
        self.session.observer.print_job(job.films, status, info)
