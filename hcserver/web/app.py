"""The status page: a Flask application whose every read and action is a request to the
operation table (hcserver.server.operations), asked as the signed-in user, so the page follows
the socket's rules: owners act on their jobs, administrators on all and on the printers, and
the details that may name a patient are emptied for everybody else (hcserver.queue.privacy).

Pages are rendered on the server and work without JavaScript; ``live.js`` only listens to the
server-sent events (hcserver.web.live) and fetches the page's main part again when something
changed. Every form that changes something carries the session's CSRF token.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, make_response, redirect, render_template, request
from werkzeug.wrappers import Response as Redirect

from hcserver.access import LoginLinks, Peer, still_admin
from hcserver.notes import job_note
from hcserver.server import Operations
from hcserver.spool import Spool
from hcserver.states import PRIORITIES, TERMINAL, JobState
from hcserver.web.auth import COOKIE, IDLE_S, Sessions, client_uid, is_loopback
from hcserver.web.live import Streams
from hcserver.web.metrics import Metrics
from hcserver.web.thumbnails import Thumbnails

log = logging.getLogger(__name__)

PER_PAGE = 50
JOB_ACTIONS = ("cancel", "hold", "release", "priority", "move", "reprint")
PRINTER_ACTIONS = ("enable", "disable", "accept", "reject")
#: What a refusal's code becomes as an HTTP status.
STATUS = {"forbidden": 403, "unknown-job": 404, "unknown-printer": 404, "database-unavailable": 503,
          "internal": 500}
#: Words that make a configuration key's value a secret, never shown (``token``, ``db_password``,
#: ``api_key``, ``client_secret``); a key naming where a secret is kept (``key_file``) is shown.
SECRET_WORDS = {"token", "password", "passwd", "secret", "key", "credentials"}
#: The last words of keys naming a place, not holding a secret.
PLACE_WORDS = {"file", "path", "dir"}
SECRET = "(secret)"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Never to other sites (with no-referrer a browser sends its forms with "Origin: null", which the
    # origin check refuses). The sign-in page, whose address holds the link, has no link to another site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",          # pages may show patient data
}


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def create_app(ops: Operations, logins: LoginLinks, streams: Streams, metrics: Metrics, spool: Spool,
               secure: bool, max_body_bytes: int = 1024 * 1024) -> Flask:
    """``secure``: served over TLS (the session cookie is then sent over TLS only);
    ``max_body_bytes``: the most a request's form may be (more is refused, 413)."""
    app = Flask(__name__, static_folder=str(Path(__file__).parent / "static"))
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    sessions = Sessions(still_admin=lambda peer: still_admin(peer, ops.config.admin_group))
    thumbnails = Thumbnails(ops, spool)

    def ask(op: str, **args: Any) -> dict:
        """A request to the operation table, as the signed-in user."""
        response, _ = ops.handle({"id": 1, "op": op, **args}, b"", g.session.peer)
        if not response.get("ok"):
            error = response.get("error") or {}
            raise Refused(error.get("code", "error"), error.get("message", "refused"))
        return response

    def someone_else(peer: Peer) -> str | None:
        """Who, if this connection may not act as ``peer``: a socket of this host held by another
        Unix user (browsers send a host's cookies to every port of it, so a page another user
        serves on this host may have been sent them). Root may: root can read any user's cookies."""
        if peer.uid is None:
            return None   # a token's session: no Unix user to compare
        host = request.remote_addr or ""
        uid = client_uid(host, int(request.environ.get("REMOTE_PORT") or 0),
                         int(request.environ.get("SERVER_PORT") or 0))
        if uid is None and not is_loopback(host):
            return None   # from another machine
        if uid in (0, peer.uid):
            return None
        who = "an unknown user" if uid is None else f"user id {uid}"
        log.warning("status page: %s's session or link used by %s from %s", peer.name, who, host)
        return who

    def signed_in(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = request.cookies.get(COOKIE)
            g.session = sessions.get(key)
            if g.session is None:
                return render_template("login.html", fragment=False), 401
            who = someone_else(g.session.peer)
            if who is not None:   # a stolen cookie: it works for nobody any more
                why = (f"this session is {g.session.peer.name}'s but came from a connection of {who}: it is "
                       f"signed out. Sign in as yourself with hcq web-login.")
                sessions.end(key)
                g.session = None
                response = make_response(render_template("error.html", fragment=False, message=why), 403)
                response.delete_cookie(COOKIE)
                return response
            return view(*args, **kwargs)
        return wrapper

    def page(template: str, **values: Any) -> str:
        """A page, or only its main part when live.js fetches it again (which leaves an action's
        notice to the page the action returns to: it may be on its way)."""
        fragment = request.headers.get("X-Fragment") == "main"
        notice = None
        if not fragment:
            notice, g.session.notice = g.session.notice, None
        return render_template(template, fragment=fragment,
                               user=g.session.peer, csrf=g.session.csrf, notice=notice, **values)

    def changed(message: str) -> Redirect:
        """After an action (POST): said once on the page it returns to (POST, redirect, GET)."""
        g.session.notice = message
        target = request.form.get("next", "/")
        if not local_page(target):
            target = "/"
        return redirect(target, code=303)

    @app.after_request
    def headers(response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.errorhandler(Refused)
    def refused(exc: Refused):
        if request.method == "POST" and getattr(g, "session", None) is not None and exc.code != "forbidden":
            return changed(f"not done: {exc.message}")
        return render_template("error.html", fragment=False, message=exc.message), STATUS.get(exc.code, 400)

    @app.before_request
    def same_origin():
        """A change must come from this site's own forms: CSRF token (checked per action) and,
        where the browser sends one, an Origin of this site."""
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                abort(403)

    def from_this_site() -> bool:
        """Whether a POST says it comes from a page of this site: its Origin, or (a browser that
        sends none) its Referer, is this host. One that says neither is not taken for ours."""
        origin = request.headers.get("Origin")
        if origin:
            return urlsplit(origin).netloc == request.host
        referer = request.headers.get("Referer")
        return bool(referer) and urlsplit(referer).netloc == request.host

    def csrf_checked() -> None:
        if not g.session.csrf_ok(request.form.get("csrf")):
            abort(403)

    def link_refused(peer: Peer) -> tuple[str, int] | None:
        """The page refusing a sign-in link used from a socket of another Unix user than its own."""
        who = someone_else(peer)
        if who is None:
            return None
        why = f"this link is {peer.name}'s but came from a connection of {who}: ask hcq web-login as yourself."
        return render_template("error.html", fragment=False, message=why), 403

    @app.get("/login")
    def login():
        """The link asks, it does not sign in: another site may make a browser open it (with a
        link of its own, to sign the browser in as someone else), but not press the button."""
        token = request.args.get("token", "")
        peer = logins.peek(token)
        if peer is None:
            return render_template("login.html", fragment=False, expired=True), 401
        return link_refused(peer) or render_template("login.html", fragment=False, token=token, link_for=peer)

    @app.post("/login")
    def login_confirmed():
        """The sign-in page's button: the link is used up and the session begins. From this site's
        own page only (its Origin, or without one its Referer); there is no session, so no CSRF token."""
        if not from_this_site():
            abort(403)
        peer = logins.redeem(request.form.get("token", ""))
        if peer is None:
            return render_template("login.html", fragment=False, expired=True), 401
        refusal = link_refused(peer)
        if refusal is not None:
            return refusal
        key, _ = sessions.begin(peer)
        response = redirect("/", code=303)   # the link leaves the address bar and the history
        response.set_cookie(COOKIE, key, httponly=True, samesite="Strict", secure=secure, max_age=int(IDLE_S))
        return response

    @app.post("/logout")
    @signed_in
    def logout():
        csrf_checked()
        sessions.end(request.cookies.get(COOKIE))
        response = redirect("/", code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/")
    @signed_in
    def printers():
        answer = ask("printers")
        return page("printers.html", printers=answer["printers"], pools=answer.get("pools", []))

    @app.get("/jobs")
    @signed_in
    def jobs():
        state, printer = request.args.get("state", ""), request.args.get("printer", "")
        owner = request.args.get("owner", "").strip()
        history = state == "all" or state in {s.value for s in TERMINAL}
        found = ask("list", all=history, **({"printer": printer} if printer else {}))["jobs"]
        if state and state != "all":
            found = [job for job in found if job["state"] == state]
        if owner:
            found = [job for job in found if job["owner"] == owner]
        pages = max(1, -(-len(found) // PER_PAGE))
        number = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
        shown = found[(number - 1) * PER_PAGE:number * PER_PAGE]
        query = {key: value for key, value in (("state", state), ("printer", printer), ("owner", owner)) if value}
        views = ask("printers")
        by_name = {view["name"]: view for view in views["printers"]}
        pools = {view["name"]: view for view in views.get("pools", [])}
        for item in shown:
            item["note"] = job_note(item, by_name, _utc, pools)
        return page("jobs.html", jobs=shown, total=len(found), page_number=number, pages=pages, query=query,
                    states=[s.value for s in JobState], printer_names=[*ops.config.printers, *ops.config.pools])

    @app.get("/jobs/<int:job_id>")
    @signed_in
    def job(job_id: int):
        view = ask("show", job=job_id, log=True)["job"]
        return page("job.html", job=view, priorities=PRIORITIES,
                    printer_names=[*ops.config.printers, *ops.config.pools],
                    may_act=g.session.peer.admin or g.session.peer.name == view["owner"])

    @app.get("/jobs/<int:job_id>/films/<int:index>.png")
    @signed_in
    def film(job_id: int, index: int):
        view = ask("show", job=job_id)["job"]
        if view.get("private"):   # the films show the patient: for the owner and administrators only
            abort(403)
        printer = view["printer"]   # a pool's job: as the member that printed it prints it, else its first
        if printer in ops.config.pools:
            printer = view.get("printed_on") or ops.config.members(printer)[0]
        png = thumbnails.film(job_id, printer, index)
        if png is None:
            abort(404)
        return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})   # it shows a patient

    @app.post("/jobs/<int:job_id>/<action>")
    @signed_in
    def job_action(job_id: int, action: str):
        if action not in JOB_ACTIONS:
            abort(404)
        csrf_checked()
        if action == "priority":
            answer = ask("priority", job=job_id, priority=request.form.get("priority", "").lower())
            return changed(f"job {job_id}: priority {answer['job']['priority']}")
        if action == "move":
            answer = ask("move", job=job_id, printer=request.form.get("printer", ""))
            return changed(f"job {job_id}: moved to {answer['job']['printer']}")
        if action == "reprint":
            return changed(f"job {job_id}: reprinted as job {ask('reprint', job=job_id)['job']}")
        answer = ask(action, job=job_id)["job"]
        note = " (stops after the current film)" if answer.get("cancel_requested") and \
            answer["state"] == JobState.PROCESSING.value else ""
        return changed(f"job {job_id}: {answer['state']}{note}")

    @app.post("/printers/<name>/<action>")
    @signed_in
    def printer_action(name: str, action: str):
        if action not in PRINTER_ACTIONS:
            abort(404)
        csrf_checked()
        ask(action, printer=name)
        return changed(f"printer {name}: {action}d" if action.endswith("e") else f"printer {name}: {action}ed")

    @app.get("/config")
    @signed_in
    def configuration():
        # Paths, hosts, ports and the database's place are for administrators (as the file is).
        if not g.session.peer.admin:
            return render_template("error.html", fragment=False,
                                   message="the configuration is for administrators only"), 403
        server, printers = config_view(ops.config)
        return page("config.html", server=server, printers_config=printers)

    @app.get("/events")
    @signed_in
    def events():
        stream = streams.open()
        if stream is None:   # every stream is taken: the page works as without JavaScript
            return Response("too many live pages open\n", status=503, mimetype="text/plain",
                            headers={"Retry-After": "60"})
        return Response(stream, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/metrics")
    def prometheus():
        # No sign-in: nothing here names a job, a user or a patient (hcserver.web.metrics).
        return Response(metrics.exposition(), mimetype="text/plain; version=0.0.4; charset=utf-8")

    return app


def local_page(target: str) -> bool:
    """Whether ``target`` is a page of this site: a path beginning with one "/", no backslash (a
    browser reads "/\\host" as "//host") and no control character."""
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not any(ord(c) < 0x20 or ord(c) == 0x7f for c in target))


def _utc(iso: str) -> str:
    return f"{iso[:19].replace('T', ' ')} UTC"


def config_view(config: Any) -> tuple[dict, dict]:
    """The configuration page's server keys and printers, secrets left out."""
    server = {f.name: _shown(f.name, getattr(config, f.name)) for f in dataclasses.fields(config)
              if f.name != "printers"}
    printers = {name: {f.name: _shown(f.name, getattr(p, f.name)) for f in dataclasses.fields(p)}
                for name, p in config.printers.items()}
    return server, printers


def is_secret(key: str) -> bool:
    words = str(key).lower().replace("-", "_").split("_")
    return bool(SECRET_WORDS.intersection(words)) and words[-1] not in PLACE_WORDS


def _shown(key: str, value: Any) -> Any:
    """A configuration value as the page shows it: secrets replaced (a database URL without its
    password), structures as plain data."""
    if is_secret(key):
        return SECRET if value not in (None, "") else value
    if key == "database" and isinstance(value, str):
        return _without_password(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _shown(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_shown(key, item) for item in value]
    if isinstance(value, dict):
        return {name: _shown(name, item) for name, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return SECRET   # not a URL SQLAlchemy reads: it may hold anything
