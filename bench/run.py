#!/usr/bin/env python3
"""hcserver benchmark: one command, a table of figures and ratios (see bench/README.md).

    python bench/run.py                      # everything (about 5 minutes)
    python bench/run.py --quick              # a short smoke run of every section
    python bench/run.py --sections a,b,d     # some sections only
    python bench/run.py --profile            # also: py-spy profiles (printer worker, list request)
    python bench/run.py --report bench/results/latest.json   # print the table of a saved run

Sections:
  a  end to end: 20 films (STANDARD\\2,2 of 512x512, 14INX17IN) from submit until dcmprscp has
     them all, hcserver vs DCMTK's own pipeline (dcmpsprt per film + one dcmprscu)
  b  transfer floor: a bare pynetdicom loop sending the same boxes on one association
  c  formatter: bench/formatter_bench.py's median per 14INX17IN 320 dpi STANDARD\\4,5 film
  d  latency: submit -> first film session N-CREATE at the SCP, idle printer, warm association
  e  queue scale: 1,000 and 10,000 held jobs; hcq list --json wall time; submissions/s
  f  32 simulated printers at once: aggregate films/min, daemon peak RSS at 1, 8, 32 printers
  g  front door: store route ingest (images/s, MB/s) vs DCMTK storescp on the same files; print
     route latency from a modality's N-ACTION to its response, printer busy and jammed
  h  spools: submit rate and release -> first film, file spool vs spool = "database" (PostgreSQL),
     1 MB and 50 MB images (needs PostgreSQL and root, as the PostgreSQL tests)
  i  idle associations: the daemon's CPU while it holds 1, 8, 32 idle associations; latency then
  j  big films: 14INX17IN at 320 dpi, 12-bit, one image box (48.7 MB) vs a bare pynetdicom N-SET

Results go to bench/results/latest.json (a --quick run: bench/results/quick.json).
Speed is never asserted: this reports; targets are compared, nothing fails on a miss.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from hcbench.common import REPO, machine, make_images, spread, workdir  # noqa: E402

SECTION_NAMES = {"a": "end to end", "b": "transfer floor", "c": "formatter", "d": "latency",
                 "e": "queue scale", "f": "many printers", "g": "front door",
                 "h": "spools", "i": "idle associations", "j": "big films"}
TARGETS = {"end_to_end": 1.0, "floor_ratio": 1.3, "formatter_ms": 150.0, "latency_ms": 100.0,
           "list_10k_ms": 100.0, "ingest_ratio": 0.8, "n_action_p95_ms": 50.0,
           "idle_cores_per_association": 0.005, "big_film_memory_films": 3.0,
           "big_film_ratio": 1.3}


def log(text: str = "") -> None:
    print(text, flush=True)


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if len(line) > 3 and not line[3:].startswith("bench/")]
    return {"head": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_outside_bench": changed}


# --------------------------------------------------------------------------- the table
def _ratio_pairs(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b) if y]


def _median(values: list[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None


def build_table(results: dict) -> list[dict]:
    """Rows: metric, hcserver, reference, ratio, target, met."""
    rows: list[dict] = []
    s = results.get("sections", {})

    e2e = s.get("a")
    if e2e and "hcserver" in e2e and "dcmtk" in e2e:
        hc = [r["films_per_min"] for r in e2e["runs"]["hcserver"]]
        ref = [r["films_per_min"] for r in e2e["runs"]["dcmtk"]]
        ratio = _median(_ratio_pairs(hc, ref))
        rows.append({"metric": f"a. end to end, {e2e['films']} films (films/min)",
                     "hcserver": e2e["hcserver"]["films_per_min"]["median"],
                     "reference": e2e["dcmtk"]["films_per_min"]["median"], "reference_name": "DCMTK dcmpsprt+dcmprscu",
                     "ratio": ratio, "target": "ratio >= 1.0",
                     "met": ratio is not None and ratio >= TARGETS["end_to_end"],
                     "unit": "films/min"})
    fl = s.get("b")
    if fl and "floor" in fl and e2e and "hcserver" in e2e:
        hc = [r["wall_s"] / r["films"] * 1e3 for r in e2e["runs"]["hcserver"]]
        ref = [r["wall_s"] / r["films"] * 1e3 for r in fl["runs"]["floor"]]
        ratio = _median(_ratio_pairs(hc, ref))
        rows.append({"metric": "b. time per film vs bare pynetdicom (ms)",
                     "hcserver": round(_median(hc), 1), "reference": round(_median(ref), 1),
                     "reference_name": "pynetdicom loop, 1 assoc", "ratio": ratio, "target": "ratio <= 1.3",
                     "met": ratio is not None and ratio <= TARGETS["floor_ratio"], "unit": "ms"})
        hs = e2e["hcserver"].get("steady_per_film_s")
        fs = fl["floor"].get("steady_per_film_s")
        if hs and fs:
            rows.append({"metric": "b'. steady state per film, films 2..n (ms)",
                         "hcserver": round(hs["median"] * 1e3, 1), "reference": round(fs["median"] * 1e3, 1),
                         "reference_name": "pynetdicom loop", "ratio": hs["median"] / fs["median"],
                         "target": "(info)", "met": None, "unit": "ms"})
    fm = s.get("c")
    if fm:
        v = fm.get("median_ms")
        rows.append({"metric": "c. formatter, 14x17 320 dpi 4,5 CT (ms/film)", "hcserver": v and round(v, 1),
                     "reference": TARGETS["formatter_ms"], "reference_name": "target",
                     "ratio": v / TARGETS["formatter_ms"] if v else None, "target": "<= 150 ms",
                     "met": v is not None and v <= TARGETS["formatter_ms"], "unit": "ms"})
    lat = s.get("d")
    if lat and "minimal_scp" in lat:
        v = lat["minimal_scp"]["to_film_session_s"]["median"] * 1e3
        rows.append({"metric": "d. submit -> film session N-CREATE (ms)", "hcserver": round(v, 1),
                     "reference": TARGETS["latency_ms"], "reference_name": "target",
                     "ratio": v / TARGETS["latency_ms"], "target": "<= 100 ms", "met": v <= TARGETS["latency_ms"],
                     "unit": "ms"})
    q = s.get("e")
    if q and q.get("steps"):
        first, last = q["steps"][0], q["steps"][-1]
        v = last["hcq_list_json_s"]["median"] * 1e3
        ref = first["hcq_list_json_s"]["median"] * 1e3
        rows.append({"metric": f"e. hcq list --json at {last['jobs']} jobs (ms)", "hcserver": round(v, 1),
                     "reference": round(ref, 1), "reference_name": f"same at {first['jobs']} jobs",
                     "ratio": v / ref, "target": f"<= 100 ms at {last['jobs']}",
                     "met": v <= TARGETS["list_10k_ms"] if last["jobs"] >= 10000 else None, "unit": "ms"})
        if "hcq_list_json_after_change_s" in last:
            v = last["hcq_list_json_after_change_s"]["median"] * 1e3
            ref = first["hcq_list_json_after_change_s"]["median"] * 1e3
            rows.append({"metric": "e'. same, one job changed before each call (ms)", "hcserver": round(v, 1),
                         "reference": round(ref, 1), "reference_name": f"same at {first['jobs']} jobs",
                         "ratio": v / ref, "target": f"<= 100 ms at {last['jobs']}",
                         "met": v <= TARGETS["list_10k_ms"] if last["jobs"] >= 10000 else None, "unit": "ms"})
        rows.append({"metric": f"e. submissions/s (last {min(200, last['submit']['jobs'])} up to {last['jobs']})",
                     "hcserver": last["submit"]["last_200_per_second"],
                     "reference": first["submit"]["last_200_per_second"],
                     "reference_name": f"last {min(200, first['submit']['jobs'])} up to {first['jobs']}",
                     "ratio": last["submit"]["last_200_per_second"] / first["submit"]["last_200_per_second"],
                     "target": "(info)", "met": None, "unit": "1/s"})
    mp = s.get("f")
    if mp and mp.get("runs"):
        runs = {r["printers"]: r for r in mp["runs"]}
        lo, hi = min(runs), max(runs)
        rows.append({"metric": f"f. {hi} printers at once, aggregate (films/min)",
                     "hcserver": runs[hi]["films_per_min"],
                     "reference": runs[lo]["films_per_min"], "reference_name": f"{lo} printer",
                     "ratio": runs[hi]["films_per_min"] / runs[lo]["films_per_min"], "target": "(info)",
                     "met": None, "unit": "films/min"})
        rows.append({"metric": f"f. daemon peak RSS, {hi} printers (MiB)",
                     "hcserver": round(runs[hi]["daemon_vmhwm_kb"] / 1024, 1),
                     "reference": round(runs[lo]["daemon_vmhwm_kb"] / 1024, 1), "reference_name": f"{lo} printer",
                     "ratio": runs[hi]["daemon_vmhwm_kb"] / runs[lo]["daemon_vmhwm_kb"], "target": "(info)",
                     "met": None, "unit": "MiB"})
        if runs[hi].get("daemon_and_formatting_peak_pss_kb"):
            a, b = runs[hi]["daemon_and_formatting_peak_pss_kb"], runs[lo]["daemon_and_formatting_peak_pss_kb"]
            rows.append({"metric": f"f. with formatting processes, peak PSS, {hi} printers (MiB)",
                         "hcserver": round(a / 1024, 1), "reference": round(b / 1024, 1),
                         "reference_name": f"{lo} printer", "ratio": a / b, "target": "(info)",
                         "met": None, "unit": "MiB"})
    fd = s.get("g")
    if fd and "ingest" in fd:
        ing = fd["ingest"]
        rows.append({"metric": f"g. store route ingest, {ing['images']} CT (images/s)",
                     "hcserver": ing["hcserver"]["images_per_s"]["median"],
                     "reference": ing["storescp"]["images_per_s"]["median"], "reference_name": "DCMTK storescp",
                     "ratio": ing["ratio"], "target": "ratio >= 0.8", "met": ing["ratio"] >= TARGETS["ingest_ratio"],
                     "unit": "1/s"})
        if "pynetdicom" in ing:
            bare = ing["pynetdicom"]["images_per_s"]["median"]
            rows.append({"metric": "g'. bare pynetdicom SCP, same files (images/s)", "hcserver": bare,
                         "reference": ing["storescp"]["images_per_s"]["median"],
                         "reference_name": "DCMTK storescp", "ratio": bare / ing["storescp"]["images_per_s"]["median"],
                         "target": "(info)", "met": None, "unit": "1/s"})
        if "durable_ceiling" in ing:
            rows.append({"metric": "g, ceiling. storescp + one fdatasync per image (ms per sync; ratio)",
                         "hcserver": round(ing["sync_per_image_s"]["median"] * 1e3, 2),
                         "reference": ing["storescp"]["images_per_s"]["median"],
                         "reference_name": "DCMTK storescp, images/s", "ratio": ing["durable_ceiling"],
                         "target": "(info)", "met": None, "unit": "ms"})
        if "hcserver_queued" in ing:
            queued, scp = ing["hcserver_queued"]["images_per_s"]["median"], ing["storescp"]["images_per_s"]["median"]
            rows.append({"metric": "g''. store route, until the batch is queued (images/s)", "hcserver": queued,
                         "reference": scp, "reference_name": "DCMTK storescp", "ratio": queued / scp,
                         "target": "(info)", "met": None, "unit": "1/s"})
        rows.append({"metric": "g. store route ingest (MB/s)", "hcserver": ing["hcserver"]["mb_per_s"]["median"],
                     "reference": ing["storescp"]["mb_per_s"]["median"], "reference_name": "DCMTK storescp",
                     "ratio": ing["ratio"], "target": "(info)", "met": None, "unit": "MB/s"})
    if fd and "print_latency" in fd:
        for case in ("printing", "jammed"):
            v = fd["print_latency"][case]["p95"] * 1e3
            rows.append({"metric": f"g. N-ACTION -> response p95, printer {case} (ms)", "hcserver": round(v, 1),
                         "reference": TARGETS["n_action_p95_ms"], "reference_name": "target",
                         "ratio": v / TARGETS["n_action_p95_ms"], "target": "<= 50 ms",
                         "met": v <= TARGETS["n_action_p95_ms"], "unit": "ms"})
    sp = s.get("h")
    if sp and sp.get("runs"):
        runs = sp["runs"]
        for size in sp["sizes_mb"]:
            db, fs = runs[f"database_{size}mb"], runs[f"file_{size}mb"]
            rows.append({"metric": f"h. submit rate, {size} MB images, database spool (MB/s)",
                         "hcserver": db["mb_per_s"], "reference": fs["mb_per_s"], "reference_name": "file spool",
                         "ratio": db["mb_per_s"] / fs["mb_per_s"], "target": "(info)", "met": None, "unit": "MB/s"})
            a, b = db["first_film_s"]["median"], fs["first_film_s"]["median"]
            rows.append({"metric": f"h. release -> first film, {size} MB image, database spool (ms)",
                         "hcserver": round(a * 1e3, 1), "reference": round(b * 1e3, 1),
                         "reference_name": "file spool", "ratio": a / b, "target": "(info)", "met": None,
                         "unit": "ms"})
    idle = s.get("i")
    if idle and idle.get("runs"):
        target = TARGETS["idle_cores_per_association"]
        for r in idle["runs"]:
            v = r["cores_per_association"]
            rows.append({"metric": f"i. idle, {r['printers']} association(s) held (millicores per association)",
                         "hcserver": round(v * 1e3, 2), "reference": target * 1e3, "reference_name": "target",
                         "ratio": v / target, "target": f"<= {target * 1e3:g}", "met": v <= target,
                         "unit": "millicores"})
        last = idle["runs"][-1]
        lat = last.get("submit_to_film_session_s")
        if lat:
            v = lat["median"] * 1e3
            rows.append({"metric": f"i. submit -> film session N-CREATE, {last['printers']} idle held (ms)",
                         "hcserver": round(v, 1), "reference": TARGETS["latency_ms"],
                         "reference_name": "target", "ratio": v / TARGETS["latency_ms"],
                         "target": "<= 100 ms", "met": v <= TARGETS["latency_ms"], "unit": "ms"})
    big = s.get("j")
    if big and big.get("runs"):
        hc, fl = big["hcserver_per_film_s"]["median"] * 1e3, big["floor_per_film_s"]["median"] * 1e3
        rows.append({"metric": f"j. big film 14x17 320 dpi 12-bit, {big['films']} films (ms/film)",
                     "hcserver": round(hc, 1), "reference": round(fl, 1),
                     "reference_name": "pynetdicom N-SET loop, 1 assoc", "ratio": big["ratio"]["median"],
                     "target": "ratio <= 1.3", "met": big["ratio"]["median"] <= TARGETS["big_film_ratio"],
                     "unit": "ms"})
        v = big["daemon_peak_over_rest_films"]["median"]
        rows.append({"metric": "j. daemon peak memory over rest, 1 printer (films' worth)",
                     "hcserver": v, "reference": TARGETS["big_film_memory_films"], "reference_name": "aim",
                     "ratio": v / TARGETS["big_film_memory_films"], "target": "<= 3 films",
                     "met": v <= TARGETS["big_film_memory_films"], "unit": "films"})
    for row in rows:
        if row.get("ratio") is not None:
            row["ratio"] = round(row["ratio"], 3)
    return rows


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def format_table(rows: list[dict], markdown: bool = False) -> str:
    head = ["metric", "hcserver", "reference", "ratio", "target", "met?"]
    body = []
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        body.append([r["metric"], _cell(r["hcserver"]), f"{_cell(r['reference'])} ({r['reference_name']})",
                     _cell(r["ratio"]), r["target"], met])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(out)


# --------------------------------------------------------------------------- running
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run (1 repetition, small sizes)")
    ap.add_argument("--sections", default="abcdefghij", help="letters of the sections to run, e.g. 'a,b' (default all)")
    ap.add_argument("--reps", type=int, help="end-to-end repetitions (default 5; --quick 1)")
    ap.add_argument("--films", type=int, default=20, help="films per end-to-end run (default 20)")
    ap.add_argument("--latency-runs", type=int, help="timed submits for latency (default 15; --quick 3)")
    ap.add_argument("--queue-sizes", help="held-job counts, comma separated (default 1000,10000; --quick 100,500)")
    ap.add_argument("--printers", help="printer counts, comma separated (default 1,8,32; --quick 1,32)")
    ap.add_argument("--printer-films", type=int, help="films per printer in section f (default 10; --quick 1)")
    ap.add_argument("--idle-printers", help="printer counts for section i (default 1,8,32; --quick 1,8)")
    ap.add_argument("--idle-window", type=float, help="seconds of CPU time measured in section i "
                    "(default 5; --quick 2)")
    ap.add_argument("--big-films", type=int, help="films per job in section j (default 50; --quick 3)")
    ap.add_argument("--big-reps", type=int, help="repetitions of section j (default 3; --quick 1)")
    ap.add_argument("--profile", action="store_true", help="also profile with py-spy: the printer worker "
                    "during an end-to-end job, and the daemon answering list at the largest queue size")
    ap.add_argument("--profile-films", type=int, default=60)
    ap.add_argument("--json", dest="json_path", help="where to write the results "
                    "(default bench/results/latest.json; --quick: bench/results/quick.json)")
    ap.add_argument("--no-json", action="store_true", help="do not write a results file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    ap.add_argument("--report", metavar="JSON", help="print the table of a saved run and exit")
    ap.add_argument("--markdown", action="store_true", help="with --report: the table in Markdown")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        results = json.loads(Path(args.report).read_text())
        print(format_table(results.get("table") or build_table(results), markdown=args.markdown))
        return 0
    sections = [c for c in args.sections.lower() if c in SECTION_NAMES]
    quick = args.quick
    reps = args.reps or (1 if quick else 5)
    lat_runs = args.latency_runs or (3 if quick else 15)
    sizes = tuple(int(v) for v in (args.queue_sizes or ("100,500" if quick else "1000,10000")).split(","))
    counts = tuple(int(v) for v in (args.printers or ("1,32" if quick else "1,8,32")).split(","))
    printer_films = args.printer_films or (1 if quick else 10)
    idle_counts = tuple(int(v) for v in (args.idle_printers or ("1,8" if quick else "1,8,32")).split(","))
    idle_window = args.idle_window or (2.0 if quick else 5.0)

    info = machine()
    results: dict = {"generated": datetime.now(UTC).isoformat(timespec="seconds"),
                     "command": "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
                     "quick": quick, "machine": info, "git": git_state(), "sections": {}}
    log(f"hcserver benchmark{' (quick)' if quick else ''}: sections {','.join(sections)}; "
        f"{info['nproc']} CPUs ({info['cpu_model']}), load {info['loadavg_at_start']}, Python {info['python']}, "
        f"{info['dcmtk']}")
    started = time.perf_counter()
    with workdir(keep=args.keep) as work:
        if args.keep:
            log(f"working directory: {work}")
        images = make_images(work / "images")
        if "a" in sections or "b" in sections:
            from hcbench import endtoend

            log(f"\n== a/b. end to end and transfer floor: {args.films} films STANDARD\\2,2 of 512x512, "
                f"14INX17IN, {reps} repetition(s), fresh dcmprscp each")
            r = endtoend.run(work, images, args.films, reps, with_floor="b" in sections,
                             with_dcmtk="a" in sections, with_hcserver=True, log=log)
            if "a" in sections:
                results["sections"]["a"] = {k: v for k, v in r.items() if k != "floor"}
                results["sections"]["a"]["runs"] = {k: v for k, v in r["runs"].items() if k != "floor"}
                h, d = r["hcserver"], r.get("dcmtk")
                log(f"  hcserver {spread(h['films_per_min'], 'films/min', fmt='{:.0f}')}; "
                    f"DCMTK {spread(d['films_per_min'], 'films/min', fmt='{:.0f}')}")
            if "b" in sections:
                results["sections"]["b"] = {"films": r["films"], "floor": r["floor"],
                                            "runs": {"floor": r["runs"]["floor"]}}
                if "a" not in sections:   # the hcserver runs are needed for the ratio
                    results["sections"]["a"] = {"films": r["films"], "hcserver": r["hcserver"],
                                                "runs": {"hcserver": r["runs"]["hcserver"]}}
                log(f"  floor {spread(r['floor']['per_film_s'], 'ms/film', 1e3)}; hcserver "
                    f"{spread(r['hcserver']['per_film_s'], 'ms/film', 1e3)}")
        if "c" in sections:
            from hcbench import formatter_section

            log("\n== c. formatter (bench/formatter_bench.py)")
            results["sections"]["c"] = formatter_section.run(work, quick, log=log)
        if "d" in sections:
            from hcbench import latency

            log(f"\n== d. latency: submit -> first film session N-CREATE, idle printer, warm association, "
                f"{lat_runs} submits")
            results["sections"]["d"] = latency.run(work, images, lat_runs, with_simulator=True, log=log)
        if "e" in sections:
            from hcbench import queue_scale

            log(f"\n== e. queue scale: {', '.join(map(str, sizes))} held jobs")
            results["sections"]["e"] = queue_scale.run(work, images, sizes, 3 if quick else 5, log=log,
                                                       profile=args.profile)
            g = results["sections"]["e"].get("growth")
            if g:
                log(f"  growth x{g['jobs_factor']:.0f} jobs: hcq list x{g['hcq_list_factor']}, Client.list() "
                    f"x{g['client_list_factor']}, submit rate x{g['submit_rate_factor']}")
        if "f" in sections:
            from hcbench import many_printers

            log(f"\n== f. printers at once: {', '.join(map(str, counts))} printers, {printer_films} film(s) each")
            results["sections"]["f"] = many_printers.run(work, images, counts, printer_films, log=log)
        if "g" in sections:
            from hcbench import front_door

            log("\n== g. front door: store route ingest and print route N-ACTION latency")
            results["sections"]["g"] = front_door.run(work, images, quick, log=log)
        if "h" in sections:
            from hcbench import spools

            log("\n== h. spools: file vs database (PostgreSQL), 1 MB and 50 MB images")
            results["sections"]["h"] = spools.run(work, quick, log=log)
            from hcbench import idle_printers

            log(f"\n== i. idle associations: {', '.join(map(str, idle_counts))} printers, "
                f"{idle_window:g} s of daemon CPU time each")
            results["sections"]["i"] = idle_printers.run(work, images, idle_counts, idle_window,
                                                         3 if quick else 7, log=log)
        if "j" in sections:
            from hcbench import bigfilm

            big_films = args.big_films or (3 if quick else 50)
            big_reps = args.big_reps or (1 if quick else 3)
            log(f"\n== j. big films: {big_films} films of 14INX17IN at 320 dpi, 12-bit, one image box "
                f"(48.7 MB), {big_reps} repetition(s), hcserver and the floor back to back")
            results["sections"]["j"] = bigfilm.run(work, big_films, big_reps, log=log)
        if args.profile:
            from hcbench import profiling

            log(f"\n== profile: printer worker thread during {args.profile_films} films (py-spy)")
            results["profile"] = profiling.run(work, images, args.profile_films, log=log)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["table"] = build_table(results)
    log(f"\n== summary ({results['seconds']:.0f} s; {info['nproc']} CPUs, shared machine: figures are noisy)")
    log(format_table(results["table"]))
    if not args.no_json:
        default = BENCH / "results" / ("quick.json" if quick else "latest.json")
        path = Path(args.json_path) if args.json_path else default
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, default=str) + "\n")
        log(f"\nresults: {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
