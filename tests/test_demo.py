"""The README's first command: the demo prints a real job on the embedded defaults."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.dicom, pytest.mark.slow]


def test_demo_prints_to_preview_and_over_dicom(tmp_path):
    # Under umask 000: what the demo leaves must still be private (its films show patient names).
    # The simulator on a port the OS picks, not the embedded defaults' 11112: other runs may hold that.
    demo = subprocess.run([sys.executable, "-m", "hcserver.demo", "--simulator-port", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, umask=0)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "on preview: completed, 2 of 2 films" in demo.stdout
    assert "on simulator: completed, 2 of 2 films" in demo.stdout
    # the colour image prints grey on the grayscale printers, and the demo says why
    assert demo.stdout.count("colour image (RGB) printed as grey on a grayscale film") == 2
    assert "printer of the embedded defaults is grayscale; a printer with color = true" in demo.stdout
    run = tmp_path / "demo-run"
    previews = sorted((run / "var" / "preview").glob("*.png"))
    received = sorted((run / "simulator-films").glob("film_*.json"))
    assert len(previews) == 2 and len(received) == 2
    exposed = {}
    for root, dirs, files in os.walk(run):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            # Nothing for other users; for the group only the way to the (removed) socket.
            if mode & 0o007 or (name in files and mode & 0o077):
                exposed[os.path.relpath(path, run)] = oct(mode)
    assert exposed == {}
    assert stat.S_IMODE(os.stat(run).st_mode) == 0o700
