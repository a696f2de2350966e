"""The walking skeleton end to end: a real daemon process over its real socket."""
from __future__ import annotations

import json
import os
import socket
import stat
import struct
import time

import pytest
from PIL import Image

from hcserver.client import Client, ClientError
from hcserver.protocol import encode, read_message
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hcq import run_hcq
from tests.support.users import hcq_in_process

pytestmark = pytest.mark.slow   # every test starts a daemon process


def wait_state(client: Client, job: int, states: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.show(job)
        if data["state"] in states:
            return data
        time.sleep(0.02)
    raise AssertionError(f"job {job} stayed {data['state']}, wanted {states}")


def test_submit_prints_to_preview_and_shows_everything(daemon, images):
    with daemon.client() as hc:
        job = hc.submit({"printer": "film", "label": "CT chest", "films": [
            {"film_size": "8INX10IN", "layout": "STANDARD\\2,1",
             "frames": [{"image": images["CT_small.dcm"]}, {"image": images["MR_small.dcm"]}]},
            {"film_size": "14INX17IN", "layout": "STANDARD\\1,1", "frames": [images["CT_small.dcm"]]},
        ]})
        result = hc.wait(job, timeout=60)
        assert result["state"] == "completed", result
        assert (result["films_total"], result["films_printed"], result["attempts"]) == (2, 2, 1)
        shown = hc.show(job)
        kinds = [event["kind"] for event in shown["events"]]
        assert kinds == ["submit", "start", "film-printed", "film-printed", "complete"]
        assert [(e["from"], e["to"]) for e in shown["events"] if e["kind"] in ("submit", "start", "complete")] \
            == [(None, "pending"), ("pending", "processing"), ("processing", "completed")]
        outputs = [film["output"] for film in shown["films"]]
        # 8x10 in and 14x17 in at 40 dpi, portrait: the PNG is the whole film.
        assert Image.open(outputs[0]).size == (320, 400)
        assert Image.open(outputs[1]).size == (560, 680)
        listed = hc.list(all=True)
        assert [j["id"] for j in listed] == [job]
        for key in ("id", "state", "printer", "priority", "films_total", "films_printed", "attempts",
                    "warnings", "error", "created_at", "updated_at"):
            assert key in listed[0]
        assert hc.list() == []  # finished jobs are history


def test_images_are_spooled_at_submit(daemon, images, tmp_path):
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(open(images["CT_small.dcm"], "rb").read())
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
        job = hc.submit_files([copy], printer="film")
        copy.unlink()  # the source goes away; the job must not care
        hc.printer_admin("enable", "film")
        assert hc.wait(job, timeout=30)["state"] == "completed"


def test_hold_release_cancel_priority_move(daemon, images):
    ct = images["CT_small.dcm"]
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
        a = hc.submit_files([ct], printer="film")
        b = hc.submit_files([ct], printer="film", hold=True)
        c = hc.submit_files([ct], printer="film")
        assert hc.show(b)["state"] == "held"
        assert hc.hold(a)["state"] == "held"
        assert hc.release(a)["state"] == "pending"
        assert hc.cancel(c)["state"] == "canceled"
        with pytest.raises(ClientError, match="cannot release a job that is canceled"):
            hc.release(c)
        assert hc.set_priority(a, "high")["priority"] == "high"
        assert hc.move(a, "other")["printer"] == "other"
        assert hc.wait(a, timeout=30)["state"] == "completed"   # "other" is enabled
        assert hc.show(b)["state"] == "held"
        with pytest.raises(ClientError, match="only pending or held"):
            hc.move(a, "film")
        with pytest.raises(ClientError, match="no printer 'nowhere'"):
            hc.move(b, "nowhere")
        with pytest.raises(ClientError, match="no job 999"):
            hc.show(999)
        assert {j["id"]: j["state"] for j in hc.list()} == {b: "held"}
        assert json.loads(hc.list_json()) == hc.list()        # the cached JSON list ...
        hc.release(b)
        hc.printer_admin("enable", "film")
        assert hc.wait(b, timeout=30)["state"] == "completed"
        assert json.loads(hc.list_json()) == [] == hc.list()  # ... follows every change


def test_priority_then_fifo_on_one_printer(daemon, images):
    ct = images["CT_small.dcm"]
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
        order = [("low", hc.submit_files([ct], printer="film", priority="low")),
                 ("med", hc.submit_files([ct], printer="film", priority="med")),
                 ("high", hc.submit_files([ct], printer="film", priority="high")),
                 ("med", hc.submit_files([ct], printer="film", priority="med")),
                 ("high", hc.submit_files([ct], printer="film", priority="high"))]
        listed = [j["id"] for j in hc.list()]
        hc.printer_admin("enable", "film")
        for _, job in order:
            assert hc.wait(job, timeout=30)["state"] == "completed"
        started = {job: next(e["at"] for e in hc.show(job)["events"] if e["kind"] == "start") for _, job in order}
    expected = [order[2][1], order[4][1], order[1][1], order[3][1], order[0][1]]
    assert sorted(started, key=started.get) == expected
    assert listed == expected  # the list shows the queue in print order


def test_disabled_printer_keeps_queue_and_rejecting_printer_refuses(daemon, images):
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
        job = hc.submit_files([images["CT_small.dcm"]], printer="film")
        time.sleep(0.5)
        assert hc.show(job)["state"] == "pending"
        printers = {p["name"]: p for p in hc.printers()}
        assert printers["film"]["enabled"] is False and printers["film"]["queued"] == 1
        hc.printer_admin("reject", "film")
        with pytest.raises(ClientError, match="not accepting"):
            hc.submit_files([images["CT_small.dcm"]], printer="film")
        hc.printer_admin("accept", "film")
        hc.printer_admin("enable", "film")
        assert hc.wait(job, timeout=30)["state"] == "completed"


def test_cancel_of_printing_job_stops_after_current_film(images):
    slow = PREVIEW_CONFIG.replace("dpi = 40\n\n[printers.other]", "dpi = 200\n\n[printers.other]")
    process = DaemonProcess(slow).start()
    try:
        with process.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"]] * 40, printer="film", layout="STANDARD\\1,1",
                                  film_size="14INX17IN")
            wait_state(hc, job, {"processing"})
            while hc.show(job)["films_printed"] < 1:
                time.sleep(0.01)
            assert hc.cancel(job)["cancel_requested"] is True
            result = hc.wait(job, timeout=60)
            assert result["state"] == "canceled"
            assert 1 <= result["films_printed"] < 40
    finally:
        process.cleanup()


