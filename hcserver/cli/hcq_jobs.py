"""hcq's commands about jobs: submitting, listing and showing them, acting on them (cancel, hold,
release, priority, move, reprint), and their films (preview, film)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from hcserver.cli.hcq_common import (
    JSON,
    PRINTER_OPTION,
    WIDE,
    emit_json,
    fail,
    lazy_tables,
    show_table,
    width,
    with_client,
    write_private,
)
from hcserver.client import Client, ClientError, read_spec_file
from hcserver.formatter.orientation import ORIENTATIONS
from hcserver.states import PRIORITIES, JobState


@click.command()
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
    state = lazy_tables().printer_state(printer) if printer else None
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


@click.command("list")
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
        show_table(lazy_tables().jobs_table(jobs, printers, width(wide), pools), wide)
    else:
        click.echo("no jobs")


@click.command()
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


@click.command()
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
    @click.command(name, help=help_text)
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


cancel = _job_command("cancel", "cancel", "Cancel JOBS; a printing job stops after its current film.\n\n"
                      "\b\nExamples:\n  hcq cancel 12\n  hcq cancel 12 13 14")
hold = _job_command("hold", "hold", "Hold pending JOBS (they stay queued but do not print).\n\n"
                    "\b\nExample:\n  hcq hold 12 13")
release = _job_command("release", "release", "Release held JOBS: they are due at once.\n\n"
                       "\b\nExample:\n  hcq release 12")


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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


COMMANDS = (submit, list_, show, reprint, cancel, hold, release, priority, move, preview, film)
