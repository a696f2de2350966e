"""The requests about printers: their states, C-ECHO, and the administrators' commands
(enable, disable, accept, reject, reload). Only administrators reach the commands'
handlers (hcserver.server.operations' table)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hcserver.config import ConfigError
from hcserver.drivers.base import PrintFailure
from hcserver.errors import ErrorCode
from hcserver.printer_drivers import build_driver
from hcserver.server.requests import Call, RequestError
from hcserver.states import PrinterTransition

if TYPE_CHECKING:
    from hcserver.server.operations import Operations

ECHO_WAIT_S = 5               # how long echo waits for a busy printer worker


def views(ops: Operations, call: Call) -> dict:
    found = ops.queue.printers.views()
    for view in found:
        printer = ops.config.printers.get(view["name"])
        view["configured"] = printer is not None
        worker = ops.dispatcher.workers.get(view["name"])
        view["association"] = worker.driver.association_state() if worker else None
        # what the printer said of its configuration, when asked (its first job, hcq echo)
        view["configuration"] = worker.driver.configuration() if worker else None
        if printer:
            view["driver"] = printer.driver
            if printer.driver == "dicom":
                view["address"] = f"{printer.ae_title}@{printer.host}:{printer.port}"
    return {"printers": found}


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