def test_restart_after_kill_9_loses_nothing(images):
    slow = PREVIEW_CONFIG.replace("dpi = 40\n\n[printers.other]", "dpi = 200\n\n[printers.other]")
    process = DaemonProcess(slow).start()
    try:
        ct = images["CT_small.dcm"]
        with process.client() as hc:
            held = hc.submit_files([ct], printer="film", hold=True)
            printing = hc.submit_files([ct] * 12, printer="film", layout="STANDARD\\1,1", film_size="14INX17IN")
            queued = hc.submit_files([ct], printer="film", priority="low")
            wait_state(hc, printing, {"processing"})
            while hc.show(printing)["films_printed"] < 2:
                time.sleep(0.01)
        process.kill()
        process.start()
        with process.client() as hc:
            assert hc.show(held)["state"] == "held"
            assert hc.wait(printing, timeout=120)["state"] == "completed"
            assert hc.wait(queued, timeout=60)["state"] == "completed"
            shown = hc.show(printing)
            requeue = [e for e in shown["events"] if e["kind"] == "requeue"]
            assert len(requeue) == 1 and "server stopped" in requeue[0]["reason"]
            printed = [e["data"]["film"] for e in shown["events"] if e["kind"] == "film-printed"]
            # every film printed, none twice (a preview film is written and recorded in one step)
            assert sorted(printed) == list(range(12))
            assert shown["attempts"] == 2
    finally:
        process.cleanup()


