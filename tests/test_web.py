"""The status page and /metrics of a real daemon, over HTTP: signing in, the socket's rules for
actions and private details, CSRF, the live event stream and the Prometheus metrics."""
from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hcserver.access import LoginLinks, Peer
from hcserver.simulator import PrinterSimulator
from hcserver.web.auth import Sessions
from hcserver.web.metrics import association_failure_reason
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.ports import free_port
from tests.support.proc import MB, peak_rss, reset_peak_rss
from tests.support.root import needs_root
from tests.support.users import NOBODY, call_as, run_as
from tests.support.web import Browser, get_with_cookie, web_config

# The README's numbers: a sign-in link works within two minutes, a session ends after 8 hours unused,
# and an administrator's session asks every minute whether its user still is one
LINK_S = 2 * 60
IDLE_S = 8 * 3600
ADMIN_CHECK_S = 60


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_sign_in_link_works_once_and_not_after_two_minutes():
    clock = Clock()
    links = LoginLinks(clock)
    first, second = links.mint(Peer("alice", admin=False)), links.mint(Peer("root", admin=True))
    assert links.redeem(first) == Peer("alice", admin=False)
    assert links.redeem(first) is None
    clock.now += LINK_S
    assert links.redeem(second) is None
    assert links.redeem("guessed") is None


def test_looking_at_a_sign_in_link_does_not_use_it_up():
    clock = Clock()
    links = LoginLinks(clock)
    token = links.mint(Peer("alice", admin=False))
    assert links.peek(token) == Peer("alice", admin=False) and links.peek(token) == Peer("alice", admin=False)
    assert links.redeem(token) == Peer("alice", admin=False)
    assert links.peek(token) is None and links.peek("guessed") is None
    late = links.mint(Peer("bob", admin=False))
    clock.now += LINK_S
    assert links.peek(late) is None


def test_a_session_ends_after_being_idle():
    clock = Clock()
    sessions = Sessions(clock)
    key, session = sessions.begin(Peer("alice", admin=False))
    clock.now += IDLE_S - 1
    assert sessions.get(key) is session
    clock.now += IDLE_S
    assert sessions.get(key) is None
    assert not session.csrf_ok(None) and not session.csrf_ok("x") and session.csrf_ok(session.csrf)


@pytest.mark.parametrize("reason, label", [
    ("cannot connect to printer P@h:1: connection refused or host unreachable", "refused"),
    ("cannot connect to printer P@h:1: no answer within 10 s (connect timeout)", "timeout"),
    ("printer P@h:1 did not answer the association request within 30 s (ACSE timeout)", "timeout"),
    ("association rejected by printer P@h:1: rejected-permanent, source: ...", "rejected"),
    ("TLS handshake with printer P@h:1 failed: certificate verify failed", "tls"),
    ("association with printer P@h:1 aborted or closed during negotiation", "aborted"),
    ("printer P@h:1 accepted none of the proposed presentation contexts (Basic Grayscale)", "no-context"),
    ("something new", "other"),
])
def test_association_failures_have_a_bounded_reason(reason, label):
    assert association_failure_reason(reason) == label


@pytest.fixture
def web_daemon():
    """A preview daemon with the status page, whose socket user 'nobody' may use too."""
    process = DaemonProcess(web_config(socket_group="nogroup"))
    os.chmod(process.dir, 0o755)   # as /var/lib: anyone may pass to the socket's directory
    process.start()
    yield process
    process.cleanup()


def link(daemon, uid: int | None = None) -> str:
    if uid is None:
        with daemon.client() as hc:
            return hc.request("web-login")["url"]
    return run_as(uid, daemon.socket, lambda client: client.request("web-login")["url"])


