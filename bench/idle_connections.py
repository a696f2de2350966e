"""How many idle connections the daemon holds while root's ``hcq list`` still answers in under a
second. Needs root (the idle connections belong to other users, in forked children).

    python bench/idle_connections.py                    # steps up to 16000 connections
    python bench/idle_connections.py --steps 500,1000 --max-connections 2000

Each step adds users (500 connections each) holding idle connections (each answered by a ping),
then times root's ``hcq list`` three times (a fresh process each: what a person waits). It stops
at the first step whose slowest answer takes a second or more, or when the daemon accepts no more
(its limits, or the file descriptors it may open). Everything is local: a Unix socket in a
temporary directory.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.daemon import DaemonProcess  # noqa: E402
from tests.support.hostile import Holder, hcq  # noqa: E402
from tests.support.proc import MB, peak_rss  # noqa: E402

CONFIG = """
[server]
state_dir = "@STATE@"
socket_group = "nogroup"
max_connections = {max_connections}
max_connections_per_user = {per_user}

[printers.film]
driver = "preview"
dpi = 40
"""
PER_HOLDER = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="496,1000,2000,4000,8000,12000,16000")
    parser.add_argument("--max-connections", type=int, default=20000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the idle connections are other users'")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"open file limit of this shell (the daemon raises its soft limit to the hard one): {soft}/{hard}")
    process = DaemonProcess(CONFIG.format(max_connections=args.max_connections, per_user=PER_HOLDER))
    os.chmod(process.dir, 0o755)
    process.start()
    holders: list[Holder] = []
    held = 0
    best = 0
    try:
        for step in (int(s) for s in args.steps.split(",")):
            while held < step:
                holder = Holder(52000 + len(holders), process.socket, min(PER_HOLDER, step - held))
                holders.append(holder)
                got = holder.result()["held"]
                held += got
                if got < holder.count:
                    break
            times = []
            for _ in range(3):
                done, took = hcq(process.socket, "list", timeout=60)
                times.append(took if done.returncode == 0 else float("inf"))
            rss = peak_rss(process.proc.pid) // MB
            print(f"{held:6d} idle connections held: root's hcq list {', '.join(f'{t:.2f}' for t in times)} s "
                  f"(daemon peak RSS {rss} MiB)", flush=True)
            if max(times) >= 1.0:
                break
            best = held
            if held < step:
                print("the daemon took no more connections")
                break
    finally:
        for holder in holders:
            holder.release()
        process.cleanup()
    print(f"largest number of idle connections held while root's hcq list answered in under a second: {best}")


if __name__ == "__main__":
    main()