def raw_socket(daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(daemon.socket))
    return sock


def raw_reply(sock) -> dict:
    return read_message(sock, 1 << 20, 1 << 20).header


@pytest.mark.parametrize("payload, code", [
    (os.urandom(64), "bad-frame"),
    (b"HCS1" + struct.pack("!II", 1 << 30, 0), "too-large"),
    (b"HCS1" + struct.pack("!II", 100, 0) + b'{"op": "pi', "truncated"),
])
def test_unframeable_messages_get_an_error(daemon, payload, code):
    with raw_socket(daemon) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        reply = raw_reply(sock)
        assert reply["ok"] is False and reply["error"]["code"] == code, reply
    with daemon.client() as hc:  # and everybody else is still served
        assert hc.request("ping")["ok"]


def test_bad_requests_get_errors_and_the_connection_goes_on(daemon, images, tmp_path):
    with raw_socket(daemon) as sock:
        body = b"{not json"
        sock.sendall(b"HCS1" + struct.pack("!II", len(body), 0) + body)
        assert raw_reply(sock)["error"]["code"] == "bad-json"
        sock.sendall(encode({"id": 7, "op": "fly"}))
        reply = raw_reply(sock)
        assert (reply["id"], reply["error"]["code"]) == (7, "unknown-op")
        sock.sendall(encode({"id": 8, "op": "show", "job": "x"}))
        assert raw_reply(sock)["error"]["code"] == "bad-request"
        for body in (b'{"op": "ping", "x": NaN}', b"[" * 100000 + b"]" * 100000, b'{"n": 1' + b"0" * 5000 + b"}"):
            sock.sendall(b"HCS1" + struct.pack("!II", len(body), 0) + body)
            assert raw_reply(sock)["error"]["code"] == "bad-json"
        sock.sendall(encode({"id": 10, "op": "wait", "job": 1, "timeout": 1e300}))
        assert raw_reply(sock)["error"]["code"] == "bad-request"
        sock.sendall(encode({"id": 11, "op": "show", "job": -5}))
        assert raw_reply(sock)["error"]["code"] == "unknown-job"
        sock.sendall(encode({"id": 9, "op": "ping"}))
        assert raw_reply(sock)["ok"] is True
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("this is not an image")
    with daemon.client() as hc:
        with pytest.raises(ClientError, match="no printer 'nowhere'|unknown printer 'nowhere'"):
            hc.submit_files([images["CT_small.dcm"]], printer="nowhere")
        with pytest.raises(ClientError, match="missing.dcm"):
            hc.submit_files([tmp_path / "missing.dcm"], printer="film")
        with pytest.raises(ClientError, match="notes.txt") as refused:
            hc.submit_files([not_dicom], printer="film")
        assert refused.value.code == "unprintable-image"
        spooled = [p for p in (daemon.dir / "var" / "spool").rglob("*") if p.is_file()]
        assert len(spooled) == 1   # CT_small, uploaded above; the refused file was not kept
        with pytest.raises(ClientError, match=r"films\[0\]\.layout"):
            hc.submit({"printer": "film", "films": [{"layout": "STANDARD\\0,2", "frames": [images["CT_small.dcm"]]}]})
        with pytest.raises(ClientError, match=r"films\[0\]\.frames\[0\]\.polarity"):
            hc.submit({"printer": "film", "films": [{"frames": [{"image": images["CT_small.dcm"],
                                                                   "polarity": "SIDEWAYS"}]}]})
        with pytest.raises(ClientError, match=r"frames\[0\]\.window"):
            hc.submit({"printer": "film", "films": [{"frames": [{"image": images["CT_small.dcm"],
                                                                   "window": {"center": 40, "width": 1e12}}]}]})
        with pytest.raises(ClientError, match=r"label: 'R.ntgen': use at most 64 printable ASCII"):
            hc.submit({"printer": "film", "label": "R\u00f6ntgen", "images": [images["CT_small.dcm"]]})
        with pytest.raises(ClientError, match="has not been uploaded"):
            hc.request("submit", spec={"printer": "film", "images": ["sha256:" + "0" * 64]})
        assert hc.list(all=True) == []  # nothing half-queued


