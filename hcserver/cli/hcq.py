"""hcq: the queue client (a thin shell over hcserver.client)."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hcserver.client import Client, ClientError, default_socket, open_regular, read_spec_file
from hcserver.formatter.geometry import ORIENTATIONS
from hcserver.states import PRIORITIES, JobState, PrinterState

if TYPE_CHECKING:
    import rich.table


def console():
    """The rich console, imported only by commands that draw tables (hcq starts faster)."""
    from rich.console import Console

    return Console()


def new_table(**options):
    from rich.table import Table

    return Table(**options)


def fail(message: str, code: int = 1):
    click.echo(f"hcq: {message}", err=True)
    sys.exit(code)


def with_client(func):
    """Give the command a connected Client; turn every error into one line on stderr."""
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        try:
            path = ctx.obj["socket"] or default_socket(ctx.obj["config"])
            token = read_token(ctx.obj["token_file"]) if ctx.obj["token_file"] else None
            with Client(path, token=token, ca_file=ctx.obj["ca_file"]) as client:
                return ctx.invoke(func, client, *args, **kwargs)
        except (ClientError, ValueError) as exc:   # ValueError: a ConfigError reading the socket path
            fail(str(exc))
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


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-s", "--socket", envvar="HCSERVER_SOCKET", help="Server socket (default: $HCSERVER_SOCKET, "
              "else the configuration's).")
@click.option("-c", "--config", envvar="HCSERVER_CONFIG", help="Configuration file to read the socket from.")
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
@click.option("-p", "--printer", help="A printer or a pool (default: the first printer).")
@click.option("--priority", type=click.Choice(PRIORITIES))
@click.option("--copies", type=click.IntRange(1, 99))
@click.option("--layout", help="Display format, e.g. 'STANDARD\\2,2'; images are spread over as many films as needed.")
@click.option("--film-size", help="Film Size ID, e.g. 14INX17IN.")
@click.option("--orientation", type=click.Choice(ORIENTATIONS))
@click.option("--hold", is_flag=True, help="Queue the job held.")
@click.option("--wait", is_flag=True, help="Return when the job ends; exit 0 only if it completed.")
@with_client
def submit(client, files, spec, printer, priority, copies, layout, film_size, orientation, hold, wait):
    """Queue a job of FILES (DICOM images) or of a --spec file; prints the job id."""
    if bool(files) == bool(spec):
        fail("give either image FILES or --spec JOB.json")
    if spec:
        job = client.submit_spec_file(spec, hold=hold)
    else:
        job = client.submit_files(files, printer=printer, priority=priority, copies=copies, layout=layout,
                                  film_size=film_size, orientation=orientation, hold=hold)
    click.echo(job)
    if wait:
        result = follow_to_end(client, job)
        if result["state"] != "completed":
            fail(f"job {job} {result['state']}" + (f": {result['error']}" if result.get("error") else ""))


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


def _jobs_table(jobs: list[dict]) -> rich.table.Table:
    table = new_table(box=None, header_style="bold")
    for column in ("ID", "STATE", "PRINTER", "PRI", "FILMS", "TRIES", "OWNER", "SUBMITTED", "NOTE"):
        table.add_column(column)
    for job in jobs:
        note = job.get("error") or ("cancel requested" if job.get("cancel_requested") else "")
        if not note and job.get("not_before"):
            note = f"retry after {job['not_before']}"
        if not note and job["warnings"]:
            note = f"{len(job['warnings'])} warning(s)"
        if not note and job.get("node"):
            note = f"printing on node {job['node']}"
        table.add_row(str(job["id"]), job["state"], _printer_cell(job), job["priority"],
                      f"{job['films_printed']}/{job['films_total']}", str(job["attempts"]), job["owner"],
                      job["created_at"][:19].replace("T", " "), note)
    return table


def _printer_cell(job: dict) -> str:
    """Where a job was sent, and for a pool's job the member printing or that printed it."""
    member = job.get("printed_on")
    if member and member != job["printer"] and job["state"] not in ("pending", "held"):
        return f"{job['printer']} ({member})"
    return job["printer"]


@cli.command("list")
@click.option("--all", "all_", is_flag=True, help="Include completed, failed and canceled jobs.")
@click.option("--printer", help="A printer (its jobs, and the pool jobs it prints or printed) or a pool.")
@click.option("--json", "as_json", is_flag=True)
@with_client
def list_(client, all_, printer, as_json):
    """List queued and printing jobs (with --all, history too)."""
    if as_json:   # the server's JSON as it is: fast with thousands of jobs
        out = sys.stdout.buffer
        out.write(client.list_json(all=all_, printer=printer))
        out.write(b"\n")
        return
    jobs = client.list(all=all_, printer=printer)
    if jobs:
        console().print(_jobs_table(jobs))
    else:
        click.echo("no jobs")


