"""The requests about jobs: submit, list, show, wait, follow the events, and the owner's
commands (reprint, cancel, hold, release, priority, move). Who may ask for which is in
hcserver.server.operations' table: the owner's commands reach these handlers only once the
caller is known to be the job's owner or an administrator.

Anybody may list, show, wait for and follow any job, but sees the private details of others'
jobs emptied (hcserver.queue.privacy): every answer that carries a job or its events goes
through ``job_as_seen_by`` or ``events_as_seen_by`` here."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pydicom

from hcserver import formatter
from hcserver.access import viewer
from hcserver.dbspool import FILM_PREFIX, DatabaseSpool
from hcserver.errors import ErrorCode
from hcserver.jobspec import JobSpecValidator, SpecError
from hcserver.queue.privacy import events_as_seen_by, job_as_seen_by
from hcserver.server.requests import Call, RequestError
from hcserver.states import JobState

if TYPE_CHECKING:
    from hcserver.server.operations import Operations


def _accepting(ops: Operations, name: str) -> None:
    """Refuse a new job for printer ``name`` unless it accepts jobs; for a pool, unless one of its
    printers does (only those take its jobs)."""
    members = ops.config.members(name)
    if not any(ops.queue.printers.get(member).accepting for member in members):
        if name in ops.config.pools:
            raise RequestError(ErrorCode.NOT_ACCEPTING, f"pool {name!r} is not accepting jobs: none of its printers "
                                                        f"({', '.join(members)}) accepts new jobs")
        raise RequestError(ErrorCode.NOT_ACCEPTING, f"printer {name!r} is not accepting jobs")


def submit(ops: Operations, call: Call) -> dict:
    job = ops.normalise(call.args["spec"])
    owner, hold = call.peer.name, call.args["hold"]
    _accepting(ops, job["printer"])
    queued = ops.queue.views.queued_count(owner)
    if queued >= ops.config.max_jobs_per_owner:
        raise RequestError(ErrorCode.QUEUE_LIMIT, f"{owner} already has {queued} jobs queued (the limit is "
                                                  f"{ops.config.max_jobs_per_owner})")
    job_id = ops.queue.jobs.submit(owner, job, held=hold, details=_patient_details(ops, job))
    ops.quota.submitted(owner, {frame["image"] for film in job["films"] for frame in film["frames"]})
    ops.audit.record(owner, "submit", job=job_id, printer=job["printer"], films=len(job["films"]), held=hold)
    return {"job": job_id, "films": len(job["films"])}


def _patient_details(ops: Operations, job: dict) -> dict:
    """Patient names and IDs for the submit event, only where the configuration allows it."""
    if not ops.config.log_patient_data:
        return {}
    patients = set()
    for digest in {frame["image"] for film in job["films"] for frame in film["frames"]}:
        header = pydicom.dcmread(ops.spool.path(digest), stop_before_pixels=True,
                                 specific_tags=["PatientName", "PatientID"])
        patients.add(f"{header.get('PatientName', '')} ({header.get('PatientID', '')})")
    return {"patients": sorted(patients)}


def list_jobs(ops: Operations, call: Call) -> dict:
    """The jobs, in print order. With ``raw``, the list comes as JSON bytes in the attachment
    (what ``hcq list --json`` prints as it is), kept up to date job by job (hcserver.queue.joblist)."""
    history, printer, who = call.args["all"], call.args["printer"], viewer(call.peer)
    if not call.args["raw"]:
        jobs = ops.queue.views.list_jobs(include_history=history, printer=printer)
        return {"jobs": [job_as_seen_by(job, who) for job in jobs]}
    return {"format": "json", "_attachment": ops.job_list.json(include_history=history, printer=printer,
                                                               viewer=who)}


def show(ops: Operations, call: Call) -> dict:
    view = ops.queue.views.show(call.args["job"], log=call.args["log"])
    return {"job": job_as_seen_by(view, viewer(call.peer))}


def film(ops: Operations, call: Call) -> dict:
    """The PNG a preview printer made of film ``film`` (from 1) of a job: from the database with
    the database spool (on any node), else from this node's preview directory."""
    job_id, number = call.args["job"], call.args["film"]
    films = ops.queue.views.show(job_id)["films"]
    if not 1 <= number <= len(films):
        raise RequestError(ErrorCode.BAD_REQUEST, f"job {job_id} has films 1 to {len(films)}")
    output, png = films[number - 1]["output"], None
    if not output:
        raise RequestError(ErrorCode.INVALID_STATE, f"film {number} of job {job_id} has no PNG (not printed yet, "
                                                    f"or not by a preview printer)")
    if output.startswith(FILM_PREFIX) and isinstance(ops.spool, DatabaseSpool):
        png = ops.spool.film(output)
    elif not output.startswith(FILM_PREFIX):
        path = Path(output)
        if path.parent.resolve() == ops.config.preview_dir.resolve() and path.is_file():
            png = path.read_bytes()
    if png is None:
        raise RequestError(ErrorCode.INVALID_STATE, f"film {number} of job {job_id} is not readable on this node "
                                                    f"({output}: the node that printed it keeps it, or it was purged)")
    return {"film": number, "_attachment": png}


