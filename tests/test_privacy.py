"""What a second Unix user sees of root's jobs (their private details are not theirs to read),
and the trace refused actions leave in the audit log.

The second user is real: created for the test (CI runs as root, which creating users and
switching to them needs), in the socket's group. ``hcq`` runs as that user in a forked child
(the interpreter lives where only root may read, so the child imports nothing new: hcq's
commands here need no module the test has not loaded).
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import socket
import sys
import tempfile

import pydicom
import pytest

from hcserver.cli.hcq import cli as hcq_cli
from hcserver.client import Client, ClientError
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.daemon import DaemonProcess
from tests.support.root import needs_root
from tests.support.tls import make_certificates
from tests.support.users import become, run_as, throwaway_user

pytestmark = [pytest.mark.slow,   # each test starts a daemon
              needs_root("creating and switching users")]

SECRET = "Secret^Patient"
SECRET_ID = "SECRET-ID-123"


@pytest.fixture
def other_user():
    """A throw-away Unix user with a group of its own."""
    with throwaway_user("hcp") as user:
        yield user


def hcq(user: pwd.struct_passwd | None, socket_path, *args: str) -> tuple[int, str, str]:
    """``hcq -s SOCKET ARGS`` as ``user`` (None: root); its exit status, stdout and stderr.

    Not :func:`tests.support.users.hcq_as`, which gives click's test runner's output and errors
    mixed (at 200 columns): this runs hcq's own entry point on real file descriptors."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            if user is not None:
                become(user)
            try:
                hcq_cli.main(args=["-s", str(socket_path), *args], prog_name="hcq")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    return os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode()


def shared_config(group: str, sim_port: int | None = None) -> str:
    text = f"""
[server]
state_dir = "@STATE@"
retry_interval_s = 1
socket_group = "{group}"
log_patient_data = true
idle_release_s = 60

[printers.film]
driver = "preview"
dpi = 40
"""
    if sim_port is not None:
        text += f"""
[printers.sim]
driver = "dicom"
ae_title = "PRINTSCP"
host = "127.0.0.1"
port = {sim_port}
dpi = 40
dimse_timeout_s = 3
status_poll_s = 30
"""
    return text


def start_shared(config: str) -> DaemonProcess:
    process = DaemonProcess(config)
    os.chmod(process.dir, 0o755)   # the state directory's parent, like /var/lib: anyone may pass
    return process.start()


def patient_image(images, tmp_path) -> str:
    ds = pydicom.dcmread(images["CT_small.dcm"])
    ds.PatientName, ds.PatientID = SECRET, SECRET_ID
    path = tmp_path / "patient.dcm"
    ds.save_as(path)
    return str(path)


def film_of(image: str, printer: str, label: str) -> dict:
    return {"printer": printer, "label": label,
            "films": [{"film_size": "14INX17IN", "layout": "STANDARD\\1,1", "frames": [image]}]}


def only_public(item: dict, public: set[str]) -> bool:
    """Every field of ``item`` outside ``public`` is empty."""
    return all(value is None for key, value in item.items() if key not in public | {"private"})


@pytest.mark.dicom   # prints through the simulator
def test_other_users_see_roots_jobs_as_rows_without_their_private_details(other_user, images, tmp_path):
    group = grp.getgrgid(other_user.pw_gid).gr_name
    image = patient_image(images, tmp_path)
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        process = start_shared(shared_config(group, sim.port))
        sock = process.socket
        try:
            with process.client() as hc:   # root's jobs: one with a printer's warning, one failed, one previewed
                sim.add_fault(Fault(operation="N-SET", status=0xB604))
                warned = hc.submit(film_of(image, "sim", f"{SECRET} warned"))
                assert hc.wait(warned, timeout=60)["state"] == "completed"
                sim.add_fault(Fault(operation="N-CREATE", sop_class="film-box", status=0x0106))
                failed = hc.submit(film_of(image, "sim", f"{SECRET} failed"))
                assert hc.wait(failed, timeout=60)["state"] == "failed"
                previewed = hc.submit(film_of(image, "film", f"{SECRET} previewed"))
                assert hc.wait(previewed, timeout=60)["state"] == "completed"
                whole = {job: hc.show(job, log=True) for job in (warned, failed, previewed)}
            # Root sees everything: the details below exist, so their absence later means something.
            assert whole[warned]["warnings"][0]["meaning"] and whole[warned]["log"]
            assert whole[warned]["events"][0]["data"]["patients"] == [f"{SECRET} ({SECRET_ID})"]
            assert whole[failed]["error"] and whole[previewed]["films"][0]["output"]
            mine = run_as(other_user, sock, lambda c: c.submit(
                film_of(images["MR_small.dcm"], "film", "my own label"), hold=True))
            assert isinstance(mine, int), mine

            # Root lists first: the list text kept for root must not be what the other user gets.
            code, as_root, _ = hcq(None, sock, "list", "--all", "--json")
            assert code == 0 and SECRET in as_root
            code, listed, err = hcq(other_user, sock, "list", "--all", "--json")
            assert code == 0, err
            assert SECRET not in listed and SECRET_ID not in listed
            by_id = {job["id"]: job for job in json.loads(listed)}
            for job in (warned, failed, previewed):
                row = by_id[job]
                assert row["private"] is True and row["state"] == whole[job]["state"]
                assert (row["printer"], row["owner"], row["films_total"]) == (whole[job]["printer"], "root", 1)
                assert row["label"] is None and row["error"] is None
                assert all(only_public(w, {"at"}) for w in row["warnings"])
            assert len(by_id[warned]["warnings"]) == 1
            assert by_id[mine]["label"] == "my own label" and "private" not in by_id[mine]
            code, again, _ = hcq(None, sock, "list", "--all", "--json")
            assert code == 0 and again == as_root

            code, shown, err = hcq(other_user, sock, "show", str(warned), "--log", "--json")
            assert code == 0, err
            assert SECRET not in shown and SECRET_ID not in shown
            job = json.loads(shown)
            assert job["log"] == [] and job["label"] is None and job["private"] is True
            assert [e["kind"] for e in job["events"]] == [e["kind"] for e in whole[warned]["events"]]
            assert all(only_public(e, {"id", "job", "at", "kind", "from", "to"}) for e in job["events"])
            code, shown, _ = hcq(other_user, sock, "show", str(previewed))
            assert code == 0 and "for its owner (root) and administrators only" in shown
            assert whole[previewed]["films"][0]["output"] not in shown and SECRET not in shown
            code, shown, _ = hcq(other_user, sock, "show", str(failed))
            assert code == 0 and whole[failed]["error"] not in shown
            code, shown, _ = hcq(other_user, sock, "show", str(mine), "--json")
            assert json.loads(shown)["label"] == "my own label"

            waited = run_as(other_user, sock, lambda c: c.wait(warned, timeout=5))
            assert waited["label"] is None and waited["events"][0]["data"] is None
            events = run_as(other_user, sock, lambda c: c.request("events", since=0, timeout=0)["events"])
            assert isinstance(events, list) and SECRET not in json.dumps(events), events
            assert all(isinstance(e, dict) for e in events), events
            theirs = [e for e in events if e["job"] != mine]
            assert theirs and all(e["private"] and e["reason"] is None and e["data"] is None for e in theirs)
            own = [e for e in events if e["job"] == mine]
            assert own and own[0]["reason"] and own[0]["data"]["films"] == 1
        finally:
            process.cleanup()


