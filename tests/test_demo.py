"""The README's first command: the demo prints a real job on the embedded defaults."""
from __future__ import annotations

import subprocess
import sys


def test_demo_prints_to_preview_and_over_dicom(tmp_path):
    demo = subprocess.run([sys.executable, "-m", "hcserver.demo"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "on preview: completed, 2 of 2 films" in demo.stdout
    assert "on simulator: completed, 2 of 2 films" in demo.stdout
    previews = sorted((tmp_path / "demo-run" / "var" / "preview").glob("*.png"))
    received = sorted((tmp_path / "demo-run" / "simulator-films").glob("film_*.json"))
    assert len(previews) == 2 and len(received) == 2