def test_many_clients_at_once(daemon, images):
    import concurrent.futures

    def one(i):
        with daemon.client() as hc:
            return hc.submit_files([images["CT_small.dcm"]], printer="film" if i % 2 else "other")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(one, range(24)))
    assert len(set(jobs)) == 24
    with daemon.client() as hc:
        assert all(hc.wait(job, timeout=60)["state"] == "completed" for job in jobs)


def test_hcq_cli(daemon, images, tmp_path):
    def hcq(*args):
        return run_hcq(daemon, *args, timeout=120)

    done = hcq("submit", "-p", "film", "--layout", "STANDARD\\2,1", "--wait",
               images["CT_small.dcm"], images["MR_small.dcm"], images["CT_small.dcm"])
    assert done.returncode == 0, done.stderr
    job = int(done.stdout.strip())
    listed = json.loads(hcq("list", "--all", "--json").stdout)
    assert listed[0]["id"] == job and listed[0]["films_total"] == 2 and listed[0]["state"] == "completed"
    assert json.loads(hcq("show", str(job), "--json").stdout)["films_printed"] == 2
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"printer": "film", "films": [{"frames": [{"image": images["CT_small.dcm"]}]}]}))
    held = hcq("submit", "--spec", str(spec), "--hold")
    assert held.returncode == 0
    held_id = held.stdout.strip()
    assert hcq("priority", held_id, "high").returncode == 0
    assert hcq("move", held_id, "other").returncode == 0
    assert "held" in hcq("list").stdout
    assert hcq("cancel", held_id).returncode == 0
    assert hcq("disable", "film").returncode == 0
    assert hcq("reject", "film").returncode == 0
    printers = json.loads(hcq("printers", "--json").stdout)
    assert {p["name"]: (p["enabled"], p["accepting"]) for p in printers}["film"] == (False, False)
    refused = hcq("submit", "-p", "film", images["CT_small.dcm"])
    assert refused.returncode != 0 and refused.stderr.startswith("hcq: ") and "not accepting" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert hcq("accept", "film").returncode == 0 and hcq("enable", "film").returncode == 0
    out = tmp_path / "preview.png"
    previewed = hcq("preview", "-p", "film", "-o", str(out), images["CT_small.dcm"])
    assert previewed.returncode == 0, previewed.stderr
    assert Image.open(out).size == (560, 680)  # the printer's default film 14INX17IN at 40 dpi
    missing = hcq("show", "4242")
    assert missing.returncode != 0 and "no job 4242" in missing.stderr
    gone = run_hcq(None, "-s", tmp_path / "none.sock", "list", timeout=None)
    assert gone.returncode != 0 and "cannot reach hcserver" in gone.stderr


def test_hcq_writes_films_0600_whatever_the_umask_and_never_through_a_symlink(daemon, images, tmp_path):
    with daemon.client() as hc:
        job = hc.submit_files([images["CT_small.dcm"]], printer="film")
        assert hc.wait(job, timeout=60)["state"] == "completed"
    victim = tmp_path / "victim.txt"
    victim.write_text("not a film")
    old = os.umask(0)
    try:
        for command in (["film", str(job), "1"], ["preview", "-p", "film", images["CT_small.dcm"]]):
            out = tmp_path / f"{command[0]}.png"
            hcq_in_process(daemon.socket, *command, "-o", str(out))
            assert out.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(out.stat().st_mode) == 0o600, command
            out.chmod(0o644)   # a file there already, readable by all: made private as it is written over
            hcq_in_process(daemon.socket, *command, "-o", str(out))
            assert stat.S_IMODE(out.stat().st_mode) == 0o600, command
            link = tmp_path / f"{command[0]}-link.png"
            link.symlink_to(victim)
            said = hcq_in_process(daemon.socket, *command, "-o", str(link))
            assert "is a symbolic link: not written through it" in said and victim.read_text() == "not a film"
    finally:
        os.umask(old)
