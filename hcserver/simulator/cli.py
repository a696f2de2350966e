"""The printer simulator's command line: ``hcserver simulate-printer`` and
``python -m hcserver.simulator`` run one in the foreground until SIGINT or SIGTERM."""
from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from hcserver import profiles
from hcserver.simulator.faults import FAULT_SYNTAX, parse_fault, parse_printer_status
from hcserver.simulator.scp import PrinterSimulator

# The package's logger: every module of the simulator logs under it.
LOG = logging.getLogger("hcserver.simulator")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hcserver simulate-printer",
        description="Run a simulated DICOM film printer (Print SCP) in the foreground. "
                    "Every printed film is written to --out as film_NNNN.png/.json and "
                    "a line of films.jsonl. One line per DIMSE request is logged to stderr.",
        epilog=FAULT_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=11112, help="TCP port (0: any free port; default 11112)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--ae-title", default="HCSIM", help="the printer's AE title (default HCSIM)")
    p.add_argument("--out", metavar="DIR", type=Path, help="directory for the printed films")
    p.add_argument("--profile", choices=profiles.names(), metavar="NAME",
                   help="emulate a printer profile: accept only the film sizes, layouts, media, magnifications, "
                        "bit depth and Presentation LUT level it lists (one of: " + ", ".join(profiles.names()) + ")")
    p.add_argument("--grayscale-only", action="store_true", help="refuse the colour print classes")
    p.add_argument("--no-12bit", action="store_true", help="accept 8-bit images only")
    p.add_argument("--printer-status", default="NORMAL", metavar="STATUS[:INFO]",
                   help='what N-GET Printer answers, e.g. "FAILURE:FILM JAM" (default NORMAL)')
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault (repeatable; syntax below)")
    p.add_argument("--random-events", type=float, default=0.0, metavar="PER_SECOND",
                   help="send Printer N-EVENT-REPORTs at random moments to the associations in use, "
                        "this many per second on average, not waiting for their answers (default 0)")
    p.add_argument("--random-event", metavar="STATUS[:INFO]",
                   help='what those report, e.g. "WARNING:SUPPLY LOW" (default: the printer status)')
    p.add_argument("--seed", type=int, help="seed of the random moments")
    p.add_argument("--refuse", metavar="RESULT,SOURCE,REASON",
                   help="reject every association with this A-ASSOCIATE-RJ, e.g. 1,1,3")
    p.add_argument("--no-contexts", action="store_true",
                   help="accept associations but no presentation context")
    p.add_argument("--check-called-ae", action="store_true",
                   help="reject associations whose called AE title is not --ae-title")
    p.add_argument("--max-film-sessions", type=int, metavar="N",
                   help="film sessions one association may hold at once; one more N-CREATE is refused "
                        "with 0x0213 (default: no limit)")
    p.add_argument("--session-print-only", action="store_true",
                   help="print whole film sessions only: answer a film box's N-ACTION with 0xC616")
    p.add_argument("--print-job-seconds", type=float, default=0.0, metavar="SECONDS",
                   help="a print job is PENDING, then PRINTING, and DONE this long after its print action "
                        "(default 0: DONE at once)")
    p.add_argument("--print-job-events", action="store_true",
                   help="report each change of a print job with an N-EVENT-REPORT (Print Job SOP class)")
    p.add_argument("--max-pdu", type=int, default=131072, help="maximum PDU size received (default 131072)")
    p.add_argument("--tls-cert", metavar="PEM", type=Path,
                   help="speak DICOM over TLS with this certificate (and its key, unless --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", type=Path, help="the private key of --tls-cert")
    p.add_argument("--tls-ca", metavar="PEM", type=Path,
                   help="require a client certificate signed by one of these CA certificates")
    p.add_argument("--debug", action="store_true", help="also log pynetdicom's own debug output")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        faults = [parse_fault(spec) for spec in args.fault]
        printer_status = parse_printer_status(args.printer_status)
        random_event = parse_printer_status(args.random_event) if args.random_event else None
        if args.random_events < 0:
            raise ValueError("--random-events takes a rate, not a negative number")
        refuse = tuple(int(v, 0) for v in args.refuse.split(",")) if args.refuse else None
        if refuse is not None and len(refuse) != 3:
            raise ValueError("--refuse takes RESULT,SOURCE,REASON")
        if args.print_job_seconds < 0:
            raise ValueError("--print-job-seconds takes a time, not a negative number")
        if args.max_film_sessions is not None and args.max_film_sessions < 1:
            raise ValueError("--max-film-sessions is at least 1")
        if (args.tls_key or args.tls_ca) and not args.tls_cert:
            raise ValueError("--tls-key and --tls-ca need --tls-cert")
        for path in (args.tls_cert, args.tls_key, args.tls_ca):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file")
    except ValueError as exc:
        parser.error(str(exc))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    if args.debug:
        from pynetdicom import debug_logger
        debug_logger()

    sim = PrinterSimulator(
        port=args.port, ae_title=args.ae_title, out_dir=args.out, color=not args.grayscale_only,
        faults=faults, printer_status=printer_status, max_pdu=args.max_pdu, bind=args.bind,
        refuse=refuse, accept_contexts=not args.no_contexts, supports_12bit=not args.no_12bit,
        check_called_ae=args.check_called_ae,
        tls_cert_file=args.tls_cert, tls_key_file=args.tls_key, tls_ca_file=args.tls_ca,
        random_events=args.random_events, random_event=random_event, seed=args.seed, profile=args.profile,
        max_film_sessions=args.max_film_sessions, session_print_only=args.session_print_only,
        print_job_seconds=args.print_job_seconds, print_job_events=args.print_job_events,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim.start()
        except ssl.SSLError as exc:
            print(f"cannot set up TLS with {args.tls_cert}: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(f"printer simulator {args.ae_title} listening on {args.bind}:{sim.port}"
              + (" (TLS)" if args.tls_cert else "") + (f", emulating profile {args.profile}" if args.profile else "")
              + (f", films in {args.out}" if args.out else ""), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print(f"stopping; {len(sim.films)} film(s) printed", file=sys.stderr, flush=True)
    finally:
        sim.stop()
        for sig, prev in previous.items():
            signal.signal(sig, prev)
        LOG.removeHandler(handler)
    return 0