def events(ops: Operations, call: Call) -> dict:
    """Long poll: job events after event id ``since`` (optionally of one ``job``). Answers at once
    if there are some, else when anything changes (a job or a printer) or after ``timeout``.
    Pass back ``last`` and ``seq`` from the answer to follow on."""
    since, job, seen = call.args["since"], call.args["job"], call.args["seq"]
    seq = ops.bus.seq
    found, last = ops.queue.views.events_since(since, job)
    if not found and since is not None and (seen is None or seen == seq):
        ops.bus.wait_change(seq, call.args["timeout"])
        seq = ops.bus.seq
        found, last = ops.queue.views.events_since(since, job)
    who = viewer(call.peer)
    if who is not None and found:
        found = events_as_seen_by(found, ops.queue.views.owners(event["job"] for event in found), who)
    return {"events": found, "last": last, "seq": seq}


def wait(ops: Operations, call: Call) -> dict:
    """Answer when the job has ended (or after ``timeout`` seconds)."""
    job_id = call.args["job"]
    done = ops.bus.wait_until(lambda: JobState(ops.queue.views.state_of(job_id)).terminal, call.args["timeout"])
    return {"job": job_as_seen_by(ops.queue.views.show(job_id), viewer(call.peer)), "timed_out": not done}


def reprint(ops: Operations, call: Call) -> dict:
    """Queue a copy of a job (CUPS: lp -i ID -H restart); the copy belongs to the caller."""
    job_id = call.args["job"]
    try:
        job = ops.validator.normalise(ops.queue.views.job_spec(job_id))
    except SpecError as exc:
        raise RequestError(ErrorCode.INVALID_SPEC, f"job {job_id} cannot be printed again: {exc}") from None
    new_id = ops.queue.jobs.submit(call.peer.name, job, details={"reprint_of": job_id})
    ops.audit.record(call.peer.name, "reprint", job=new_id, original=job_id)
    return {"job": new_id, "films": len(job["films"])}


def _job_action(ops: Operations, call: Call, action: str, change) -> dict:
    """An owner's (or admin's) action on one job, audited."""
    job_id = call.args["job"]
    result = change(job_id, call.peer.name)
    ops.audit.record(call.peer.name, action, job=job_id)
    return {"job": result}


def cancel(ops: Operations, call: Call) -> dict:
    return _job_action(ops, call, "cancel", ops.queue.jobs.cancel)


def hold(ops: Operations, call: Call) -> dict:
    return _job_action(ops, call, "hold", ops.queue.jobs.hold)


def release(ops: Operations, call: Call) -> dict:
    """Release a held job; one whose printer or pool was removed from the configuration (its jobs
    were held then) is refused: released, it would wait for a printer no node drives."""
    printer = ops.queue.views.printer_of(call.args["job"])
    if printer not in ops.config.printers and printer not in ops.config.pools:
        raise RequestError(ErrorCode.INVALID_STATE, f"job {call.args['job']} is for printer {printer!r}, which was "
                                                    f"removed from the configuration: move it to a configured printer "
                                                    f"(hcq move {call.args['job']} PRINTER), which keeps it held")
    return _job_action(ops, call, "release", ops.queue.jobs.release)


def set_priority(ops: Operations, call: Call) -> dict:
    job_id, priority = call.args["job"], call.args["priority"]
    result = ops.queue.jobs.set_priority(job_id, priority, call.peer.name)
    ops.audit.record(call.peer.name, "priority", job=job_id, priority=priority)
    return {"job": result}


def move(ops: Operations, call: Call) -> dict:
    """Move a waiting job to a printer or a pool, after checking it can print it as it stands."""
    job_id, target = call.args["job"], call.args["printer"]
    _accepting(ops, target)
    spec = ops.queue.views.job_spec(job_id)
    spec["printer"] = target
    try:
        checked = ops.validator.normalise(spec)
    except SpecError as exc:
        raise RequestError(ErrorCode.INVALID_SPEC, f"job {job_id} cannot print on {target}: {exc}") from None
    result = ops.queue.jobs.move(job_id, target, call.peer.name, color=checked["color"])
    ops.audit.record(call.peer.name, "move", job=job_id, printer=target)
    return {"job": result}


def recheck_pool_jobs(ops: Operations, validator: JobSpecValidator, pools: list[str]) -> list[int]:
    """After a reload changed ``pools`` (their printers, or a member's configuration): hold each
    of their pending jobs that the pool cannot print as it stands any more (``validator``: the new
    configuration's), saying why. Returns the jobs held."""
    held: list[int] = []
    for pool in pools:
        for job_id in ops.queue.views.pending_ids(pool):
            try:
                validator.normalise(ops.queue.views.job_spec(job_id))
            except (SpecError, formatter.UnprintableImage) as exc:
                held += ops.queue.jobs.hold_jobs([job_id], f"pool {pool} was reloaded and cannot print this job as "
                                                           f"it stands: {exc}")
    return held
