"""What each request does: the table of operations, and how a request is checked and answered.

:data:`TABLE` names every operation a client may ask for, with its handler, the arguments it
takes (hcserver.server.requests) and who may ask: anyone, the owner of the job it names (or an
administrator), or administrators only (hcserver.access). A name that is not in the table is an
unknown operation; nothing else about a request chooses code to run.

The handlers live by subject: jobs (hcserver.server.jobs), images (hcserver.server.images),
printers (hcserver.server.printers).

An audited operation (one that changes a job or a printer) leaves a line in the audit log when
it is refused too: who asked, what, which job or printer, and why it was refused. A fault of the
queue database is told in words (hcserver.dbfaults), never as the driver's exception.
"""
from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hcserver import formatter
from hcserver.access import Forbidden, LoginLinks, Peer, require_admin, require_owner_or_admin
from hcserver.audit import AuditLog
from hcserver.config import ServerConfig
from hcserver.dbfaults import database_fault
from hcserver.dispatch import Dispatcher
from hcserver.errors import ErrorCode
from hcserver.events import EventBus
from hcserver.formatting import FormatPool
from hcserver.jobspec import JobSpecValidator, SpecError
from hcserver.protocol import error
from hcserver.queue import JobQueue, QueueError
from hcserver.queue.joblist import JobListCache
from hcserver.server import images, jobs, printers
from hcserver.server.requests import DESTINATION, IMAGE_REF_PREFIX, JOB, PRINTER, SPEC, TIMEOUT, Arg, Call, RequestError
from hcserver.spool import Spool
from hcserver.uploads import UploadQuota

log = logging.getLogger(__name__)


class Access(enum.Enum):
    ANYONE = "anyone"
    OWNER = "owner"     # the owner of the job the request names, or an administrator
    ADMIN = "admin"     # root, the server's user, members of admin_group, admin tokens


@dataclass(frozen=True)
class Operation:
    handler: Callable[[Operations, Call], dict]
    args: tuple[Arg, ...] = ()
    access: Access = Access.ANYONE
    # what a refusal says was asked: "reprioritise" (job N of ...), "disable printer {printer}"
    action: str = ""
    audited: bool = False   # recorded in the audit log, done or refused


class Operations:
    """The server's request handling: the parts a request may use, and :meth:`handle`."""

    def __init__(self, config: ServerConfig, queue: JobQueue, spool: Spool, bus: EventBus,
                 dispatcher: Dispatcher, audit: AuditLog, formatting: FormatPool, reload=None,
                 quota: UploadQuota | None = None, logins: LoginLinks | None = None):
        self.queue, self.spool, self.bus, self.dispatcher = queue, spool, bus, dispatcher
        self.quota = quota if quota is not None else UploadQuota()   # shared with the daemon's orphan collection
        self.audit, self.formatting = audit, formatting
        self.reload = reload
        self.logins = logins   # the status page's sign-in links (hcserver.web), when it is on
        self.web_base: str | None = None   # the status page's address, once it listens
        self.job_list = JobListCache(queue.views, bus)
        self.use_config(config)

    def use_config(self, config: ServerConfig) -> None:
        self.config = config
        self.validator = self.validator_for(config)

    def validator_for(self, config: ServerConfig) -> JobSpecValidator:
        return JobSpecValidator(config, self._resolve_image, self.image_info)

    def recheck_pools(self, new: ServerConfig) -> list[int]:
        """Before a reload applies ``new``: hold the pending jobs of its changed pools that they
        can no longer print (hcserver.server.jobs: ``recheck_pool_jobs``)."""
        old = self.config
        changed = [name for name, pool in new.pools.items()
                   if old.pools.get(name) != pool or any(old.printers.get(m) != new.printers[m] for m in pool.printers)]
        return jobs.recheck_pool_jobs(self, self.validator_for(new), changed)

    # ---- what the spec validator asks of the spool ------------------------------------

    def _resolve_image(self, reference, field: str) -> str:
        if not isinstance(reference, str) or not reference.startswith(IMAGE_REF_PREFIX):
            raise SpecError(field, f"expected an uploaded image reference \"sha256:<digest>\", got {reference!r}")
        digest = reference[len(IMAGE_REF_PREFIX):]
        if not self.spool.exists(digest):
            raise SpecError(field, f"image {reference} has not been uploaded")
        return digest

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Operations lives as long as the daemon
    def image_info(self, digest: str) -> formatter.ImageInfo:
        return formatter.inspect_image(self.spool.path(digest), self.config.max_image_pixels)

    def normalise(self, spec: dict) -> dict:
        """A client's job spec, checked and completed against the printer's configuration."""
        try:
            return self.validator.normalise(spec)
        except SpecError as exc:
            raise RequestError(ErrorCode.INVALID_SPEC, str(exc)) from None
        except formatter.UnprintableImage as exc:
            too_large = isinstance(exc, formatter.ImageTooLarge)
            code = ErrorCode.IMAGE_TOO_LARGE if too_large else ErrorCode.UNPRINTABLE_IMAGE
            raise RequestError(code, str(exc)) from None

    # ---- one request ----------------------------------------------------------------

    def handle(self, request: dict, attachment: bytes | bytearray, peer: Peer) -> tuple[dict, bytes]:
        request_id = request.get("id")
        op = request.get("op")
        operation = TABLE.get(op) if isinstance(op, str) else None
        if operation is None:
            return error(request_id, ErrorCode.UNKNOWN_OP, f"unknown operation {op!r}"), b""
        args: dict = {}   # filled as they are checked: a refusal names what it got to
        try:
            result = operation.handler(self, self._call(operation, request, attachment, peer, args))
        except (RequestError, QueueError, Forbidden) as exc:
            code, message = exc.code, str(exc)
        except Exception as exc:
            fault = database_fault(exc)
            if fault is None:   # a bug must cost one request, never the server
                log.exception("request %r failed", op)
                code, message = ErrorCode.INTERNAL, f"internal error: {exc!r}"
            else:   # not the client's doing, nor a bug: say what happened
                log.error("request %r: %s (%s)", op, fault, getattr(exc, "orig", exc))
                code, message = ErrorCode.DATABASE_UNAVAILABLE, fault
        else:
            out_attachment = result.pop("_attachment", b"")
            return {"id": request_id, "ok": True, **result}, out_attachment
        if operation.audited:
            self._audit_refusal(str(op), peer, request, args, code, message)
        return error(request_id, code, message), b""

    def _audit_refusal(self, op: str, peer: Peer, request: dict, args: dict, code: str, message: str) -> None:
        where = {"job": args["job"]} if "job" in args else {}
        spec = request.get("spec")
        printer = args.get("printer") or (spec.get("printer") if isinstance(spec, dict) else None)
        if isinstance(printer, str) and (printer in self.config.printers or printer in self.config.pools):
            # a configured name, not whatever a client wrote
            where["printer"] = printer
        try:
            self.audit.refused(peer.name, op, code, message, **where)
        except OSError as exc:   # the client still hears why it was refused
            log.error("audit log: cannot record a refused %s of %s: %s", op, peer.name, exc)

    def _call(self, operation: Operation, request: dict, attachment: bytes | bytearray, peer: Peer,
              args: dict) -> Call:
        """The request's arguments (into ``args``), checked in the order the table gives, and its access."""
        for arg in operation.args:
            args[arg.name] = arg.read(request, self.config)
            if arg is JOB and operation.access is Access.OWNER:
                # As soon as the job is known: someone else's job tells a stranger no more than that.
                require_owner_or_admin(peer, self.queue.views.owner_of(args["job"]), operation.action, args["job"])
        if operation.access is Access.ADMIN:
            require_admin(peer, operation.action.format(**args))
        return Call(peer, args, attachment)


