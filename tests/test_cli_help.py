"""The command line as a new administrator meets it: help with examples, man pages made from
the same definitions, tables that fit the terminal, answers in words, and quiet logs."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import click
import pytest

from hcserver.cli import tables
from hcserver.cli.hcq import cli as hcq_cli
from hcserver.cli.hcq_printers import echo_lines
from hcserver.cli.hcserver_cmd import cli as hcserver_cli
from hcserver.cli.hcserver_cmd import configure_logging
from hcserver.cli.manpage import pages
from hcserver.daemon import reload_summary

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = {"hcq": hcq_cli, "hcserver": hcserver_cli}


def commands():
    for program, group in PROGRAMS.items():
        ctx = click.Context(group, info_name=program)
        for name in group.list_commands(ctx):
            yield program, name, group.get_command(ctx, name)


@pytest.mark.parametrize("program, name, command", list(commands()), ids=lambda x: getattr(x, "name", x))
def test_every_command_has_an_example_and_every_option_a_help_text(program, name, command):
    assert "Example" in (command.help or ""), f"{program} {name}: no example in its --help"
    for option in command.params:
        if isinstance(option, click.Option):
            assert option.help, f"{program} {name} {option.opts}: no help text"


def test_the_man_pages_are_made_from_the_commands_as_they_are():
    for file, text in pages().items():
        committed = ROOT / "docs" / "man" / file
        assert committed.read_text() == text, f"{committed} is out of date: python -m hcserver.cli.manpage docs/man"
    assert ".SS \"hcq submit [OPTIONS] [FILES]...\"" in pages()["hcq.1"]


JOBS = [{"id": 123456, "state": "pending", "printer": "previewprinter", "priority": "high", "films_printed": 0,
         "films_total": 12, "attempts": 3, "owner": "administrator", "created_at": "2026-12-05T21:03:00.000+00:00",
         "not_before": None, "error": "gave up after 10 failed attempts: cannot connect to printer "
                                      "HCSIM@127.0.0.1:11112: connection refused or host unreachable",
         "warnings": [], "cancel_requested": False, "node": None}]


@pytest.mark.parametrize("columns", [80, 60])
def test_a_table_fits_the_terminal_and_never_cuts_an_id_a_state_or_a_name(columns):
    console = tables.console()
    with console.capture() as captured:
        console.width = columns
        console.print(tables.jobs_table(JOBS, [], columns))
    lines = captured.get().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    assert lines[1].split()[:3] == ["123456", "pending", "previewprinter"]
    assert "…" not in captured.get()
    assert "connection refused" in " ".join(" ".join(lines[1:]).split())   # wrapped, not cut


def test_wide_leaves_nothing_out_and_wraps_nothing():
    console = tables.console(wide=True)
    with console.capture() as captured:
        console.print(tables.jobs_table(JOBS, [], None))
    header, row = captured.get().splitlines()
    assert header.split() == ["ID", "STATE", "PRINTER", "PRI", "FILMS", "TRIES", "OWNER", "SUBMITTED", "NOTE"]
    assert row.rstrip().endswith("connection refused or host unreachable")


def test_a_note_says_why_a_job_waits():
    job = {**JOBS[0], "error": None}
    stopped = {"name": "previewprinter", "state": "stopped", "reason": "printer status FAILURE: FILM JAM"}
    assert tables.job_note(job, {"previewprinter": stopped}) == \
        "waits: printer previewprinter is stopped: printer status FAILURE: FILM JAM"
    later = {**job, "not_before": "2026-12-05T21:04:05.000+00:00"}
    with pytest.MonkeyPatch.context() as env:   # the note is in local time: make that UTC
        env.setenv("TZ", "UTC")
        time.tzset()
        try:
            note = tables.job_note(later, {})
        finally:
            env.undo()
            time.tzset()
    assert note == "retry at 2026-12-05 21:04"   # not today: the date too, to the minute


def test_a_pool_job_waits_when_no_member_can_take_it_and_the_note_says_why():
    job = {**JOBS[0], "error": None, "printer": "film"}
    pools = {"film": {"name": "film", "printers": ["a", "b"]}}
    stopped = {"name": "a", "state": "stopped", "accepting": True, "reason": "printer status FAILURE: FILM JAM"}
    disabled = {"name": "b", "state": "disabled", "accepting": True, "reason": "disabled by root"}
    idle = {"name": "b", "state": "idle", "accepting": True, "reason": None}
    rejecting = {"name": "b", "state": "idle", "accepting": False, "reason": "rejected by root"}
    assert tables.job_note(job, {"a": stopped, "b": disabled}, pools) == (
        "waits: no printer of pool film can take it: a is stopped: printer status FAILURE: FILM JAM; "
        "b is disabled: disabled by root")
    assert tables.job_note(job, {"a": stopped, "b": rejecting}, pools) == (   # a rejecting member takes no pool job
        "waits: no printer of pool film can take it: a is stopped: printer status FAILURE: FILM JAM; "
        "b is not accepting jobs: rejected by root")
    assert tables.job_note(job, {"a": stopped, "b": idle}, pools) == ""      # b takes it
    assert tables.job_note({**job, "state": "held"}, {"a": stopped, "b": disabled}, pools).startswith("waits: ")
    assert tables.job_note({**job, "state": "processing"}, {"a": stopped, "b": disabled}, pools) == ""


def test_echo_answers_in_words():
    assert echo_lines({"ok": True, "echo_status": 0, "printer_status": "NORMAL", "printer_status_info": "",
                       "seconds": 0.0123}) == ["C-ECHO:          success (0x0000)", "printer status:  NORMAL",
                                               "took:            12 ms"]
    refused = echo_lines({"ok": False, "echo_status": None, "printer_status": None, "printer_status_info": None,
                          "seconds": 0.1, "error": "cannot connect to printer X@h:1: connection refused"})
    assert refused[:2] == ["C-ECHO:          no answer", "printer status:  not read"]
    assert refused[-1] == "error:           cannot connect to printer X@h:1: connection refused"
    assert not any("None" in line or "_" in line.split(":")[0] for line in refused)


def test_a_reload_is_logged_in_words():
    assert reload_summary({"added": ["a"], "removed": [], "changed": ["b", "c"]}) == \
        "printers added: a; changed: b, c"
    assert reload_summary({"added": [], "removed": [], "changed": []}) == "no printer changed"
    assert reload_summary({"added": [], "removed": [], "changed": ["b"], "pools_added": [], "pools_removed": ["x"],
                           "pools_changed": ["film"], "held": [12, 13]}) == \
        "printers changed: b; pools removed: x; changed: film; held: 12, 13"
    assert reload_summary({"added": [], "removed": [], "changed": [], "pools_added": [], "pools_removed": [],
                           "pools_changed": [], "held": []}) == "no printer changed"


@pytest.mark.dicom
def test_a_refused_connection_logs_no_pynetdicom_errors(caplog):
    """The driver says why it could not connect; pynetdicom's two ERROR lines for it are dropped."""
    from hcserver.config import parse
    from hcserver.drivers.base import PrintFailure
    from hcserver.drivers.dicom import DicomDriver
    from tests.support.ports import free_port

    transport = logging.getLogger("pynetdicom.transport")
    before = list(transport.filters), logging.getLogger("pynetdicom").level, logging.getLogger().handlers[:]
    try:
        configure_logging(verbose=False, log_format="text")
        config = parse(f'[printers.a]\ndriver = "dicom"\nhost = "127.0.0.1"\nport = {free_port()}\n', "t")
        driver = DicomDriver(config.printers["a"], config.station)
        with caplog.at_level(logging.DEBUG), pytest.raises(PrintFailure, match="connection refused"):
            driver.status()
        driver.close()
        assert [r for r in caplog.records if r.name.startswith("pynetdicom")] == []
    finally:
        transport.filters[:] = before[0]
        logging.getLogger("pynetdicom").setLevel(before[1])
        logging.getLogger().handlers[:] = before[2]


def test_a_long_queue_is_drawn_whole_one_line_a_job():
    jobs = [{**JOBS[0], "id": n, "error": None, "state": "held"} for n in range(1, 10_001)]
    console = tables.console()
    with console.capture() as captured:
        console.width = 120
        console.print(tables.jobs_table(jobs, [], 120))
    lines = captured.get().splitlines()
    assert len(lines) == 1 + 10_000
    assert [line.split()[:2] for line in (lines[1], lines[-1])] == [["1", "held"], ["10000", "held"]]
    assert max(len(line) for line in lines) <= 120


def test_a_note_of_several_lines_keeps_them_inside_its_column():
    job = {**JOBS[0], "error": "refused\nline two"}      # narrower than its column: not wrapped
    console = tables.console()
    with console.capture() as captured:
        console.width = 200
        console.print(tables.jobs_table([job], [], 200))
    header, first, second = captured.get().splitlines()
    note_at = header.index("NOTE")
    assert first[note_at:].rstrip().endswith("refused")
    assert second[:note_at].strip() == "" and second[note_at:].strip() == "line two"
