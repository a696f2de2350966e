"""hcq finds the server's socket, and says where it looked and why when it cannot use it."""
from __future__ import annotations

import socket
import subprocess

from tests.support.daemon import REPO
from tests.support.hcq import run_hcq


def hcq(*args, cwd, **env) -> subprocess.CompletedProcess:
    """``hcq ARGS`` in ``cwd`` with none of this process's HCSERVER_* variables: only ``env``'s."""
    return run_hcq(None, *args, cwd=cwd, env={"PYTHONPATH": str(REPO), **env}, inherit_settings=False)


def test_no_server_says_which_socket_from_which_file_and_what_to_try(tmp_path):
    config = tmp_path / "site" / "hcserver.toml"
    config.parent.mkdir()
    config.write_text('[server]\nstate_dir = "state"\n[printers.a]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = hcq("list", cwd=elsewhere, HCSERVER_CONFIG=str(config))
    assert result.returncode == 1
    sock = tmp_path / "site" / "state" / "run" / "hcserver.sock"   # relative to the file, not to cwd
    lines = result.stderr.splitlines()
    assert lines[0] == f"hcq: cannot reach hcserver at {sock}: No such file or directory"
    assert lines[1] == f"  the socket is from server.socket of {config}"
    assert "is hcserver running" in lines[2]


def test_a_socket_given_on_the_command_line_or_left_behind(tmp_path):
    stale = tmp_path / "hcserver.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(stale))
    listener.close()   # the file stays, nothing listens: a server that was killed
    result = hcq("-s", str(stale), "printers", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  the socket is from -s/--socket",
        "  nothing answers on it: hcserver is not running (the socket is left from an earlier run)"]
    from_env = hcq("printers", cwd=tmp_path, HCSERVER_SOCKET=str(tmp_path / "none.sock"))
    assert from_env.stderr.splitlines()[1] == "  the socket is from $HCSERVER_SOCKET"