def ping(ops: Operations, call: Call) -> dict:
    return {"server": "hcserver", "user": call.peer.name, "admin": call.peer.admin}


def web_login(ops: Operations, call: Call) -> dict:
    """A one-time link that signs the caller in to the status page (hcserver.access.LoginLinks)."""
    if ops.logins is None or ops.web_base is None:
        raise RequestError(ErrorCode.BAD_REQUEST, "the status page is off: give the configuration a [web] table "
                                                  "(listen = \"127.0.0.1:8631\") and restart hcserver")
    token = ops.logins.mint(call.peer)
    return {"url": f"{ops.web_base}/login?token={token}", "expires_s": ops.logins.ttl_s}


def _flag(name: str) -> Arg:
    return Arg(name, bool, default=False)


TABLE: dict[str, Operation] = {
    "ping": Operation(ping),
    "web-login": Operation(web_login),
    # images and previews
    "upload": Operation(images.upload, (Arg("name", str, default="uploaded image"),)),
    "preview": Operation(images.preview, (SPEC,)),
    # jobs: anyone may queue them and follow the queue (hcserver.queue.privacy: what of others' jobs)
    "submit": Operation(jobs.submit, (SPEC, _flag("hold")), audited=True),
    "list": Operation(jobs.list_jobs, (_flag("all"), Arg("printer", str), _flag("raw"))),
    "show": Operation(jobs.show, (_flag("log"), JOB)),
    "wait": Operation(jobs.wait, (JOB, TIMEOUT)),
    "film": Operation(jobs.film, (JOB, Arg("film", int, required=True)), Access.OWNER, "read the films of"),
    "events": Operation(jobs.events, (Arg("since", int), Arg("job", int), Arg("seq", int), TIMEOUT)),
    # jobs: their owner's, or an administrator's
    "reprint": Operation(jobs.reprint, (JOB,), Access.OWNER, "reprint", audited=True),
    "cancel": Operation(jobs.cancel, (JOB,), Access.OWNER, "cancel", audited=True),
    "hold": Operation(jobs.hold, (JOB,), Access.OWNER, "hold", audited=True),
    "release": Operation(jobs.release, (JOB,), Access.OWNER, "release", audited=True),
    "priority": Operation(jobs.set_priority, (JOB, Arg("priority", str, required=True)),
                          Access.OWNER, "reprioritise", audited=True),
    "move": Operation(jobs.move, (JOB, DESTINATION), Access.OWNER, "move", audited=True),
    # printers: anyone may look and check; administrators change them
    "printers": Operation(printers.views),
    "echo": Operation(printers.echo, (PRINTER,)),
    "enable": Operation(printers.enable, (PRINTER,), Access.ADMIN, "enable printer {printer}", audited=True),
    "disable": Operation(printers.disable, (Arg("reason", str), PRINTER),
                         Access.ADMIN, "disable printer {printer}", audited=True),
    "accept": Operation(printers.accept, (PRINTER,), Access.ADMIN, "accept printer {printer}", audited=True),
    "reject": Operation(printers.reject, (PRINTER,), Access.ADMIN, "reject printer {printer}", audited=True),
    "reload": Operation(printers.reload, (), Access.ADMIN, "reload the configuration", audited=True),
    "probe": Operation(printers.probe, (PRINTER,), Access.ADMIN, "probe printer {printer}", audited=True),
}
