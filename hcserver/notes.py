"""Why a job is where it is, in a few words: the one wording ``hcq list``, ``hcq watch`` and the
status page give a job's note (each with its own way of telling a time)."""
from __future__ import annotations

from collections.abc import Callable


def job_note(job: dict, printers: dict[str, dict], when: Callable[[str], str]) -> str:
    """``job``: a job as listed; ``printers``: the printers' views by name (their ``state`` and
    ``reason``); ``when``: a server time (ISO 8601) as the reader is to see it. Its error, a
    pending cancel, the printer it waits for (stopped, disabled, removed), its back-off, its
    warnings, the node printing it."""
    if job.get("error"):
        return job["error"]
    if job.get("cancel_requested"):
        return "cancel requested: stops after the current film"
    printer = printers.get(job["printer"])
    if job["state"] in ("pending", "held") and printer is not None:
        state = printer.get("state")
        if state in ("stopped", "disabled", "removed"):
            why = f": {printer['reason']}" if printer.get("reason") else ""
            return f"waits: printer {job['printer']} is {state}{why}"
    if job["state"] == "pending" and job.get("not_before"):
        return f"retry at {when(job['not_before'])}"
    if job.get("warnings"):
        return f"{len(job['warnings'])} warning(s)"
    if job.get("node"):
        return f"printing on node {job['node']}"
    return ""
