"""What of a job only its owner and administrators see (as CUPS's JobPrivateAccess and
JobPrivateValues): the one place a job's views are redacted for everybody else.

Anybody may see that a job is there and how it is doing: its id, state, printer, priority,
owner, copies, medium and destination, how many films it has and has printed, its attempts,
times, node and the printer it printed on (a pool's member). The rest may name or quote a
patient and is for the owner and administrators only: the label (film session label), the
error and the warnings (a printer's or the formatter's words may quote DICOM data), the films'
output files, the events' reasons and data (with ``log_patient_data``, the submit event names
the patients) and the DIMSE log.

A field is private unless it is listed here as public: a field added to a job's view later is
shown to others only once it is added to these lists.
"""
from __future__ import annotations

PUBLIC_JOB_FIELDS = frozenset({
    "id", "state", "printer", "priority", "owner", "copies", "medium_type", "film_destination",
    "films_total", "films_printed", "attempts", "failed_attempts", "not_before", "cancel_requested",
    "created_at", "updated_at", "node", "printed_on",
})
PUBLIC_FILM_FIELDS = frozenset({"index", "film_size", "orientation", "layout", "frames", "printed_at"})
PUBLIC_EVENT_FIELDS = frozenset({"id", "job", "at", "kind", "from", "to"})
PUBLIC_WARNING_FIELDS = frozenset({"at"})     # how many, and when; not what the printer said

#: Marks a redacted view or event, so a client can say why fields are empty.
PRIVATE = "private"
#: What others see of why a printer's waiting job failed (the reason of its retry event).
PRIVATE_RETRY_REASON = "retrying (details for the job's owner)"


def _public(item: dict, public: frozenset[str]) -> dict:
    """``item`` with every field that is not public emptied (the keys stay, for clients)."""
    return {key: value if key in public else None for key, value in item.items()}


def redact_event(event: dict) -> dict:
    return {**_public(event, PUBLIC_EVENT_FIELDS), PRIVATE: True}


def redact_job(view: dict) -> dict:
    """A job's view (a list entry, or ``show``'s with films, events and log) as others see it."""
    redacted = _public(view, PUBLIC_JOB_FIELDS)
    redacted["warnings"] = [_public(w, PUBLIC_WARNING_FIELDS) for w in view.get("warnings") or ()]
    if "films" in view:
        redacted["films"] = [_public(film, PUBLIC_FILM_FIELDS) for film in view["films"]]
    if "events" in view:
        redacted["events"] = [redact_event(event) for event in view["events"]]
    if "log" in view:
        redacted["log"] = []
    redacted[PRIVATE] = True
    return redacted


def job_as_seen_by(view: dict, viewer: str | None) -> dict:
    """``view`` as ``viewer`` sees it: whole for its owner, and for ``None`` (an administrator)."""
    return view if viewer is None or view["owner"] == viewer else redact_job(view)


def retry_as_seen_by(retry: dict, viewer: str | None) -> dict:
    """A printer's ``retry`` (the job waiting for a back-off, and its retry event's reason) as
    ``viewer`` sees it: the reason is the event's, private to the job's owner and administrators."""
    if viewer is None or retry["owner"] == viewer:
        return retry
    return {**retry, "reason": PRIVATE_RETRY_REASON, PRIVATE: True}


def events_as_seen_by(events: list[dict], owners: dict[int, str], viewer: str | None) -> list[dict]:
    """Events of several jobs (``owners``: each job's owner) as ``viewer`` sees them."""
    if viewer is None:
        return events
    return [event if owners.get(event["job"]) == viewer else redact_event(event) for event in events]
