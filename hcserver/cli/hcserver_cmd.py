"""hcserver: run the daemon and its maintenance commands."""
from __future__ import annotations

import json
import logging
import sys

import click

from hcserver import __version__
from hcserver.config import ConfigError, load


def _config(path):
    try:
        return load(path)
    except ConfigError as exc:
        for line in str(exc).splitlines():   # every error of the file, one per line
            click.echo(f"hcserver: {line}", err=True)
        sys.exit(2)


#: pynetdicom's own ERROR lines for a printer that refuses the connection: the driver reports
#: that failure itself, once, in words (the job's retry event, hcq printers), so without -v
#: these two lines per attempt are noise.
CONNECTION_NOISE = ("Association request failed: unable to connect to remote", "TCP Initialisation Error")


class QuietRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(CONNECTION_NOISE)


def configure_logging(verbose: bool, log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if not verbose:
        for noisy in ("pynetdicom", "apscheduler", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        logging.getLogger("pynetdicom.transport").addFilter(QuietRefusals())


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


CONFIG = click.option("-c", "--config", envvar="HCSERVER_CONFIG", help="Configuration file (default: "
                      "/etc/hcserver/hcserver.toml if it exists, else the embedded defaults).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hcserver")
def cli():
    """hcserver: DICOM hardcopy (film print) server.

    \b
    Examples:
      hcserver serve -c etc/hcserver.toml
      hcserver check-config -c etc/hcserver.toml
      hcserver simulate-printer --port 11112 --out /tmp/films
    """


@cli.command()
@click.option("-c", "--config", envvar="HCSERVER_CONFIG", help="Configuration file (default: "
              "/etc/hcserver/hcserver.toml if it exists, else the embedded defaults).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages (every DIMSE exchange).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per line (for log collectors).")
def serve(config, verbose, log_format):
    """Run the server in the foreground; logs go to stderr. Stop with SIGTERM or Ctrl-C; SIGHUP
    re-reads the printers.

    \b
    Examples:
      hcserver serve -c /etc/hcserver/hcserver.toml
      hcserver serve -v --log-format json      # every DIMSE exchange, as JSON lines
    """
    from hcserver.daemon import AlreadyRunning, Daemon
    from hcserver.sharing import NotShared

    configure_logging(verbose, log_format)
    try:
        Daemon(_config(config)).run_forever()
    except (AlreadyRunning, NotShared) as exc:
        click.echo(f"hcserver: {exc}", err=True)
        sys.exit(1)


@cli.command("check-config")
@CONFIG
def check_config(config):
    """Check a configuration file; print its printers and pools, or every error (file, key, what is allowed).

    \b
    Example:
      hcserver check-config -c /etc/hcserver/hcserver.toml
    """
    cfg = _config(config)
    click.echo(f"{cfg.source}: OK")
    for name, printer in cfg.printers.items():
        where = f" {printer.ae_title}@{printer.host}:{printer.port}" if printer.driver == "dicom" else ""
        click.echo(f"  printer {name}: {printer.driver}{where}")
    for name, pool in cfg.pools.items():
        click.echo(f"  pool {name}: {', '.join(pool.printers)} ({pool.policy})")


@cli.command()
@CONFIG
def migrate(config):
    """Upgrade the queue database to the newest schema (the server also does this at start).

    \b
    Example:
      hcserver migrate -c /etc/hcserver/hcserver.toml
    """
    from hcserver.db import current_revision, make_engine, upgrade

    engine = make_engine(_config(config).database)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")


@cli.command()
@CONFIG
@click.option("--printer", help="The statement for one DICOM printer, its site overrides included.")
def conformance(config, printer):
    """Print this product's DICOM Conformance Statement (Markdown), generated from the live
    status policy table and configuration.

    \b
    Examples:
      hcserver conformance > docs/CONFORMANCE.md
      hcserver conformance -c /etc/hcserver/hcserver.toml --printer dryview
    """
    from hcserver.conformance import generate

    try:
        click.echo(generate(_config(config), printer), nl=False)
    except ValueError as exc:
        click.echo(f"hcserver: {exc}", err=True)
        sys.exit(2)


@cli.command("simulate-printer", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                                     "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulate_printer(args):
    """Run the bundled DICOM printer simulator (a Print SCP); its own options: simulate-printer --help.

    \b
    Example:
      hcserver simulate-printer --port 11112 --out /tmp/films --fault "N-ACTION:0xC602"
    """
    from hcserver.simulator import main as simulator_main

    sys.exit(simulator_main(list(args)))


def main() -> None:
    cli(prog_name="hcserver")


if __name__ == "__main__":
    main()