@pytest.mark.slow
def test_pages_need_a_sign_in_and_a_link_signs_in_once(web_daemon, images):
    url = link(web_daemon)
    stranger = Browser(url.split("/login")[0])
    for path in ("/", "/jobs", "/config", "/jobs/1", "/events"):
        answer = stranger.get(path)
        assert answer.status == 401 and "hcq web-login" in answer.body, path
    root = Browser.signed_in(url)
    page = root.get("/")
    assert page.status == 200 and "root (administrator)" in page.body and ">film<" in page.body.replace(" ", "")
    assert page.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in \
        page.headers["Content-Security-Policy"]
    again = Browser(root.base).get(urllib.parse.urlsplit(url).path + "?" + urllib.parse.urlsplit(url).query)
    assert again.status == 401 and "not valid" in again.body
    config = root.get("/config").body
    assert "Configuration in effect" in config and "retry_interval_s" in config
    with web_daemon.client() as hc:
        hc.printer_admin("disable", "other")
        job = hc.submit_files([images["CT_small.dcm"]], printer="other")
    row = root.get("/jobs").body.split(f'id="job-{job}"')[1].split("</tr>")[0]
    assert "waits: printer other is disabled: disabled by root" in row


@pytest.mark.slow
def test_opening_a_sign_in_link_only_asks_and_its_button_signs_in(web_daemon):
    url = link(web_daemon)
    parts = urllib.parse.urlsplit(url)
    base, path = f"{parts.scheme}://{parts.netloc}", f"{parts.path}?{parts.query}"
    token = urllib.parse.parse_qs(parts.query)["token"][0]
    # another site made this browser open someone's link: nobody is signed in, the link is not used up
    opened = Browser(base)
    page = opened.get(path)
    assert page.status == 200 and "Sign in as root</button>" in page.body
    assert f'name="token" value="{token}"' in page.body and "Set-Cookie" not in page.headers
    assert not list(opened.cookies) and opened.get("/").status == 401
    assert Browser(base).get(path).status == 200   # still valid
    # its button's POST, from another site's page: refused, and the link still works
    for origin in ("http://evil.example", "null"):
        forged = Browser(base)
        assert forged.post("/login", {"token": token}, origin=origin).status == 403
        assert not list(forged.cookies) and forged.get("/").status == 401
    no_origin = Browser(base)   # neither Origin nor Referer: not taken for this site's page
    assert no_origin.post("/login", {"token": token}).status == 403 and not list(no_origin.cookies)
    # from this site's page: signed in, once
    mine = Browser(base)
    done = mine.post("/login", {"token": token}, origin=base)
    assert done.status == 200 and "root (administrator)" in done.body and mine.get("/").status == 200
    assert Browser(base).post("/login", {"token": token}, origin=base).status == 401
    assert Browser(base).get(path).status == 401
    # a browser that sends no Origin: its Referer, this site's sign-in page
    referred, fresh = Browser(base), urllib.parse.urlsplit(link(web_daemon))
    token = urllib.parse.parse_qs(fresh.query)["token"][0]
    request = urllib.request.Request(base + "/login", data=urllib.parse.urlencode({"token": token}).encode(),
                                     headers={"Referer": f"{base}/login?token={token}"})
    assert referred._open(request).status == 200 and referred.get("/").status == 200


