"""Why a job is where it is, in a few words: the one wording ``hcq list``, ``hcq watch`` and the
status page give a job's note (each with its own way of telling a time)."""
from __future__ import annotations

from collections.abc import Callable

#: A printer in one of these states prints no job: a job sent to it waits.
_NOT_PRINTING = ("stopped", "disabled", "removed")


def _why(printer: dict) -> str:
    return f": {printer['reason']}" if printer.get("reason") else ""


def _pool_waits(name: str, pool: dict, printers: dict[str, dict]) -> str:
    """Why no member of pool ``name`` takes its jobs ("" unless none can): each member stopped,
    disabled or not accepting jobs (a rejecting member prints its own jobs, not the pool's)."""
    reasons = []
    for member in pool.get("printers", []):
        view = printers.get(member)
        if view is None:   # not known here: it may take the job
            return ""
        if view.get("state") in _NOT_PRINTING:
            reasons.append(f"{member} is {view['state']}{_why(view)}")
        elif view.get("accepting") is False:
            reasons.append(f"{member} is not accepting jobs{_why(view)}")
        else:
            return ""
    return f"waits: no printer of pool {name} can take it: {'; '.join(reasons)}" if reasons else ""


def job_note(job: dict, printers: dict[str, dict], when: Callable[[str], str],
             pools: dict[str, dict] | None = None) -> str:
    """``job``: a job as listed; ``printers``: the printers' views by name (their ``state``,
    ``accepting`` and ``reason``); ``when``: a server time (ISO 8601) as the reader is to see it;
    ``pools``: the pools' views by name (their ``printers``). Its error, a pending cancel, the
    printer it waits for (stopped, disabled, removed) or for a pool's job the members none of
    which can take it (stopped, disabled, not accepting jobs), its back-off, its warnings, the
    node printing it."""
    if job.get("error"):
        return job["error"]
    if job.get("cancel_requested"):
        return "cancel requested: stops after the current film"
    printer = printers.get(job["printer"])
    if job["state"] in ("pending", "held") and printer is not None:
        state = printer.get("state")
        if state in _NOT_PRINTING:
            return f"waits: printer {job['printer']} is {state}{_why(printer)}"
    pool = (pools or {}).get(job["printer"])
    if job["state"] in ("pending", "held") and pool is not None:
        waits = _pool_waits(job["printer"], pool, printers)
        if waits:
            return waits
    if job["state"] == "pending" and job.get("not_before"):
        return f"retry at {when(job['not_before'])}"
    if job.get("warnings"):
        return f"{len(job['warnings'])} warning(s)"
    if job.get("node"):
        return f"printing on node {job['node']}"
    return ""
