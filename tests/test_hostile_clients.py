"""Hostile clients at once (slow, huge, many, malformed) while a job prints: the job completes,
root's ``hcq list`` answers within a few seconds all along, and the daemon serves on."""
from __future__ import annotations

import os
import time

import pytest

from tests.support.daemon import DaemonProcess
from tests.support.hostile import (
    Holder,
    as_user,
    cpu_use,
    hcq,
    huge_clients,
    join,
    malformed_clients,
    open_file_limit,
    slow_clients,
)
from tests.support.root import needs_root

pytestmark = [pytest.mark.slow,   # daemons under load
              needs_root("switching users")]

CONFIG = """
[server]
state_dir = "@STATE@"
socket_group = "nogroup"
stall_timeout_s = 3

[printers.film]
driver = "preview"
dpi = 300
"""
ATTACK_S = 15
FILMS = 12


def test_a_job_prints_and_root_is_answered_while_hostile_clients_attack(images):
    process = DaemonProcess(CONFIG)
    os.chmod(process.dir, 0o755)
    with open_file_limit(1024):   # systemd's default, for a unit file that would set none
        process.start()
    attackers, holders = [], []
    try:
        until = time.monotonic() + ATTACK_S
        attackers = [as_user(51000, slow_clients, process.socket, until),
                     as_user(51001, huge_clients, process.socket, until),
                     as_user(51002, malformed_clients, process.socket, until),
                     as_user(51003, malformed_clients, process.socket, until)]
        holders = [Holder(uid, process.socket, 40) for uid in range(51010, 51040)]   # many: 1200, every slot
        # the attack under way, every holder holding what it got: the job is submitted and printed through it
        reports = [holder.result() for holder in holders]
        with process.client(timeout=10) as root:
            frames = [images["CT_small.dcm"], images["MR_small.dcm"]] * 2
            job = root.submit({"printer": "film", "films": [
                {"film_size": "14INX17IN", "layout": "STANDARD\\2,2", "frames": frames} for _ in range(FILMS)]})
        answers, states = [], set()
        while time.monotonic() < until:
            # the 30 s is a deadline that means a hang; how fast root is answered is bench/'s
            done, took = hcq(process.socket, "list", "--all", timeout=30)
            answers.append((done.returncode, round(took, 2), done.stderr.strip()))
            rows = [line.split() for line in done.stdout.splitlines()[1:]]
            states.update(row[1] for row in rows if row[:1] == [str(job)])
            time.sleep(0.5)
        assert answers and all(code == 0 for code, _, _ in answers), answers
        held = [report["held"] for report in reports]
        assert sum(held) <= 512 - 16, held
        with process.client() as root:
            result = root.wait(job, timeout=120)
        assert result["state"] == "completed" and result["films_printed"] == FILMS, result
        assert "processing" in states, states   # it printed while the attack went on
        assert process.alive()
        print(f"\nroot's hcq list under attack: {len(answers)} answers, slowest {max(t for _, t, _ in answers)} s; "
              f"{sum(held)} idle connections held by 30 users")
    finally:
        join(attackers)
        for holder in holders:
            holder.release()
    assert cpu_use(process.proc.pid, 2.0) < 0.2   # the attack over, nothing left spinning
    process.cleanup()
