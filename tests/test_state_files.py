"""The daemon's state on disk is private whatever the umask: a real daemon started under umask
000, and a second, real Unix user (created for the test) in the socket's group, who may use the
socket and read nothing else. CI runs as root, which creating users and switching to them needs.
"""
from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest

from hcserver.client import Client, ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.root import needs_root
from tests.support.users import call_as, throwaway_user

pytestmark = [needs_root("creating and switching users"),
              pytest.mark.slow]   # every test starts a daemon process


@pytest.fixture
def other_user():
    """A throw-away Unix user with a group of its own."""
    with throwaway_user("hcs") as user:
        yield user


def what_they_can_reach(socket_path: Path, files: list[str], directories: list[str]) -> dict:
    """Run as the other user: can it use the socket; which files can it read, which directories list."""
    try:
        with Client(socket_path, timeout=30) as client:
            user = client.request("ping")["user"]
    except ClientError as exc:
        user = f"refused: {exc}"
    readable, listable = [], []
    for path in files:
        try:
            with open(path, "rb") as file:
                file.read(1)
            readable.append(path)
        except OSError:
            pass
    for path in directories:
        try:
            os.listdir(path)
            listable.append(path)
        except OSError:
            pass
    return {"user": user, "readable": readable, "listable": listable}


def start_with_umask(process: DaemonProcess, umask: int) -> None:
    old = os.umask(umask)
    try:
        process.start()
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def state_of(state_dir: Path) -> tuple[list[Path], list[Path]]:
    files, directories = [], []
    for root, dirs, names in os.walk(state_dir):
        directories += [Path(root, name) for name in dirs]
        files += [Path(root, name) for name in names]
    return files, directories


@pytest.mark.parametrize("socket_inside", [True, False], ids=["socket-in-state-dir", "socket-elsewhere"])
def test_state_is_private_whatever_the_umask_and_only_the_socket_is_for_its_group(other_user, images,
                                                                                 tmp_path, socket_inside):
    import pydicom

    group = grp.getgrgid(other_user.pw_gid).gr_name
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", f'retry_interval_s = 1\nsocket_group = "{group}"')
    process = DaemonProcess(config)
    if not socket_inside:   # as with the systemd unit: /run/hcserver/hcserver.sock
        process.socket = process.dir / "run-elsewhere" / "hcserver.sock"
        process.config.write_text(process.config.read_text().replace(
            "[server]", f'[server]\nsocket = "{process.socket}"', 1))
    os.chmod(process.dir, 0o755)   # the state directory's parent, like /var/lib: anyone may pass
    state_dir = process.dir / "var"
    ds = pydicom.dcmread(images["CT_small.dcm"])
    ds.PatientName = "Private^Patient"
    private = tmp_path / "private.dcm"
    ds.save_as(private)

    def check_state() -> None:
        files, directories = state_of(state_dir)
        socket_dir = process.socket.parent
        expected_files = {path: 0o660 if path == process.socket else 0o600 for path in files}
        expected_dirs = {path: 0o750 if path == socket_dir else 0o700 for path in directories}
        expected_dirs[state_dir] = 0o710 if socket_inside else 0o700   # its group passes to the socket
        assert {str(p): oct(mode(p)) for p in [*files, *directories, state_dir]} == \
               {str(p): oct(m) for p, m in {**expected_files, **expected_dirs}.items()}
        if socket_inside:
            assert os.stat(state_dir).st_gid == other_user.pw_gid
        names = {p.name for p in files}
        assert {"queue.db", "queue.db-wal", "audit.log"} <= names and any(n.endswith(".png") for n in names)
        reached = call_as(other_user, lambda: what_they_can_reach(
            process.socket, [str(p) for p in files if p != process.socket],
            [str(p) for p in [state_dir, *directories]]))
        assert reached == {"user": other_user.pw_name, "readable": [],
                           "listable": [str(socket_dir)] if socket_inside else []}

    try:
        start_with_umask(process, 0)
        with process.client() as hc:
            job = hc.submit_files([private], printer="film")
            assert hc.wait(job, timeout=30)["state"] == "completed"
            hc.upload(images["MR_small.dcm"])
            held = hc.submit_files([images["SC_rgb_rle.dcm"]], printer="film", hold=True)
            hc.release(held)
            assert hc.wait(held, timeout=30)["state"] == "completed"
        check_state()
        # State an older version left readable is made private at the next start.
        process.stop()
        files, directories = state_of(state_dir)
        for path in files:
            os.chmod(path, 0o644)
        for path in [state_dir, *directories]:
            os.chmod(path, 0o755)
        start_with_umask(process, 0)
        with process.client() as hc:
            hc.cancel(hc.submit_files([images["MR_small.dcm"]], printer="film", hold=True))   # -wal again
        check_state()
    finally:
        process.cleanup()
