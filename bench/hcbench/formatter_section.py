"""Section c: the formatter's cost per film, from ``bench/formatter_bench.py``.

That script belongs to the formatter's own benchmark (14INX17IN at 320 dpi,
``STANDARD\\4,5`` of 512x512 CT, one core); it is run here as a subprocess
(``--runs 5`` with ``--quick``, else its default) and its median is read from
what it prints: a JSON object with a key holding
"median" (milliseconds, or seconds when the key ends in ``_s``), else the
first "median … N ms" in its text.

When the script is not there (yet), a stand-in measures the same film with
:func:`hcserver.formatter.format_film` in a subprocess pinned to one CPU, and the
result says so.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hcbench.common import REPO, summary

SCRIPT = REPO / "bench" / "formatter_bench.py"
ONE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "NUMEXPR_NUM_THREADS": "1"}


def _median_in_json(obj: Any, path: str = "") -> list[tuple[str, float]]:
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            if "median" in str(key).lower() and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append((where, float(value)))
            else:
                found += _median_in_json(value, where)
    return found


def parse_median_ms(text: str) -> tuple[float | None, str]:
    """The median per film in ms from the script's output, and where it was found."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        hits = _median_in_json(obj)
        for key, value in hits:
            if "ms" in key.lower():
                return value, f"json {key}"
        for key, value in hits:
            if key.lower().endswith("_s"):
                return value * 1e3, f"json {key} (s)"
        if hits:
            return hits[0][1], f"json {hits[0][0]}"
    try:
        obj = json.loads(text)
        hits = _median_in_json(obj)
        if hits:
            key, value = hits[0]
            return (value * 1e3 if key.lower().endswith("_s") else value), f"json {key}"
    except ValueError:
        pass
    m = re.search(r"median[^0-9\n]{0,40}?([0-9]+(?:\.[0-9]+)?)\s*ms", text, re.IGNORECASE)
    if m:
        return float(m.group(1)), "text 'median … ms'"
    m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*ms[^\n]{0,40}median", text, re.IGNORECASE)
    if m:
        return float(m.group(1)), "text '… ms … median'"
    return None, "no median found in the output"


def _run_script(args: list[str], timeout: float) -> dict:
    env = {**os.environ, **ONE_CORE_ENV,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)
    out = proc.stdout + ("\n" + proc.stderr if proc.returncode else "")
    median, how = parse_median_ms(proc.stdout)
    return {"source": "bench/formatter_bench.py", "args": args, "returncode": proc.returncode,
            "median_ms": median, "parsed_from": how, "seconds": round(time.perf_counter() - t0, 1),
            "output_tail": out.strip().splitlines()[-15:]}


STAND_IN = r"""
import json, os, statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
cpus = sorted(os.sched_getaffinity(0)); os.sched_setaffinity(0, {cpus[-1]})
from hcbench.common import make_images
from hcserver import formatter
from hcserver.formatter.film import PrinterProfile
images = make_images(Path(sys.argv[3]), 4)
film = {"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\4,5",
        "magnification": "CUBIC",
        "frames": [{"image": f"img{i % 4}", "frame": 0} for i in range(20)]}
paths = {f"img{i}": str(p) for i, p in enumerate(images)}
profile = PrinterProfile(dpi=320, bit_depth=8, color=False, magnification="CUBIC")
for _ in range(2):
    formatter.format_film(film, paths, profile, 0)
times = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter(); sheet = formatter.format_film(film, paths, profile, 0)
    times.append(time.perf_counter() - t)
box = sheet.boxes[0].pixels.shape
print(json.dumps({"median_ms": statistics.median(times) * 1e3, "times_ms": [round(t * 1e3, 1) for t in times],
                  "box_pixels": list(box)}))
"""


def _stand_in(work: Path, reps: int, timeout: float) -> dict:
    bench = Path(__file__).resolve().parents[1]
    env = {**os.environ, **ONE_CORE_ENV}
    proc = subprocess.run([sys.executable, "-c", STAND_IN, str(REPO), str(bench), str(work / "fmt-img"),
                           str(reps)], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        return {"source": "stand-in", "median_ms": None, "error": proc.stderr.strip().splitlines()[-5:]}
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"source": "stand-in (bench/formatter_bench.py not found): formatter.format_film, 14INX17IN "
                      "320 dpi STANDARD\\4,5 of 512x512 CT, CUBIC, pinned to one CPU",
            "median_ms": data["median_ms"], "times_ms": summary(data["times_ms"], 1),
            "box_pixels": data["box_pixels"]}


def run(work: Path, quick: bool, log=print, timeout: float = 900) -> dict:
    if SCRIPT.exists():
        try:
            result = _run_script(["--runs", "5"] if quick else [], timeout)
            if quick and result["returncode"] == 2 and result["median_ms"] is None:
                result = _run_script([], timeout)      # no --runs option: its default run
        except subprocess.TimeoutExpired:
            result = {"source": "bench/formatter_bench.py", "median_ms": None,
                      "error": f"timed out after {timeout:g} s"}
        if result.get("median_ms") is None:
            log(f"  bench/formatter_bench.py gave no median ({result.get('parsed_from') or result.get('error')}); "
                "measuring with the stand-in instead")
            fallback = _stand_in(work, 5 if quick else 15, timeout)
            fallback["script_result"] = result
            result = fallback
    else:
        result = _stand_in(work, 5 if quick else 15, timeout)
    if result.get("median_ms") is not None:
        log(f"  formatter: {result['median_ms']:.1f} ms per film (median; {result['source']})")
    else:
        log(f"  formatter: no figure ({result.get('error')})")
    return result
