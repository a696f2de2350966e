"""What the commands of hcq share: the options several take, the connection to the server (its
socket, a remote server's token) and how answers are shown (tables, JSON)."""
from __future__ import annotations

import errno
import functools
import json
import os
import sys
from pathlib import Path

import click

from hcserver.client import Client, ClientError, default_socket, open_regular

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


def lazy_tables():
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
    lazy_tables().console(wide).print(table)