@cli.command()
@click.argument("job", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--log", "with_log", is_flag=True, help="Also list every DIMSE exchange of each attempt.")
@with_client
def show(client, job, as_json, with_log):
    """Show one job: state, films, attempts, warnings, error and events.

    \b
    Examples:
      hcq show 12
      hcq show 12 --log        # operation, SOP class, status, meaning and time of each exchange
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
    """Queue a copy of a job, e.g. a completed one (CUPS: lp -i JOB -H restart); prints the new id."""
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


_job_command("cancel", "cancel", "Cancel jobs; a printing job stops after its current film.")
_job_command("hold", "hold", "Hold pending jobs (they stay queued but do not print).")
_job_command("release", "release", "Release held jobs.")


@cli.command()
@click.argument("job", type=int)
@click.argument("priority", type=click.Choice(PRIORITIES))
@with_client
def priority(client, job, priority):
    """Change the priority of a job that is not printing yet."""
    result = client.set_priority(job, priority)
    click.echo(f"job {job}: priority {result['priority']}")


@cli.command()
@click.argument("job", type=int)
@click.argument("printer")
@with_client
def move(client, job, printer):
    """Move a job that is not printing yet to another printer or pool (PRINTER names either)."""
    result = client.move(job, printer)
    click.echo(f"job {job}: moved to {result['printer']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@with_client
def printers(client, as_json):
    """Printers: the node driving each, enabled, accepting, DICOM status, queued jobs; then the
    pools (--json: the printers only; hcq pools --json has the pools)."""
    data, pools_data = client.printers_and_pools()
    if as_json:
        emit_json(data)
        return
    console().print(_printers_table(data))
    if pools_data:
        console().print(_pools_table(pools_data))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@with_client
def pools(client, as_json):
    """Pools: their printers (in the order they are offered a job), policy, queued jobs, the
    jobs their printers are printing, and the printer that takes the next job."""
    _, data = client.printers_and_pools()
    if as_json:
        emit_json(data)
    elif data:
        console().print(_pools_table(data))
    else:
        click.echo("no pools")


def _pools_table(data: list[dict]) -> rich.table.Table:
    table = new_table(box=None, header_style="bold", title="pools", title_justify="left")
    for column in ("POOL", "POLICY", "PRINTERS", "QUEUED", "PRINTING", "NEXT"):
        table.add_column(column)
    for pool in data:
        printing = ", ".join(f"{p['job']} on {p['printer']}" for p in pool["printing"]) or "-"
        table.add_row(pool["name"], pool["policy"], ", ".join(pool["printers"]), str(pool["queued"]), printing,
                      pool["next"] or "none free")
    return table


def _printers_table(data: list[dict]) -> rich.table.Table:
    table = new_table(box=None, header_style="bold", title="printers", title_justify="left")
    for column in ("PRINTER", "DRIVER", "NODE", "ENABLED", "ACCEPTING", "STATE", "DICOM STATUS", "ASSOCIATION",
                   "QUEUED", "REASON"):
        table.add_column(column)
    for p in data:
        state = PrinterState.of(p["enabled"], p["stopped"]).value
        status = " ".join(x for x in (p["dicom_status"], p["dicom_status_info"]) if x) or "-"
        table.add_row(p["name"], p.get("driver", "?"), p.get("node") or "-", "yes" if p["enabled"] else "no",
                      "yes" if p["accepting"] else "no", state, status, p.get("association") or "-",
                      str(p["queued"]), p["reason"] or "")
    return table


def _progress(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def _watch_view(client: Client):
    from rich.console import Group

    jobs = client.list()
    table = new_table(box=None, header_style="bold", title="jobs", title_justify="left")
    for column in ("ID", "STATE", "PRINTER", "PRI", "FILMS", "WARNINGS", "NOTE"):
        table.add_column(column)
    for job in jobs:
        note = job.get("error") or (f"retry after {job['not_before'][11:19]}" if job.get("not_before") else "")
        table.add_row(str(job["id"]), job["state"], job["printer"], job["priority"],
                      _progress(job["films_printed"], job["films_total"]), str(len(job["warnings"])), note)
    return Group(_printers_table(client.printers()), table)


@cli.command()
@click.option("--plain", is_flag=True, help="Print a snapshot at each change instead of a live screen.")
@click.option("--updates", type=int, default=0, help="Stop after this many updates (0: run until Ctrl-C).")
@with_client
def watch(client, plain, updates):
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
                console().print(_watch_view(client))
                seen += 1
                if updates and seen >= updates:
                    return
                next(stream)
        with Live(_watch_view(client), console=console(), auto_refresh=False) as live:
            while not updates or seen < updates:
                next(stream)
                live.update(_watch_view(client), refresh=True)
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


_printer_command("enable", "Start printing on PRINTER (also restarts a printer stopped by its status).")
_printer_command("disable", "Stop printing on PRINTER; its jobs stay queued.")
_printer_command("accept", "Accept new jobs for PRINTER.")
_printer_command("reject", "Refuse new jobs for PRINTER; queued jobs still print.")


@cli.command()
@with_client
def reload(client):
    """Re-read the server's configuration and apply printer changes (like SIGHUP).

    Queued jobs are kept; a removed printer's or pool's jobs are held, and so are a changed pool's
    jobs it can no longer print. Example: hcq reload
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
    """Check PRINTER answers: C-ECHO and its status (N-GET Printer)."""
    result = client.echo(printer)
    for key, value in result.items():
        if key != "ok":
            click.echo(f"{key:20} {value}")
    if not result.get("ok"):
        fail(f"printer {printer} did not answer properly")


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
        console().print(probe_view.table(result))
        for line in probe_view.meanings(result) + result["notes"]:
            click.echo(f"  {line}")
    if result["stopped"]:
        fail(f"the probe of {printer} stopped early: {result['stopped']}")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--spec", type=click.Path())
@click.option("-p", "--printer")
@click.option("--layout")
@click.option("--film-size")
@click.option("--orientation", type=click.Choice(ORIENTATIONS))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="PNG to write; with several films, OUT-1.png, OUT-2.png, …")
@with_client
def preview(client, files, spec, printer, layout, film_size, orientation, output):
    """Render the exact film(s) of a job without printing."""
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
        path.write_bytes(png)
        click.echo(path)


def main() -> None:
    cli(prog_name="hcq")


if __name__ == "__main__":
    main()
