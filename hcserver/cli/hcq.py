"""hcq: the queue client (a thin shell over hcserver.client)."""
from __future__ import annotations

import errno
import functools
import json
import os
import sys
from pathlib import Path

import click

from hcserver.client import Client, ClientError, default_socket, open_regular, read_spec_file
from hcserver.formatter.orientation import ORIENTATIONS
from hcserver.states import PRIORITIES, JobState

#: Options several commands share, with one help text each.
JSON = click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON (for scripts).")
WIDE = click.option("--wide", is_flag=True, help="Do not fit the table to the terminal: no column left out or "
                                                 "wrapped (for logs and wide screens).")
PRINTER_OPTION = click.option("-p", "--printer", help="The printer or pool (default: the first printer "
                                                        "configured).")


def fail(message: str, code: int = 1):
    click.echo(f"hcq: {message}", err=True)
    sys.exit(code)


def write_private(path: Path, data: bytes) -> None:
    """Write a film (it shows a patient) to ``path``: 0600 whatever the umask, and never through
    a symbolic link put there (by another user, in a shared directory)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            fail(f"{path} is a symbolic link: not written through it")
        fail(f"cannot write {path}: {exc.strerror}")
    try:
        os.fchmod(fd, 0o600)   # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    finally:
        os.close(fd)


def server_socket(ctx: click.Context) -> tuple[str, str]:
    """The socket hcq uses, and where it took it from (said when it cannot connect)."""
    given = ctx.obj["socket"]
    if given:
        source = ctx.find_root().get_parameter_source("socket")
        return given, ("$HCSERVER_SOCKET" if source is click.core.ParameterSource.ENVIRONMENT else "-s/--socket")
    from hcserver.config import SYSTEM_CONFIG, config_path  # only when the socket is not given: start-up time

    path = config_path(ctx.obj["config"])
    if path is None:
        return default_socket(None), (f"the embedded defaults, relative to the current directory {Path.cwd()} "
                                      f"({SYSTEM_CONFIG} does not exist)")
    return default_socket(str(path)), f"server.socket of {path.absolute()}"


def unreachable(path: str, origin: str, exc: ClientError) -> str:
    """Why the local socket at ``path`` could not be used, where it came from, and what to try."""
    import os

    socket_path = Path(path)
    if not socket_path.exists():
        hint = ("no socket there: is hcserver running (systemctl status hcserver)? Another socket: -s PATH, "
                "$HCSERVER_SOCKET or -c CONFIG")
    elif not os.access(socket_path, os.R_OK | os.W_OK):
        hint = "you may not use it: ask to be made a member of its group (socket_group in the configuration)"
    else:
        hint = "nothing answers on it: hcserver is not running (the socket is left from an earlier run)"
    return f"{exc}\n  the socket is from {origin}\n  {hint}"


def with_client(func):
    """Give the command a connected Client; turn every error into one line on stderr (a socket
    that cannot be reached: where it was looked for, and why it failed)."""
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        try:
            path, origin = server_socket(ctx)
        except ValueError as exc:   # a ConfigError reading the socket path
            fail(str(exc))
        try:
            token = read_token(ctx.obj["token_file"]) if ctx.obj["token_file"] else None
            with Client(path, token=token, ca_file=ctx.obj["ca_file"]) as client:
                return ctx.invoke(func, client, *args, **kwargs)
        except ClientError as exc:
            fail(unreachable(path, origin, exc) if exc.code == "unreachable" and "://" not in path else str(exc))
    return wrapper


def read_token(path: str) -> str:
    """The token in ``path`` (``-``: standard input), without the line's end."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(4097)
        else:
            file, _ = open_regular(path, 4096, "a token")
            with file:
                raw = file.read(4097)
        token = raw.decode().strip()
    except OSError as exc:
        raise ClientError("file", f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ClientError("file", f"{path}: the token is not UTF-8 text") from None
    if not token or len(raw) > 4096:
        raise ClientError("file", f"{path}: expected a token on one line, found "
                                  f"{'nothing' if not token else 'more than 4096 bytes'}")
    return token


def _tables():
    """:mod:`hcserver.cli.tables`, imported when a table is shown: ``hcq list --json`` and the
    other commands that print no table start without it."""
    from hcserver.cli import tables

    return tables


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


def width(wide: bool) -> int | None:
    """The terminal's columns (``$COLUMNS`` if set, 80 when not a terminal); None with ``--wide``."""
    import shutil

    return None if wide else shutil.get_terminal_size((80, 24)).columns


def show_table(table, wide: bool) -> None:
    _tables().console(wide).print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-s", "--socket", envvar="HCSERVER_SOCKET", help="Server socket (default: $HCSERVER_SOCKET, "
              "else the configuration's).")
@click.option("-c", "--config", envvar="HCSERVER_CONFIG", help="Configuration file to read the socket from "
              "(default: /etc/hcserver/hcserver.toml if it exists, else the embedded defaults).")
@click.option("--token-file", envvar="HCSERVER_TOKEN_FILE", help="File holding the token for a remote server "
              "(-s tls://HOST:PORT); - reads it from standard input. Default: $HCSERVER_TOKEN.")
@click.option("--token", hidden=True, help="Refused: a token on the command line is seen by every user (ps).")
@click.option("--ca-file", envvar="HCSERVER_CA_FILE", help="CA certificates to verify a remote server.")
@click.pass_context
def cli(ctx, socket, config, token_file, token, ca_file):
    """Queue DICOM print jobs on hcserver and manage its queues.

    \b
    Examples:
      hcq submit -p dryview --layout 'STANDARD\\2,2' --wait ct*.dcm
      hcq submit --spec job.json
      hcq list --all
      hcq show 12
      hcq -s tls://printserver:8443 --token-file ~/.hcq-token list   # a remote server
    """
    if token is not None:
        fail("--token would show the token to every user of this machine (ps): use --token-file FILE "
             "or $HCSERVER_TOKEN")
    ctx.obj = {"socket": socket, "config": config, "token_file": token_file, "ca_file": ca_file}


@cli.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--spec", type=click.Path(), help="A JSON job spec (images in it are paths relative to it).")
@PRINTER_OPTION
@click.option("--priority", type=click.Choice(PRIORITIES, case_sensitive=False), help="Print priority "
              "(default: the printer's).")
@click.option("--copies", type=click.IntRange(1, 99), help="Copies of each film (default: the printer's).")
@click.option("--layout", help="Display format, e.g. 'STANDARD\\2,2'; images are spread over as many films as "
              "needed (default: the layout that fits them best).")
@click.option("--film-size", help="Film Size ID, e.g. 14INX17IN (or 14x17), A4.")
@click.option("--orientation", type=click.Choice(ORIENTATIONS, case_sensitive=False), help="Film orientation.")
@click.option("--hold", is_flag=True, help="Queue the job held.")
@click.option("--wait", is_flag=True, help="Return when the job ends; exit 0 only if it completed.")
@with_client
def submit(client, files, spec, printer, priority, copies, layout, film_size, orientation, hold, wait):
    """Queue a job of FILES (DICOM images) or of a --spec file; prints the job id.

    \b
    Examples:
      hcq submit -p dryview ct*.dcm                    # laid out over as many films as needed
      hcq submit -p dryview --layout 'STANDARD\\2,2' --film-size 14x17 --wait ct*.dcm
      hcq submit --spec job.json --hold
    """
    if bool(files) == bool(spec):
        fail("give either image FILES or --spec JOB.json")
    if spec:
        job = client.submit_spec_file(spec, hold=hold)
    else:
        job = client.submit_files(files, printer=printer, priority=priority, copies=copies, layout=layout,
                                  film_size=film_size, orientation=orientation, hold=hold)
    click.echo(job)
    warn_if_waiting(client, job)
    if wait:
        result = follow_to_end(client, job)
        if result["state"] != "completed":
            fail(f"job {job} {result['state']}" + (f": {result['error']}" if result.get("error") else ""))


def warn_if_waiting(client: Client, job: int) -> None:
    """Say so on stderr when the job's printer will not print it now (stopped, disabled)."""
    name = client.show(job)["printer"]
    printer = next((p for p in client.printers() if p["name"] == name), None)
    state = _tables().printer_state(printer) if printer else None
    if state in ("stopped", "disabled"):
        why = f" ({printer['reason']})" if printer and printer.get("reason") else ""
        click.echo(f"hcq: warning: printer {name} is {state}{why}: job {job} waits until it is enabled "
                   f"(hcq enable {name})", err=True)


def follow_to_end(client: Client, job: int) -> dict:
    """Print the job's events on stderr as they happen, until it ends; return the job."""
    stream = client.follow(job)
    next(stream)                       # subscribed: nothing after this point is missed
    state = client.show(job)["state"]
    while not JobState(state).terminal:
        for event in next(stream):
            click.echo(f"job {job}: {event['kind']}: {event['reason']}", err=True)
            state = event["to"] or state
    return client.show(job)


@cli.command("list")
@click.option("--all", "all_", is_flag=True, help="Include completed, failed and canceled jobs.")
@click.option("-p", "--printer", help="Only this printer's jobs (and the pool jobs it prints or printed), or "
              "a pool's.")
@JSON
@WIDE
@with_client
def list_(client, all_, printer, as_json, wide):
    """List queued and printing jobs in print order (with --all, history too).

    \b
    Examples:
      hcq list
      hcq list --all -p dryview --wide
      hcq list --json | jq '.[] | select(.state == "failed") | .id'
    """
    if as_json:   # the server's JSON as it is: fast with thousands of jobs
        out = sys.stdout.buffer
        out.write(client.list_json(all=all_, printer=printer))
        out.write(b"\n")
        return
    jobs = client.list(all=all_, printer=printer)
    if jobs:
        printers, pools = client.printers_and_pools()
        show_table(_tables().jobs_table(jobs, printers, width(wide), pools), wide)
    else:
        click.echo("no jobs")


@cli.command()
@click.argument("job", type=int)
@JSON
@click.option("--log", "with_log", is_flag=True, help="Also list every DIMSE exchange of each attempt.")
@with_client
def show(client, job, as_json, with_log):
    """Show one job: state, films, attempts, warnings, error and events.

    \b
    Examples:
      hcq show 12
      hcq show 12 --log        # operation, SOP class, status, meaning and time of each exchange
      hcq show 12 --json
    """
    data = client.show(job, log=with_log)
    if as_json:
        emit_json(data)
        return
    for key in ("id", "state", "printer", "printed_on", "priority", "owner", "copies", "medium_type",
                "film_destination", "label", "attempts", "not_before", "error", "created_at", "updated_at"):
        if data.get(key) is not None:
            click.echo(f"{key:17} {data[key]}")
    if data.get("private"):
        click.echo(f"{'private':17} label, files, errors, warnings, event reasons, DIMSE log and patient "
                   f"details: for its owner ({data['owner']}) and administrators only")
    click.echo(f"{'films':17} {data['films_printed']} of {data['films_total']} printed")
    if data.get("films_in_doubt"):
        click.echo(f"{'films in doubt':17} {', '.join(str(i + 1) for i in data['films_in_doubt'])} "
                   f"(the printer may have printed them without saying so)")
    for film in data["films"]:
        where = f" -> {film['output']}" if film["output"] else ""
        click.echo(f"  film {film['index'] + 1}: {film['film_size']} {film['orientation']} {film['layout']}, "
                   f"{film['frames']} image(s), {_film_state(film, data['films_printed'])}{where}")
    if data["warnings"]:
        click.echo("warnings")
        for w in data["warnings"]:
            what = f"{w.get('operation')} {w.get('status') or ''} {w.get('meaning')}"
            click.echo(f"  {w['at']}  {'private' if data.get('private') else what}")
    click.echo("events")
    for event in data["events"]:
        arrow = f"{event['from'] or 'new'} -> {event['to']}" if event["from"] != event["to"] else event["to"]
        click.echo(f"  {event['at']}  {event['kind']:16} {arrow:24} {event['reason'] or ''}")
    if with_log:
        click.echo("DIMSE log")
        for x in data["log"]:
            click.echo(f"  {x['at']}  attempt {x['attempt']}  {x['operation']:14} {x['sop_class']:20} "
                       f"{x['status'] or '-':7} {x['ms']:8.1f} ms  {x['meaning']}")


def _film_state(film: dict, films_printed: int) -> str:
    """A film's line in ``hcq show``: printed, in doubt (its print request got no answer), or not."""
    if not film.get("in_doubt"):
        return f"printed {film['printed_at']}" if film["printed_at"] else "not printed"
    doubt = f"in doubt ({film['in_doubt']} print request(s) unanswered, last {film['in_doubt_at']})"
    if film["printed_at"]:
        return f"printed {film['printed_at']} after being {doubt}: may be on film twice"
    if film["index"] < films_printed:
        return f"{doubt}: counted as printed, not sent again"
    return f"{doubt}: to be sent again"


@cli.command()
@click.argument("job", type=int)
@with_client
def reprint(client, job):
    """Queue a copy of a job, e.g. a completed one (CUPS: lp -i JOB -H restart); prints the new id.

    \b
    Example:
      hcq reprint 12
    """
    click.echo(client.reprint(job))


def _job_command(name: str, method: str, help_text: str):
    @cli.command(name, help=help_text)
    @click.argument("jobs", nargs=-1, type=int, required=True)
    @with_client
    def command(client, jobs):
        failed = False
        for job in jobs:
            try:
                result = getattr(client, method)(job)
                note = " (stops after the current film)" if result.get("cancel_requested") and \
                    result["state"] == "processing" else ""
                click.echo(f"job {job}: {result['state']}{note}")
            except ClientError as exc:
                click.echo(f"hcq: {exc}", err=True)
                failed = True
        if failed:
            sys.exit(1)
    return command


_job_command("cancel", "cancel", "Cancel JOBS; a printing job stops after its current film.\n\n"
             "\b\nExamples:\n  hcq cancel 12\n  hcq cancel 12 13 14")
_job_command("hold", "hold", "Hold pending JOBS (they stay queued but do not print).\n\n"
             "\b\nExample:\n  hcq hold 12 13")
_job_command("release", "release", "Release held JOBS: they are due at once.\n\n"
             "\b\nExample:\n  hcq release 12")


@cli.command()
@click.argument("job", type=int)
@click.argument("priority", type=click.Choice(PRIORITIES, case_sensitive=False))
@with_client
def priority(client, job, priority):
    """Change the priority of a job that is not printing yet.

    \b
    Example:
      hcq priority 12 high
    """
    result = client.set_priority(job, priority.lower())
    click.echo(f"job {job}: priority {result['priority']}")


@cli.command()
@click.argument("job", type=int)
@click.argument("printer")
@with_client
def move(client, job, printer):
    """Move a job that is not printing yet to another PRINTER or pool (checked against it).

    \b
    Examples:
      hcq move 12 laser2
      hcq move 12 film
    """
    result = client.move(job, printer)
    click.echo(f"job {job}: moved to {result['printer']}")


@cli.command()
@JSON
@WIDE
@with_client
def printers(client, as_json, wide):
    """Printers: what each does (idle, printing, retrying, stopped, disabled), the node driving
    it, whether it accepts jobs, its DICOM status, its association, queued jobs and why; then
    the pools (--json: the printers, each with its pools; hcq pools --json has the pools).

    \b
    Examples:
      hcq printers
      hcq printers --json
    """
    data, pools_data = client.printers_and_pools()
    if as_json:
        emit_json(data)
        return
    show_table(_tables().printers_table(data, width(wide)), wide)
    for p in data:
        for item in p.get("configuration") or []:
            click.echo(f"{p['name']}: printer configuration: {_configuration_text(item)}")
    if pools_data:
        show_table(_tables().pools_table(pools_data, width(wide)), wide)


@cli.command()
@JSON
@WIDE
@with_client
def pools(client, as_json, wide):
    """Pools: their printers (in the order they are offered a job), policy, queued jobs, the
    jobs their printers print, and the printer that takes the next job.

    \b
    Examples:
      hcq pools
      hcq pools --json
    """
    data = client.printers_and_pools()[1]
    if as_json:
        emit_json(data)
    elif data:
        show_table(_tables().pools_table(data, width(wide)), wide)
    else:
        click.echo("no pools")


def _configuration_text(item: dict) -> str:
    """One item of a printer's configuration (Printer Configuration Retrieval), on one line."""
    def text(value) -> str:
        if isinstance(value, list):
            return "\\".join(text(v) for v in value) if not any(isinstance(v, dict) for v in value) else \
                "[" + "; ".join(_configuration_text(v) for v in value) + "]"
        return str(value)
    return ", ".join(f"{key} {text(value)}" for key, value in item.items())


def _watch_view(client: Client, wide: bool):
    from rich.console import Group

    printers, pools = client.printers_and_pools()
    return Group(_tables().printers_table(printers, width(wide)),
                 _tables().watch_jobs_table(client.list(), printers, width(wide), pools))


@cli.command()
@click.option("--plain", is_flag=True, help="Print a snapshot at each change instead of a live screen.")
@click.option("--updates", type=int, default=0, help="Stop after this many updates (0: run until Ctrl-C).")
@WIDE
@with_client
def watch(client, plain, updates, wide):
    """Live view of printers and jobs, updated by the server's events as they happen.

    \b
    Examples:
      hcq watch
      hcq watch --plain --updates 5   # for logs and scripts
    """
    from rich.live import Live

    stream = client.follow()
    next(stream)
    seen = 0
    try:
        if plain:
            while True:
                _tables().console(wide).print(_watch_view(client, wide))
                seen += 1
                if updates and seen >= updates:
                    return
                next(stream)
        with Live(_watch_view(client, wide), console=_tables().console(wide), auto_refresh=False) as live:
            while not updates or seen < updates:
                next(stream)
                live.update(_watch_view(client, wide), refresh=True)
                seen += 1
    except KeyboardInterrupt:
        pass


def _printer_command(op: str, help_text: str):
    @cli.command(op, help=help_text)
    @click.argument("printer")
    @with_client
    def command(client, printer):
        client.printer_admin(op, printer)
        click.echo(f"printer {printer}: {op}d" if op.endswith("e") else f"printer {printer}: {op}ed")
    return command


_printer_command("enable", "Start printing on PRINTER (also restarts a printer stopped by its status).\n\n"
                 "\b\nExample:\n  hcq enable dryview")
_printer_command("disable", "Stop printing on PRINTER (after the current film); its jobs stay queued.\n\n"
                 "\b\nExample:\n  hcq disable dryview")
_printer_command("accept", "Accept new jobs for PRINTER.\n\n\b\nExample:\n  hcq accept dryview")
_printer_command("reject", "Refuse new jobs for PRINTER; queued jobs still print.\n\n"
                 "\b\nExample:\n  hcq reject dryview")


@cli.command()
@with_client
def reload(client):
    """Re-read the server's configuration and apply printer changes (like SIGHUP).

    Queued jobs are kept; a removed printer's or pool's jobs are held (move them to print them),
    and so are a changed pool's jobs it can no longer print. On several nodes, the printers and
    pools that now differ from another node's are named ("differing"): reload that node too.

    \b
    Example:
      hcq reload
    """
    summary = client.reload()
    for key, names in summary.items():
        if names:
            click.echo(f"{key.replace('_', ' ')}: {', '.join(map(str, names))}")
    if not any(summary.values()):
        click.echo("no printer changed")


@cli.command()
@click.argument("printer")
@with_client
def echo(client, printer):
    """Check PRINTER answers: C-ECHO and its status (N-GET Printer).

    \b
    Example:
      hcq echo dryview
    """
    result = client.echo(printer)
    for line in echo_lines(result):
        click.echo(line)
    if not result.get("ok"):
        fail(f"printer {printer} did not answer properly")


def echo_lines(result: dict) -> list[str]:
    """What an echo found, in words (a preview printer has no C-ECHO)."""
    lines = []
    if "echo_status" in result:
        code = result["echo_status"]
        lines.append("C-ECHO:          " + ("no answer" if code is None else
                                            "success (0x0000)" if code == 0 else f"status 0x{code:04X}"))
    status = " ".join(x for x in (result.get("printer_status"), result.get("printer_status_info")) if x)
    lines.append(f"printer status:  {status or 'not read'}")
    for item in result.get("printer_configuration") or []:   # Printer Configuration Retrieval
        lines.append(f"printer configuration: {_configuration_text(item)}")
    if result.get("seconds") is not None:
        lines.append(f"took:            {result['seconds'] * 1000:.0f} ms")
    if result.get("error"):
        lines.append(f"error:           {result['error']}")
    return lines


@cli.command()
@click.argument("printer")
@click.option("--json", "as_json", is_flag=True, help="Everything tried, with the printer's answers, as JSON.")
@click.option("--toml", "as_toml", is_flag=True, help="The printer's [printers.NAME] block of the configuration.")
@with_client
def probe(client, printer, as_json, as_toml):
    """Find out what PRINTER accepts, without printing anything (administrators).

    N-GET Printer (and Printer Configuration Retrieval), then N-CREATE and N-DELETE of film
    sessions and film boxes with each common medium type, destination, film size, layout,
    magnification and bit depth, and a Presentation LUT; never an N-ACTION. Runs between jobs
    (refused while the printer prints one); exits 1 if the probe stopped early.

    \b
    Examples:
      hcq probe dryview
      hcq probe dryview --toml >> /etc/hcserver/hcserver.toml   # then edit: one [printers.dryview] only
    """
    from hcserver.cli import probe_view

    if as_json and as_toml:
        fail("give --json or --toml, not both")
    result = client.probe(printer)
    if as_json:
        emit_json(result)
    elif as_toml:
        click.echo(probe_view.toml_block(result))
    else:
        _tables().console().print(probe_view.table(result))
        for line in probe_view.meanings(result) + result["notes"]:
            click.echo(f"  {line}")
    if result["stopped"]:
        fail(f"the probe of {printer} stopped early: {result['stopped']}")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--spec", type=click.Path(), help="A JSON job spec, as for submit (images relative to it).")
@PRINTER_OPTION
@click.option("--layout", help="Display format, e.g. 'STANDARD\\2,2' (default: the one that fits best).")
@click.option("--film-size", help="Film Size ID, e.g. 14INX17IN (or 14x17), A4.")
@click.option("--orientation", type=click.Choice(ORIENTATIONS, case_sensitive=False), help="Film orientation.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="PNG to write; with several films, OUT-1.png, OUT-2.png, …")
@with_client
def preview(client, files, spec, printer, layout, film_size, orientation, output):
    """Render the exact film(s) of a job without printing.

    \b
    Examples:
      hcq preview -p dryview -o film.png ct*.dcm
      hcq preview --spec job.json -o film.png      # film-1.png, film-2.png, ... for several films
    """
    if bool(files) == bool(spec):
        fail("give either image FILES or --spec JOB.json")
    if spec:
        films = client.preview(read_spec_file(spec), base=Path(spec).parent)
    else:
        fields = {"printer": printer, "layout": layout, "film_size": film_size, "orientation": orientation}
        films = client.preview({"images": list(files), **{k: v for k, v in fields.items() if v}})
    out = Path(output)
    paths = [out] if len(films) == 1 else [out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
                                          for i in range(len(films))]
    for path, png in zip(paths, films):
        write_private(path, png)
        click.echo(path)


@cli.command()
@click.argument("job", type=int)
@click.argument("film", type=int)
@click.option("-o", "--output", required=True, type=click.Path(), help="PNG to write.")
@with_client
def film(client, job, film, output):
    """Write the PNG a preview printer made of FILM (from 1) of JOB (its owner or an administrator).

    With spool = "database" the films are in the database: any node gives them.

    \b
    Example:
      hcq film 42 1 -o film.png
    """
    write_private(Path(output), client.film(job, film))
    click.echo(output)


@cli.command("web-login")
@with_client
def web_login(client):
    """Print a link to sign in to the server's status page as the user running hcq: open it
    and press "Sign in as USER" (the link works once, within two minutes; opening it alone
    signs nobody in). The page is off unless the configuration has [web].

    \b
    Example:
      hcq web-login
    """
    answer = client.request("web-login")
    click.echo(answer["url"])


def main() -> None:
    cli(prog_name="hcq")


if __name__ == "__main__":
    main()
