"""hcq: the queue client (a thin shell over hcserver.client).

The group and its options, and the views of the whole server (watch, web-login); the commands
about jobs are in hcserver.cli.hcq_jobs, those about printers and pools in
hcserver.cli.hcq_printers, what they share in hcserver.cli.hcq_common. Whatever only some
commands need (tables, rich, the configuration) is imported by those commands: every hcq call
pays for what this module imports.
"""
from __future__ import annotations

import click

from hcserver.cli import hcq_jobs, hcq_printers
from hcserver.cli.hcq_common import WIDE, fail, lazy_tables, width, with_client
from hcserver.client import Client


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


def _watch_view(client: Client, wide: bool):
    from rich.console import Group

    printers, pools = client.printers_and_pools()
    return Group(lazy_tables().printers_table(printers, width(wide)),
                 lazy_tables().watch_jobs_table(client.list(), printers, width(wide), pools))


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
                lazy_tables().console(wide).print(_watch_view(client, wide))
                seen += 1
                if updates and seen >= updates:
                    return
                next(stream)
        with Live(_watch_view(client, wide), console=lazy_tables().console(wide), auto_refresh=False) as live:
            while not updates or seen < updates:
                next(stream)
                live.update(_watch_view(client, wide), refresh=True)
                seen += 1
    except KeyboardInterrupt:
        pass


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


for command in (*hcq_jobs.COMMANDS, *hcq_printers.COMMANDS):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="hcq")


if __name__ == "__main__":
    main()
