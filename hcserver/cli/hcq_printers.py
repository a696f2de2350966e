"""hcq's commands about printers and pools: their state and capabilities, enabling and disabling,
accepting and rejecting jobs, re-reading the configuration, and talking to a printer (echo,
probe)."""
from __future__ import annotations

import click

from hcserver.cli.hcq_common import (
    JSON,
    WIDE,
    emit_json,
    fail,
    lazy_tables,
    show_table,
    width,
    with_client,
)


@click.command()
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
    show_table(lazy_tables().printers_table(data, width(wide)), wide)
    for p in data:
        for item in p.get("configuration") or []:
            click.echo(f"{p['name']}: printer configuration: {_configuration_text(item)}")
    if pools_data:
        show_table(lazy_tables().pools_table(pools_data, width(wide)), wide)


@click.command()
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
        show_table(lazy_tables().pools_table(data, width(wide)), wide)
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


def _printer_command(op: str, help_text: str):
    @click.command(op, help=help_text)
    @click.argument("printer")
    @with_client
    def command(client, printer):
        client.printer_admin(op, printer)
        click.echo(f"printer {printer}: {op}d" if op.endswith("e") else f"printer {printer}: {op}ed")
    return command


enable = _printer_command("enable", "Start printing on PRINTER (also restarts a printer stopped by its status).\n\n"
                          "\b\nExample:\n  hcq enable dryview")
disable = _printer_command("disable", "Stop printing on PRINTER (after the current film); its jobs stay queued.\n\n"
                           "\b\nExample:\n  hcq disable dryview")
accept = _printer_command("accept", "Accept new jobs for PRINTER.\n\n\b\nExample:\n  hcq accept dryview")
reject = _printer_command("reject", "Refuse new jobs for PRINTER; queued jobs still print.\n\n"
                          "\b\nExample:\n  hcq reject dryview")


@click.command()
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


@click.command()
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


@click.command()
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
        lazy_tables().console().print(probe_view.table(result))
        for line in probe_view.meanings(result) + result["notes"]:
            click.echo(f"  {line}")
    if result["stopped"]:
        fail(f"the probe of {printer} stopped early: {result['stopped']}")


COMMANDS = (printers, pools, enable, disable, accept, reject, reload, echo, probe)
