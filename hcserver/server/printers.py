"""The requests about printers: their states, C-ECHO, and the administrators' commands
(enable, disable, accept, reject, reload, probe). Only administrators reach the commands'
handlers (hcserver.server.operations' table)."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from hcserver.access import viewer
from hcserver.config import ConfigError
from hcserver.drivers.base import PrintFailure
from hcserver.drivers.dicom.probe import TIME_LIMIT_S
from hcserver.drivers.dicom.probe import probe as probe_printer
from hcserver.drivers.dicom.watchdog import ABORT_GRACE_S
from hcserver.errors import ErrorCode
from hcserver.printer_drivers import build_driver
from hcserver.queue.privacy import retry_as_seen_by
from hcserver.server.requests import Call, RequestError
from hcserver.states import PrinterState, PrinterTransition

if TYPE_CHECKING:
    from hcserver.server.operations import Operations

log = logging.getLogger(__name__)

ECHO_WAIT_S = 5               # how long echo waits for a busy printer worker
PROBE_START_S = 10            # how long a probe waits for the printer's worker to take it


def state_of(view: dict) -> str:
    """What a printer is doing, as ``hcq printers`` and the status page show it: removed (from
    the configuration, with jobs left), stopped, disabled, printing, retrying (its next job waits
    for a back-off after a failure: ``retry`` says why) or idle."""
    if not view["configured"]:
        return "removed"
    state = PrinterState.of(view["enabled"], view["stopped"])
    if state is not PrinterState.IDLE:
        return state.value
    if view.get("printing"):
        return "printing"
    return "retrying" if view.get("retry") else state.value


def views(ops: Operations, call: Call) -> dict:
    """The configured printers, and a removed one only while jobs are left on it (held at the
    reload: they print once moved); and the pools (their printers, policy, jobs, and the member
    that takes the next job)."""
    found = []
    for view in ops.queue.printers.views():
        printer = ops.config.printers.get(view["name"])
        view["configured"] = printer is not None
        if printer is None and not view["queued"]:
            continue
        view["pools"] = [pool.name for pool in ops.config.pools_of(view["name"])]
        worker = ops.dispatcher.workers.get(view["name"])
        view["association"] = worker.driver.association_state() if worker else None
        # what the printer said of its configuration, when asked (its first job, hcq echo)
        view["configuration"] = worker.driver.configuration() if worker else None
        if printer:
            view["driver"] = printer.driver
            if printer.driver == "dicom":
                view["address"] = f"{printer.ae_title}@{printer.host}:{printer.port}"
        else:
            view["reason"] = (f"removed from the configuration; its {view['queued']} job(s) print once moved to a "
                              f"configured printer (hcq move JOB PRINTER)")
        view["state"] = state_of(view)
        if view.get("retry"):
            view["retry"] = retry_as_seen_by(view["retry"], viewer(call.peer))
        found.append(view)
    return {"printers": found, "pools": ops.queue.pools.views(ops.config.pools.values())}


def _change(ops: Operations, call: Call, transition: PrinterTransition, reason: str | None = None) -> dict:
    name = call.args["printer"]
    changes = ops.queue.printers.change(name, transition, reason)
    ops.dispatcher.wake(name)
    ops.audit.record(call.peer.name, transition.value, printer=name)
    return {"printer": name, **changes}


def enable(ops: Operations, call: Call) -> dict:
    return _change(ops, call, PrinterTransition.ENABLE)


def disable(ops: Operations, call: Call) -> dict:
    return _change(ops, call, PrinterTransition.DISABLE, call.args["reason"] or f"disabled by {call.peer.name}")


def accept(ops: Operations, call: Call) -> dict:
    return _change(ops, call, PrinterTransition.ACCEPT)


def reject(ops: Operations, call: Call) -> dict:
    return _change(ops, call, PrinterTransition.REJECT)


def reload(ops: Operations, call: Call) -> dict:
    """Re-read the configuration and apply printer changes (as SIGHUP does)."""
    try:
        summary = ops.reload()
    except ConfigError as exc:
        raise RequestError(ErrorCode.BAD_CONFIG, f"configuration not reloaded: {exc}") from None
    ops.audit.record(call.peer.name, "reload", **summary)
    return summary


def echo(ops: Operations, call: Call) -> dict:
    """C-ECHO + printer status. Run by the printer's worker between jobs (so a printer that
    serves one association at a time is not kept waiting by ours); if the worker does not start
    it within ECHO_WAIT_S (it is printing), on a separate association. One echo at a time either
    way; ``seconds`` is the time the answer took, waiting for the worker included."""
    name = call.args["printer"]
    worker = ops.dispatcher.workers.get(name)
    start = time.monotonic()
    try:
        try:
            if worker is None:
                raise TimeoutError
            result = worker.call(lambda driver: driver.echo(), timeout=ECHO_WAIT_S)
        except TimeoutError:
            driver = build_driver(ops.config.printers[name], ops.config)
            try:
                result = driver.echo()
            finally:
                driver.close()
    except PrintFailure as exc:
        result = {"ok": False, "error": exc.reason}
    result["seconds"] = round(time.monotonic() - start, 4)
    return {"printer": name, "echo": result}


def probe(ops: Operations, call: Call) -> dict:
    """What the printer accepts (hcserver.drivers.dicom.probe: N-GET, N-CREATE and N-DELETE, never
    N-ACTION). Run by the printer's worker between jobs, on an association of its own: refused
    while the printer prints a job (or another node drives it), and no job starts until it has
    ended."""
    name = call.args["printer"]
    printer = ops.config.printers[name]
    if printer.driver != "dicom":
        raise RequestError(ErrorCode.NOT_DICOM, f"printer {name!r} is a {printer.driver} printer: only a DICOM "
                                                "printer can be probed")
    worker = ops.dispatcher.workers.get(name)
    if worker is not None and worker.printing is not None:
        raise RequestError(ErrorCode.PRINTER_BUSY, f"printer {name!r} is printing job {worker.printing}: probe it "
                                                   f"between jobs (hcq disable {name} keeps its queue from starting)")
    if worker is not None and not worker.driving:
        raise RequestError(ErrorCode.PRINTER_BUSY, f"printer {name!r} is driven by another node (see hcq "
                                                   "printers): probe it there")
    started = []

    def between_jobs(driver):
        started.append(True)
        driver.idle()         # a printer that serves one association at a time: let go of ours first
        return probe_printer(printer, ops.config.station)

    # the probe's own limit, and what its last request, its association and its release may take beyond it
    longest = (PROBE_START_S + TIME_LIMIT_S + printer.connect_timeout_s + 2 * printer.acse_timeout_s
               + printer.dimse_timeout_s + 3 * ABORT_GRACE_S)
    try:
        result = worker.call(between_jobs, timeout=longest, start_timeout=PROBE_START_S) if worker is not None \
            else probe_printer(printer, ops.config.station)
    except TimeoutError:
        if started:
            raise RequestError(ErrorCode.INTERNAL, f"the probe of printer {name!r} ran past its time limit "
                                                   f"({TIME_LIMIT_S:g} s)") from None
        raise RequestError(ErrorCode.PRINTER_BUSY, f"printer {name!r} started a job before the probe could run: "
                                                   "probe it between jobs") from None
    log.info("printer %s probed by %s: %d requests in %.1f s%s", name, call.peer.name, result.requests,
             result.seconds, f"; stopped: {result.stopped}" if result.stopped else "")
    ops.audit.record(call.peer.name, "probe", printer=name)
    answer = result.to_dict()
    answer["connection"] = {"driver": "dicom", "ae_title": printer.ae_title, "host": printer.host,
                            "port": printer.port}
    return {"printer": name, "probe": answer}