@pytest.mark.slow
@needs_root("switching users")
def test_actions_follow_the_sockets_rules_and_carry_a_csrf_token(web_daemon, images):
    with web_daemon.client() as hc:
        job = hc.submit({"printer": "film", "label": "Secret^Patient chest", "films": [
            {"layout": "STANDARD\\1,1", "frames": [images["CT_small.dcm"]]}]}, hold=True)
    root, nobody = Browser.signed_in(link(web_daemon)), Browser.signed_in(link(web_daemon, NOBODY))
    # someone else's job: seen as a row, without its private details or films, and not theirs to cancel
    seen = nobody.get(f"/jobs/{job}").body
    assert "Secret^Patient" not in seen and "for its owner (root) and administrators only" in seen
    assert f'/jobs/{job}/films/0.png' not in seen and nobody.get(f"/jobs/{job}/films/0.png").status == 403
    assert f"Cancel job {job}" not in nobody.get("/jobs").body
    refused = nobody.post(f"/jobs/{job}/cancel", {"csrf": nobody.csrf(), "next": "/jobs"})
    assert refused.status == 403 and f"may not cancel job {job} of root" in refused.body
    assert nobody.post("/printers/film/disable", {"csrf": nobody.csrf()}).status == 403
    # its owner: the films, and actions only with the session's token, from this site
    page = root.get(f"/jobs/{job}").body
    assert "Secret^Patient chest" in page
    film = root.get(f"/jobs/{job}/films/0.png")
    assert film.status == 200 and film.headers["Content-Type"] == "image/png"
    assert film.headers["Cache-Control"] == "no-store"   # it shows the patient: kept in no cache
    assert root.post(f"/jobs/{job}/cancel", {"next": "/jobs"}).status == 403
    assert root.post(f"/jobs/{job}/cancel", {"csrf": "forged", "next": "/jobs"}).status == 403
    assert root.post(f"/jobs/{job}/cancel", {"csrf": root.csrf()}, origin="http://evil.example").status == 403
    with web_daemon.client() as hc:
        assert hc.show(job)["state"] == "held"
    done = root.post(f"/jobs/{job}/priority", {"csrf": root.csrf(), "priority": "HIGH", "next": f"/jobs/{job}"})
    assert done.status == 200 and f"job {job}: priority high" in done.body
    done = root.post(f"/jobs/{job}/cancel", {"csrf": root.csrf(), "next": "https://evil.example/"})
    assert done.status == 200 and f"job {job}: canceled" in done.body   # back on this site's own page
    with web_daemon.client() as hc:
        assert hc.show(job)["state"] == "canceled"
    audit = [json.loads(line) for line in (web_daemon.dir / "var" / "audit.log").read_text().splitlines()]
    assert [(e["who"], e["action"], e.get("refused")) for e in audit][-4:] == [
        ("nobody", "cancel", "forbidden"), ("nobody", "disable", "forbidden"), ("root", "priority", None),
        ("root", "cancel", None)]   # the page's actions are audited as the socket's are


