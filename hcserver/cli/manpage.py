"""Man pages for hcq(1) and hcserver(1), generated from the commands' own definitions (their
help texts, options and examples), so a page cannot say what the command does not do.

    python -m hcserver.cli.manpage docs/man      # writes docs/man/hcq.1 and docs/man/hcserver.1

The committed pages are checked against this output by the tests.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from hcserver import __version__

#: What each page says beyond the commands (roff), by program.
EXTRA = {
    "hcq": r""".SH ENVIRONMENT
.TP
.B HCSERVER_SOCKET
The server's socket (as \fB\-s\fR), or \fBtls://\fIHOST\fB:\fIPORT\fR for a remote server.
.TP
.B HCSERVER_CONFIG
The configuration file the socket is read from (as \fB\-c\fR).
.TP
.B HCSERVER_TOKEN\fR, \fBHCSERVER_CA_FILE
The token and the CA certificates for a remote server.
.SH FILES
.TP
.I /etc/hcserver/hcserver.toml
Read for the socket when neither \fB\-s\fR nor \fB\-c\fR is given (else the embedded defaults:
\fIvar/run/hcserver.sock\fR in the current directory).
.TP
.I /run/hcserver/hcserver.sock
The socket of the installed service.
.SH EXIT STATUS
0 on success; 1 when the server refused a request or could not be reached (one line on
standard error says why); 2 for a wrong command line.
.SH SEE ALSO
.BR hcserver (1)
""",
    "hcserver": r""".SH FILES
.TP
.I /etc/hcserver/hcserver.toml
The configuration read when no \fB\-c\fR is given (else the embedded defaults).
.TP
.I /var/lib/hcserver
The state of the installed service: the queue database, the spool, preview films and the audit
log (patient data: 0700, for the service only).
.TP
.I /run/hcserver/hcserver.sock
The socket \fBhcq\fR(1) talks to.
.SH SIGNALS
\fBSIGHUP\fR re-reads the printers of the configuration; \fBSIGTERM\fR stops after the film
being printed.
.SH SEE ALSO
.BR hcq (1)
""",
}

SUMMARY = {"hcq": "queue and manage DICOM film print jobs on hcserver",
           "hcserver": "DICOM hardcopy (film print) server"}


def _escape(text: str) -> str:
    """Text as roff prints it: backslashes and hyphens kept, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines())


def _help(text: str) -> str:
    """A help text as roff: paragraphs filled, click's ``\\b`` blocks (examples) kept as typed."""
    out = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append(".PP\n.nf\n" + _escape("\n".join(lines[1:])) + "\n.fi")
        else:
            out.append(".PP\n" + _escape(" ".join(line.strip() for line in lines)))
    return "\n".join(out)


def _options(command: click.Command, ctx: click.Context) -> str:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record is None:
            continue
        names, help_text = record
        out.append(f".TP\n\\fB{_escape(names)}\\fR\n{_escape(help_text) or '.'}")
    return "\n".join(out)


def manpage(group: click.Group, name: str) -> str:
    """The page of program ``name`` whose commands are ``group``."""
    root = click.Context(group, info_name=name)
    parts = [f'.TH {name.upper()} 1 "" "hcserver {__version__}" "User Commands"',
             ".SH NAME", f"{name} \\- {_escape(SUMMARY[name])}",
             ".SH SYNOPSIS", f".B {name}\n{_escape(' '.join(group.collect_usage_pieces(root)))}",
             ".SH DESCRIPTION", _help(group.help or ""),
             ".SH OPTIONS", _options(group, root), ".SH COMMANDS"]
    for sub_name in group.list_commands(root):
        command = group.get_command(root, sub_name)
        assert command is not None
        ctx = click.Context(command, info_name=sub_name, parent=root)
        usage = " ".join(command.collect_usage_pieces(ctx))
        parts += [f'.SS "{name} {sub_name} {_escape(usage)}"', _help(command.help or ""), _options(command, ctx)]
    parts.append(EXTRA[name].rstrip())
    return "\n".join(part for part in parts if part) + "\n"


def pages() -> dict[str, str]:
    """Every page, by file name."""
    from hcserver.cli.hcq import cli as hcq
    from hcserver.cli.hcserver_cmd import cli as hcserver

    return {"hcq.1": manpage(hcq, "hcq"), "hcserver.1": manpage(hcserver, "hcserver")}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hcserver.cli.manpage DIRECTORY", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for file, text in pages().items():
        (out / file).write_text(text)
        print(out / file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