def test_refused_actions_are_audited_with_who_what_and_why(other_user, images):
    group = grp.getgrgid(other_user.pw_gid).gr_name
    process = start_shared(shared_config(group))
    sock, name = process.socket, other_user.pw_name
    try:
        with process.client() as hc:
            job = hc.submit(film_of(images["CT_small.dcm"], "film", "root's"), hold=True)
        refusals = [("cancel", str(job)), ("priority", str(job), "high"), ("disable", "film"), ("reload",),
                    ("cancel", "999999")]
        for args in refusals:
            code, _, err = hcq(other_user, sock, *args)
            assert code == 1 and err.startswith("hcq: "), (args, err)
        refused = run_as(other_user, sock, lambda c: c.submit({
            "printer": "film", "label": SECRET, "films": [{"layout": "STANDARD\\9,9,9",
                                                           "frames": [images["MR_small.dcm"]]}]}))
        assert refused[:2] == ["error", "invalid-spec"]
        with process.client() as hc:
            assert hc.cancel(job)["state"] == "canceled"    # done: recorded as before, with no refusal
        text = (process.dir / "var" / "audit.log").read_text()   # each line is written before the answer
    finally:
        process.cleanup()
    assert SECRET not in text
    audit = [json.loads(line) for line in text.splitlines()]
    assert [(e["who"], e["action"], e.get("job"), e.get("printer"), e.get("refused")) for e in audit] == [
        ("root", "submit", job, "film", None),
        (name, "cancel", job, None, "forbidden"),
        (name, "priority", job, None, "forbidden"),
        (name, "disable", None, "film", "forbidden"),
        (name, "reload", None, None, "forbidden"),
        (name, "cancel", 999999, None, "unknown-job"),
        (name, "submit", None, "film", "invalid-spec"),
        ("root", "cancel", job, None, None)]
    why = [e.get("why") for e in audit if e.get("refused")]
    assert why[0] == f"{name} may not cancel job {job} of root (only its owner or an administrator may)"
    assert why[1].startswith(f"{name} may not reprioritise job {job} of root")
    assert why[2] == f"{name} may not disable printer film: printer administration is for administrators"
    assert why[3] == f"{name} may not reload the configuration: printer administration is for administrators"
    assert why[4] == "no job 999999"
    assert why[5] is None    # a spec's error quotes the spec (here a label naming a patient): its code only


def test_a_remote_client_refused_at_auth_is_audited(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = DaemonProcess(f"""
[server]
state_dir = "@STATE@"

[server.tcp]
listen = "127.0.0.1:{port}"
cert_file = "{certs.server_cert}"
key_file = "{certs.server_key}"
[server.tcp.clients.ris]
token = "ris-0123456789abcdef"

[printers.film]
driver = "preview"
""").start()
    try:
        with pytest.raises(ClientError) as refused:
            with Client(f"tls://127.0.0.1:{port}", token="not-the-token-0123456789", ca_file=str(certs.ca)) as hc:
                hc.request("ping")
        assert refused.value.code == "unauthenticated"
        text = (process.dir / "var" / "audit.log").read_text()
    finally:
        process.cleanup()
    [entry] = [json.loads(line) for line in text.splitlines()]
    assert (entry["action"], entry["refused"], entry["why"]) == ("auth", "unauthenticated", "bad or missing token")
    assert entry["who"].startswith("127.0.0.1:")   # a refused client has no name: its address