@pytest.mark.slow
def test_a_page_hears_every_change_as_it_happens(web_daemon, images):
    root = Browser.signed_in(link(web_daemon))
    host, port = urllib.parse.urlsplit(root.base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    cookie = "; ".join(f"{c.name}={c.value}" for c in root.cookies)
    connection.request("GET", "/events", headers={"Cookie": cookie, "Accept": "text/event-stream"})
    stream = connection.getresponse()
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.readline() == b"retry: 2000\n"
    with web_daemon.client() as hc:
        hc.printer_admin("disable", "film")
        job = hc.submit_files([images["CT_small.dcm"]], printer="film")
    heard = []
    while not any(change.get("job") == job for change in heard):
        line = stream.readline()
        assert line != b"", f"event stream closed before the job's change; heard {heard}"
        if line.startswith(b"data: "):
            heard.append(json.loads(line[6:]))
    assert {"job": job, "printer": "film", "kind": "submit", "state": "pending"} in heard
    assert {"job": None, "printer": "film", "kind": "printer", "state": None} in heard
    connection.close()


@pytest.mark.slow
def test_web_login_says_when_the_page_is_off(daemon):
    with daemon.client() as hc:
        from hcserver.client import ClientError

        with pytest.raises(ClientError, match=r"the status page is off: give the configuration a \[web\] table"):
            hc.request("web-login")


def metrics_of(base: str) -> dict[str, list]:
    """/metrics (no sign-in needed), parsed by the official client's parser: samples by name."""
    body = Browser(base).get("/metrics")
    assert body.status == 200 and body.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(body.body):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    return found[0] if found else None


ALLOWED_LABELS = {"printer", "state", "outcome", "operation", "status", "reason", "le"}


@pytest.mark.slow
def test_metrics_count_jobs_films_and_waits_without_job_or_patient_labels(web_daemon, images):
    with web_daemon.client() as hc:
        done = hc.submit_files([images["CT_small.dcm"], images["MR_small.dcm"]], printer="film",
                               layout="STANDARD\\1,1")
        assert hc.wait(done, timeout=60)["state"] == "completed"
        hc.printer_admin("disable", "other")
        hc.printer_admin("reject", "other")
        canceled = hc.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
        hc.cancel(canceled)
    base = link(web_daemon).split("/login")[0]
    samples = wait_for(lambda: (s := metrics_of(base)) and
                       value(s, "hcserver_jobs_finished_total", printer="film", outcome="canceled") and s,
                       what="the canceled job to be counted")
    assert value(samples, "hcserver_films_printed_total", printer="film") == 2
    assert value(samples, "hcserver_jobs_finished_total", printer="film", outcome="completed") == 1
    assert value(samples, "hcserver_jobs", printer="film", state="completed") == 1
    assert value(samples, "hcserver_jobs", printer="film", state="canceled") == 1
    assert value(samples, "hcserver_queue_wait_seconds_count", printer="film") == 1
    assert value(samples, "hcserver_film_print_seconds_count", printer="film") == 2
    assert value(samples, "hcserver_printer_up", printer="film") == 1
    assert (value(samples, "hcserver_printer_up", printer="other"), value(samples, "hcserver_printer_accepting",
                                                                          printer="other")) == (0, 0)
    assert value(samples, "hcserver_printer_stopped", printer="film") == 0
    assert value(samples, "hcserver_spool_bytes") > 0
    labels = {key for found in samples.values() for sample in found for key in sample.labels}
    assert labels <= ALLOWED_LABELS


@pytest.mark.slow
@pytest.mark.dicom
def test_metrics_count_dimse_responses_and_association_failures(images):
    with PrinterSimulator(port=0) as sim:
        closed = free_port()
        config = dicom_config({"sim": sim.port, "gone": closed}).replace(   # one attempt, then a long back-off
            "retry_interval_s = 0.2\nretry_max_interval_s = 0.5", "retry_interval_s = 600\nretry_max_interval_s = 600")
        daemon = DaemonProcess(web_config(base=config)).start()
        try:
            with daemon.client() as hc:
                job = hc.submit_files([images["CT_small.dcm"]], printer="sim")
                assert hc.wait(job, timeout=60)["state"] == "completed"
                failing = hc.submit_files([images["CT_small.dcm"]], printer="gone")
                wait_for(lambda: hc.show(failing)["not_before"], what="the first attempt to fail")
                base = hc.request("web-login")["url"].split("/login")[0]
            samples = metrics_of(base)
            assert value(samples, "hcserver_dimse_responses_total", printer="sim", operation="N-ACTION",
                         status="0x0000") == 1
            assert value(samples, "hcserver_dimse_responses_total", printer="sim", operation="N-CREATE",
                         status="0x0000") == 2   # film session, film box
            assert value(samples, "hcserver_association_failures_total", printer="gone", reason="refused") == 1
            assert value(samples, "hcserver_job_retries_total", printer="gone") == 1
            assert value(samples, "hcserver_printer_up", printer="gone") == 0   # retrying
        finally:
            daemon.cleanup()


def test_live_streams_are_bounded_and_end_their_subscription():
    from hcserver.events import EventBus, JobChange
    from hcserver.web.live import Streams

    bus = EventBus()
    streams = Streams(bus, limit=1)
    first = streams.open()
    assert first is not None and next(first) == b"retry: 2000\n\n"
    assert streams.open() is None   # the page then works as without JavaScript
    bus.publish(JobChange(7, "film", "submit", "pending"))
    assert json.loads(next(first).split(b"data: ")[1]) == {"job": 7, "printer": "film", "kind": "submit",
                                                            "state": "pending"}
    first.close()   # the page went away
    assert bus._listeners == []
    second = streams.open()
    assert second is not None
    streams.stop()
    assert list(second) == [b"retry: 2000\n\n"]


@pytest.mark.slow
def test_the_printers_page_shows_pools_and_a_pool_job_shows_its_member(images):
    process = DaemonProcess(web_config() + '\n[pools.both]\nprinters = ["film", "other"]\n').start()
    try:
        with process.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"]], printer="both")
            assert hc.wait(job, timeout=60)["state"] == "completed"
        root = Browser.signed_in(link(process))
        pools = root.get("/").body.split('id="pool-both"')[1].split("</tr>")[0]
        assert "first-available" in pools and "film, other" in pools and "none free" not in pools
        row = root.get("/jobs?state=all&printer=both").body.split(f'id="job-{job}"')[1].split("</tr>")[0]
        assert "both (film)" in row
        assert "printed on film" in root.get(f"/jobs/{job}").body
        film = root.get(f"/jobs/{job}/films/0.png")
        assert film.status == 200 and film.headers["Content-Type"] == "image/png"
    finally:
        process.cleanup()


@pytest.mark.slow
@needs_root("switching users")
def test_the_configuration_page_is_for_administrators_only(web_daemon):
    root, nobody = Browser.signed_in(link(web_daemon)), Browser.signed_in(link(web_daemon, NOBODY))
    assert 'href="/config"' in root.get("/").body and root.get("/config").status == 200
    refused = nobody.get("/config")
    assert refused.status == 403 and "for administrators only" in refused.body
    assert "retry_interval_s" not in refused.body and str(web_daemon.dir) not in refused.body
    assert 'href="/config"' not in nobody.get("/").body and 'href="/config"' not in nobody.get("/jobs").body


def test_the_configuration_page_shows_no_password_token_or_secret():
    from hcserver.config import parse
    from hcserver.web.app import config_view

    server, printers = config_view(parse("""
[server]
state_dir = "/srv/hcs"
database = "postgresql+psycopg://hcs:Sw0rdfish-42@db.example:5432/queue"
spool = "database"
[server.tcp]
listen = "0.0.0.0:8443"
cert_file = "/etc/hcserver/server.pem"
key_file = "/etc/hcserver/server.key"
[server.tcp.clients.ris]
token = "ris-token-0123456789abcdef"
[printers.film]
driver = "preview"
""", "hcserver.toml"))
    shown = json.dumps([server, printers])
    for secret in ("Sw0rdfish-42", "ris-token-0123456789abcdef"):
        assert secret not in shown
    assert server["database"] == "postgresql+psycopg://hcs:***@db.example:5432/queue"
    assert server["tcp"]["clients"] == [{"name": "ris", "admin": False, "token": "(secret)"}]
    assert server["tcp"]["key_file"] == "/etc/hcserver/server.key"   # where the key is, not the key
    assert printers["film"]["driver"] == "preview"


def flood(base: str, start: bytes, line: Callable[[int], bytes], total: int, end: bytes = b"") -> tuple[int, bytes]:
    """Send ``start``, then ``line(0)``, ``line(1)``, ... up to ``total`` bytes, and ``end``, as
    a hostile local client would, unless the server closes the connection first; the bytes of
    the lines it took and its answer's status line (after it read what it took)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        try:
            sock.sendall(start)
            while sent < total:
                chunk = line(sent)
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(end)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.makefile("rb").readline()
        except ConnectionResetError:
            answer = b""
    return sent, answer


@pytest.mark.slow
def test_a_flood_of_headers_or_body_is_refused_without_the_daemon_growing(web_daemon):
    base = link(web_daemon).split("/login")[0]
    pid = web_daemon.proc.pid
    Browser(base).get("/metrics")   # the server's threads and the page's code are warm
    reset_peak_rss(pid)
    before = peak_rss(pid)

    def headers(n: int) -> bytes:   # each of a new name: none replaces another
        return b"X-Pad-%010d: %s\r\n" % (n, b"a" * 1000)

    took, answer = flood(base, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", headers, 10 * MB, b"\r\n")
    grown = peak_rss(pid) - before
    assert grown < 3 * MB, f"the daemon kept the headers a client sent: {grown / MB:.1f} MB more"
    assert took < 10 * MB and not answer.startswith(b"HTTP/1.1 200"), answer   # refused on the way
    post = (b"POST /logout HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % (10 * MB))
    took, answer = flood(base, post, lambda n: b"b" * 65536, 10 * MB)
    grown = peak_rss(pid) - before
    assert grown < 3 * MB, f"the daemon kept the body a client sent: {grown / MB:.1f} MB more"
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert web_daemon.alive() and Browser(base).get("/metrics").status == 200


@pytest.mark.slow
@needs_root("switching users")
def test_a_session_cookie_replayed_by_another_user_is_refused_and_ends_the_session(web_daemon):
    root = Browser.signed_in(link(web_daemon))
    assert root.get("/").status == 200
    # a page another user serves on another port of 127.0.0.1 was sent root's cookie; they replay it
    stolen = call_as(NOBODY, lambda: get_with_cookie(root.base, "/config", root.cookie()))
    assert stolen[0] == 403 and f"came from a connection of user id {NOBODY}: it is signed out" in stolen[1]
    assert "Configuration in effect" not in stolen[1]
    assert root.get("/").status == 401   # the stolen session works for nobody any more
    # a link is for the user who asked for it, too
    url = link(web_daemon)
    refused = call_as(NOBODY, lambda: get_with_cookie(root.base, url.split(root.base)[1], ""))
    assert refused[0] == 403 and "ask hcq web-login as yourself" in refused[1]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    pressed = call_as(NOBODY, lambda: [(answer := Browser(root.base).post(
        "/login", {"token": token}, origin=root.base)).status, answer.body])
    assert pressed[0] == 403 and "ask hcq web-login as yourself" in pressed[1]
    # a user's own session, from a socket of their own, works
    mine = link(web_daemon, NOBODY)
    assert call_as(NOBODY, lambda: Browser.signed_in(mine).get("/").status) == 200


def test_a_session_ends_twelve_hours_after_it_began_however_busy():
    clock = Clock()
    sessions = Sessions(clock)
    key, session = sessions.begin(Peer("alice", admin=False))
    for _ in range(12):
        clock.now += 3600 - 1
        assert sessions.get(key) is session
    clock.now += 12
    assert sessions.get(key) is None


def test_an_administrators_session_loses_its_rights_when_the_user_leaves_the_admin_group():
    clock, admins = Clock(), {1001}
    sessions = Sessions(clock, still_admin=lambda peer: peer.uid in admins)
    key, _ = sessions.begin(Peer("alice", admin=True, uid=1001))
    clock.now += ADMIN_CHECK_S
    assert sessions.get(key).peer.admin
    admins.clear()   # alice is taken out of admin_group
    clock.now += 1
    assert sessions.get(key).peer.admin   # until the next check ...
    clock.now += ADMIN_CHECK_S
    assert sessions.get(key).peer == Peer("alice", admin=False, uid=1001)   # ... no longer an administrator
    admins.add(1001)
    clock.now += ADMIN_CHECK_S
    assert not sessions.get(key).peer.admin   # rights come back with a new sign-in only


def test_a_user_taken_out_of_the_admin_group_is_no_administrator_any_more():
    from hcserver.access import still_admin

    assert still_admin(Peer("root", admin=True, uid=0), "no-such-group")
    assert not still_admin(Peer("nobody", admin=True, uid=NOBODY), "no-such-group")
    assert still_admin(Peer("tls:ris", admin=True), "no-such-group")   # a token's rights are its configuration's


@pytest.mark.slow
def test_an_action_returns_only_to_a_page_of_this_site(web_daemon):
    root = Browser.signed_in(link(web_daemon))
    host, port = urllib.parse.urlsplit(root.base).netloc.split(":")
    for target, expected in (("/jobs?state=held", "/jobs?state=held"), ("https://evil.example/", "/"),
                             ("//evil.example/", "/"), ("/\\evil.example/", "/"), ("\\/evil.example/", "/"),
                             ("/\tevil", "/"), ("jobs", "/")):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        body = urllib.parse.urlencode({"csrf": root.csrf(), "next": target})
        connection.request("POST", "/printers/film/disable", body=body, headers={
            "Cookie": root.cookie(), "Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        assert answer.status == 303 and answer.headers["Location"] in (expected, root.base + expected), target
        connection.close()
