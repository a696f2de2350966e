"""The DICOM Conformance Statement (`hcserver conformance`): up to date, and true to the code.

* docs/CONFORMANCE.md is what the code generates for the embedded defaults;
* every status code of the status policy table, for every operation the Print SCU
  sends, is in that operation's table with its meaning and its behaviour;
* a printer's status_policy override shows in its statement, marked as configured;
* every attribute the driver puts in a request is described, and the attribute tables are
  the driver's own request specs (the driver runs against a recording association, no
  network).
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from hcserver import conformance
from hcserver.config import PrinterConfig, ServerConfig, load, parse
from hcserver.drivers.base import Action, JobTicket
from hcserver.drivers.dicom import association
from hcserver.drivers.dicom import status_policy as sp
from hcserver.formatter.film import BoxRect, FilmSheet, ImageBox
from tests.support.recording import RecordingLink, record_driver
from tests.support.scu import run_job

DOC = Path(__file__).resolve().parents[1] / "docs" / "CONFORMANCE.md"

# The operations the Print SCU sends (written out here, not taken from the module under test).
SENT = [
    ("printer", "N-GET"),
    ("film-session", "N-CREATE"), ("film-session", "N-ACTION"), ("film-session", "N-DELETE"),
    ("film-box", "N-CREATE"), ("film-box", "N-ACTION"), ("film-box", "N-DELETE"),
    ("grayscale-image-box", "N-SET"), ("color-image-box", "N-SET"),
    ("presentation-lut", "N-CREATE"), ("presentation-lut", "N-DELETE"),
    ("print-job", "N-GET"), ("printer-configuration", "N-GET"),
]

# What each action reads like in a status table's Behavior column.
PHRASES = {
    Action.WARN: "the warning is recorded on the job",
    Action.RETRY: "retried after the back-off",
    Action.FAIL: "the job fails with the code and its meaning",
    Action.STOP_PRINTER: "the printer is marked stopped and polled",
}

OVERRIDE_CONFIG = """
[server]
ae_title = "HCSERVER"

[printers.x]
driver = "dicom"
ae_title = "DRYVIEW"
host = "192.0.2.10"
port = 10400

[printers.x.status_policy]
"N-ACTION 0xC602" = "retry"

[printers.paper]
driver = "preview"
"""


@pytest.fixture
def defaults(monkeypatch) -> ServerConfig:
    monkeypatch.delenv("HCSERVER_CONFIG", raising=False)
    return load(None)


def table(text: str, caption: str) -> list[list[str]]:
    """The rows of the Markdown table whose caption contains ``caption`` (exactly one such table)."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("**Table ") and caption in line]
    assert len(starts) == 1, f"expected one table captioned {caption!r}, found {len(starts)}"
    i = starts[0] + 2                          # caption, blank line
    assert lines[i].startswith("|") and set(lines[i + 1]) <= set("|-"), f"no table under {caption!r}"
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def status_rows(text: str, sop: str, op: str) -> dict[str, list[str]]:
    """code ("0xC602") -> [service status, meaning, code, behaviour] of one status table."""
    rows = table(text, f"Status codes for {op} of the {sp.SOP_CLASS_NAMES[sop]}")
    return {row[2]: row for row in rows if row[1] != "Other Status Codes"}


# --------------------------------------------------------------------------- (1) checked in and current
def test_checked_in_statement_is_what_the_code_generates(defaults):
    regenerate = "regenerate it with: hcserver conformance > docs/CONFORMANCE.md"
    assert DOC.exists(), f"docs/CONFORMANCE.md is missing; {regenerate}"
    expected = conformance.generate(defaults)
    actual = DOC.read_text(encoding="utf-8")
    if actual != expected:
        diff = "\n".join(list(difflib.unified_diff(actual.split("\n"), expected.split("\n"),
                                                   "docs/CONFORMANCE.md", "generated", lineterm=""))[:60])
        pytest.fail(f"docs/CONFORMANCE.md no longer matches the code and the embedded defaults; "
                    f"{regenerate}\n{diff}")


def test_the_command_prints_the_statement():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HCSERVER_CONFIG"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "conformance", *args],
                              capture_output=True, text=True, env=env)

    assert run().stdout == DOC.read_text(encoding="utf-8")
    one = run("--printer", "simulator")
    assert one.returncode == 0 and "as configured for printer `simulator`" in one.stdout
    unknown = run("--printer", "nope")
    assert unknown.returncode == 2 and "unknown printer 'nope'" in unknown.stderr


def test_generation_is_deterministic_and_holds_no_dates_or_paths(defaults):
    text = conformance.generate(defaults)
    assert text == conformance.generate(defaults)
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text)
    assert not re.search(r"(?:^|[\s(`'\"])/[A-Za-z]", text, re.M), "an absolute path in the statement"
    assert str(Path.cwd()) not in text


def test_statement_has_the_ps3_2_sections(defaults):
    text = conformance.generate(defaults)
    headings = [line.lstrip("#").strip() for line in text.split("\n") if line.startswith("#")]
    for wanted in ("1 Overview", "2 Introduction", "2.1 Revision History", "2.2 Audience", "2.3 Remarks",
                   "2.4 Definitions, Terms and Abbreviations", "3 Networking", "3.1 Implementation Model",
                   "3.1.1 Application Data Flow", "3.1.2 Functional Definition of AEs",
                   "3.1.3 Sequencing of Real-World Activities", "3.2 AE Specifications",
                   "3.2.1.1 SOP Classes", "3.2.1.2 Association Policies", "3.2.1.3 Association Initiation Policy",
                   "3.2.1.4 Association Acceptance Policy", "3.3 Network Interfaces", "3.4 Configuration",
                   "3.4.1 AE Title/Presentation Address Mapping", "3.4.2 Parameters"):
        assert wanted in headings, wanted
    import hcserver
    assert f"hcserver {hcserver.__version__}" in text


# --------------------------------------------------------------------------- (2) the status tables
@pytest.mark.parametrize("sop, op", SENT)
def test_every_code_of_the_policy_table_is_in_its_operation_table(defaults, sop, op):
    rows = status_rows(conformance.generate(defaults), sop, op)
    rules = [r for r in sp.TABLE if r.sop_class == sop and r.operation == op]
    assert rules, f"the status policy has no rows for {sop} {op}"
    for rule in rules:
        code = f"0x{rule.code:04X}"
        assert code in rows, f"{sop} {op}: {code} missing from the statement"
        status, meaning, _, behaviour = rows[code]
        assert status == rule.category.title(), (code, status)
        assert meaning == rule.meaning, (code, meaning)
        if rule.action is not Action.OK:
            assert PHRASES[rule.action] in behaviour, (sop, op, code, rule.action, behaviour)
    other = [row for row in table(conformance.generate(defaults),
                                  f"Status codes for {op} of the {sp.SOP_CLASS_NAMES[sop]}")
             if row[1] == "Other Status Codes"]
    assert {row[0] for row in other} >= {"Warning", "Failure"}


# Every status code a PS3.2 Annex N SCU table (N.7-52 to N.7-69) lists, but success: 36 codes.
ANNEX_N_CODES = (
    "0105 0106 0107 0110 0111 0112 0113 0114 0115 0116 0117 0118 0119 0120 0121 0123 0124 0210 0211 0212 "
    "0213 B600 B601 B602 B603 B604 B605 B609 B60A C600 C601 C602 C603 C605 C613 C616").split()


def test_every_annex_n_code_is_in_the_statement(defaults):
    assert len(ANNEX_N_CODES) == 36
    text = conformance.generate(defaults)
    rows = [line.split("|") for line in text.split("\n") if line.startswith("| ")]
    codes = {cells[3].strip() for cells in rows if len(cells) > 4}
    assert {f"0x{code}" for code in ANNEX_N_CODES} <= codes


def test_hand_checked_rows(defaults):
    text = conformance.generate(defaults)
    action = status_rows(text, "film-box", "N-ACTION")
    assert action["0xC602"][1] == "Unable to create Print Job SOP Instance; print queue is full"
    assert "the job fails" in action["0xC602"][3] and "retried" not in action["0xC602"][3]
    assert "set by this site" not in action["0xC602"][3]
    assert "recorded as printed" in action["0x0000"][3]
    assert "the warning is recorded" in action["0xB604"][3]
    # 0xC601 is listed for the film session's N-ACTION; the policy applies it to the film box's too
    assert "retried" in action["0xC601"][3] and "Basic Film Session" in action["0xC601"][3]

    get = status_rows(text, "printer", "N-GET")
    assert get["0x0110"][1] == "Processing Failure"
    assert "retried" in get["0x0110"][3] and "fails with" not in get["0x0110"][3]
    assert "printer is marked stopped" in get["0x0118"][3]
    assert "the warning is recorded" in get["0x0107"][3]

    assert "the warning is recorded" in status_rows(text, "film-box", "N-DELETE")["0x0110"][3]
    assert "the job fails" in status_rows(text, "grayscale-image-box", "N-SET")["0xC605"][3]
    assert "the warning is recorded" in status_rows(text, "film-session", "N-CREATE")["0x0116"][3]

    printer_status = {row[0]: row[1] for row in table(text, "Printer Status (2110,0010) handling")}
    assert "marked stopped" in printer_status["`FAILURE`"] and "released" in printer_status["`FAILURE`"]
    assert printer_status["`NORMAL`"] == "Printing goes on."

    events = table(text, "N-EVENT-REPORT response status reasons")
    assert {row[2] for row in events} >= {"0x0000", "0x0113"}


def test_other_codes_rows_follow_the_operation(defaults):
    text = conformance.generate(defaults)

    def other(sop, op, status):
        rows = table(text, f"Status codes for {op} of the {sp.SOP_CLASS_NAMES[sop]}")
        (row,) = [r for r in rows if r[1] == "Other Status Codes" and r[0] == status]
        return row[3]

    assert PHRASES[Action.WARN] in other("film-box", "N-DELETE", "Failure")
    assert PHRASES[Action.WARN] in other("film-session", "N-DELETE", "Failure")
    assert PHRASES[Action.STOP_PRINTER] in other("printer", "N-GET", "Failure")
    assert PHRASES[Action.FAIL] in other("film-box", "N-ACTION", "Failure")
    assert PHRASES[Action.FAIL] in other("film-box", "N-DELETE", "Pending")


# --------------------------------------------------------------------------- (3) per-printer overrides
def test_printer_override_changes_the_row_and_is_marked():
    config = parse(OVERRIDE_CONFIG, "<test>")
    text = conformance.generate(config, printer="x")
    assert "`x`" in text and "DRYVIEW" in text and "192.0.2.10:10400" in text
    action = status_rows(text, "film-box", "N-ACTION")
    row = action["0xC602"][3]
    assert "retried after the back-off" in row and "the job fails with" not in row
    assert "set by this site's configuration" in row and '"N-ACTION 0xC602" = "retry"' in row
    assert "the default is fail" in row
    for code in ("0xC603", "0x0110", "0x0000"):
        assert "set by this site's configuration" not in action[code][3], code
    # an override is for the operation, not for one SOP class: no N-ACTION is sent elsewhere, and
    # other operations are untouched
    assert "set by this site" not in status_rows(text, "film-box", "N-CREATE").get("0xC602", ["", "", "", ""])[3]

    general = conformance.generate(config)
    row = status_rows(general, "film-box", "N-ACTION")["0xC602"][3]
    assert "the job fails" in row and "For printer `x`" in row and "set by this site's configuration" in row
    assert conformance.generate(config, printer="x") != general


def test_override_of_an_unlisted_code_gets_its_own_row():
    config = parse(OVERRIDE_CONFIG.replace('"N-ACTION 0xC602" = "retry"', '"N-SET 0xC123" = "stop-printer"'),
                   "<test>")
    rows = status_rows(conformance.generate(config, printer="x"), "grayscale-image-box", "N-SET")
    assert "0xC123" in rows
    assert "printer is marked stopped" in rows["0xC123"][3] and "set by this site" in rows["0xC123"][3]


def test_printer_statement_follows_its_settings():
    text = OVERRIDE_CONFIG.replace('port = 10400', 'port = 10400\ncolor = true\nbit_depth = 12\n'
                                   'presentation_lut = true\nmemory_allocation = 2048')
    statement = conformance.generate(parse(text, "<test>"), printer="x")
    contexts = {row[1] for row in table(statement, "Proposed presentation contexts for the activity Print")}
    assert contexts == set(association.requested_contexts(parse(text, "<test>").printers["x"]))
    status_rows(statement, "color-image-box", "N-SET")
    status_rows(statement, "presentation-lut", "N-CREATE")
    gray = {row[0]: row[3] for row in table(statement, "Attributes sent in N-SET of the Basic Grayscale")}
    assert gray[">Bits Stored"] == "`12`"
    plain = conformance.generate(parse(OVERRIDE_CONFIG, "<test>"), printer="x")
    assert "Basic Color Image Box SOP Class" not in plain and "Presentation LUT SOP Class (PS3.2" not in plain
    assert {row[0]: row[3] for row in table(plain, "Attributes sent in N-SET of the Basic Grayscale")}[
        ">Bits Stored"] == "`8`"


def test_a_printer_printing_film_sessions_has_the_film_session_n_action_and_no_film_box_one():
    text = OVERRIDE_CONFIG.replace('port = 10400', 'port = 10400\nprint_action = "film-session"\nsession_films = 4')
    statement = conformance.generate(parse(text, "<test>"), printer="x")
    rows = status_rows(statement, "film-session", "N-ACTION")
    assert {"0xB601", "0xB602", "0xC600"} <= set(rows)
    assert "every 4 films (`session_films`)" in statement
    assert "Status codes for N-ACTION of the Basic Film Box" not in statement
    assert "Status codes for N-DELETE of the Basic Film Box" not in statement
    plain = conformance.generate(parse(OVERRIDE_CONFIG, "<test>"), printer="x")
    assert "Status codes for N-ACTION of the Basic Film Session" not in plain
    assert "Status codes for N-ACTION of the Basic Film Box" in plain


def test_tls_is_described_for_a_tls_printer():
    text = OVERRIDE_CONFIG.replace('port = 10400', 'port = 2762\ntls = true\ntls_verify = false')
    rows = table(conformance.generate(parse(text, "<test>"), printer="x"), "Transport security per printer")
    assert rows == [["x", "TLS", "no (any certificate accepted)", "no", "192.0.2.10"]]


# --------------------------------------------------------------------------- (4) unknown printer
def test_unknown_printer_is_a_value_error_naming_the_printers():
    config = parse(OVERRIDE_CONFIG, "<test>")
    with pytest.raises(ValueError, match=r"unknown printer 'nope'.*x, paper"):
        conformance.generate(config, printer="nope")
    with pytest.raises(ValueError, match=r"'paper'.*not DICOM.*x"):
        conformance.generate(config, printer="paper")


# --------------------------------------------------------------------------- the driver, recorded
def _sheet(color: bool, bits: int, annotations: tuple[str, ...] = ()) -> FilmSheet:
    if color:
        pixels = np.zeros((8, 6, 3), np.uint8)
    else:
        pixels = np.zeros((8, 6), np.uint16 if bits == 12 else np.uint8)
    boxes = (ImageBox(1, pixels, polarity="REVERSE", magnification="CUBIC", smoothing="SMOOTH",
                      requested_image_size_mm=120.5),
             ImageBox(2, pixels))
    return FilmSheet(index=0, display_format="STANDARD\\2,2", film_size="14INX17IN", orientation="PORTRAIT",
                     film_pixels=(100, 120), rects=tuple(BoxRect(0, 0, 10, 10) for _ in range(4)),
                     boxes=boxes, bit_depth=bits, color=color, magnification="CUBIC", smoothing="SHARP",
                     border_density="BLACK", empty_image_density="WHITE", min_density=20, max_density=300,
                     trim="NO", configuration_information="PERCEPTION_LUT=KANAMORI", annotation_boxes=annotations)


def _tags(ds: Dataset, depth: int = 0) -> set[tuple[int, int]]:
    out = set()
    for elem in ds:
        out.add((depth, int(elem.tag)))
        if elem.VR == "SQ":
            for item in elem.value:
                out |= _tags(item, depth + 1)
    return out


def _described(text: str, caption: str, presence: str | None = None) -> set[tuple[int, int]]:
    out = set()
    for row in table(text, caption):
        if presence is not None and row[4] != presence:
            continue
        depth = len(row[0]) - len(row[0].lstrip(">"))
        group, element = row[1].strip("()").split(",")
        out.add((depth, int(group, 16) << 16 | int(element, 16)))
    return out


@pytest.mark.parametrize("settings", [
    dict(color=False, bit_depth=8, presentation_lut=True, plut_in_film_session=False, memory_allocation=1024),
    dict(color=False, bit_depth=12, presentation_lut=True, plut_in_film_session=True),
    dict(color=True, presentation_lut=False, configuration_information="X"),
    dict(color=False, annotation_box=True, print_job=True),
], ids=["gray8-plut-in-box", "gray12-plut-in-session", "colour", "annotations"])
def test_every_attribute_the_driver_sends_is_described(monkeypatch, settings):
    printer = PrinterConfig(name="x", driver="dicom", ae_title="DRYVIEW", host="192.0.2.10", port=10400,
                            **settings)
    server = ServerConfig(source="<test>", printers={"x": printer})
    link = RecordingLink(printer, annotation_boxes=2 if printer.annotation_box else 0)
    ticket = JobTicket(job_id=1, copies=2, priority="HIGH", medium_type="BLUE FILM",
                       film_destination="PROCESSOR", label="CT chest", color=printer.color, films_total=1)
    annotations = ("LEFT", "RIGHT") if printer.annotation_box else ()
    run_job(record_driver(monkeypatch, printer, link), [_sheet(printer.color, printer.bit_depth, annotations)],
            ticket)

    text = conformance.generate(server, printer="x")
    names = {uid: name for name, uid in association.SOP_CLASSES.items()}
    sent_ops = set()
    for request in link.sent:
        sop = names[request.class_uid]
        sent_ops.add((sop, request.operation))
        assert (sop, request.operation) in SENT + [("annotation-box", "N-SET")], \
            f"the driver sends {request.operation} {sop}, which this test does not know"
        title = sp.SOP_CLASS_NAMES[sop]
        if request.operation == "N-GET":
            described = _described(text, f"{title} N-GET attributes requested")
            assert {(0, int(t)) for t in request.extra} <= described
        elif request.dataset is not None:
            caption = f"Attributes sent in {request.operation} of the {title}"
            sent = _tags(request.dataset)
            missing = sent - _described(text, caption)
            assert not missing, (f"{request.operation} {sop} sends {sorted(hex(t) for _, t in missing)}, not "
                                 f"described in the conformance statement")
            always = {(depth, tag) for depth, tag in _described(text, caption, "ALWAYS") if depth == 0}
            assert always <= sent, f"{request.operation} {sop}: an attribute described as ALWAYS is not sent"
        if sop != "annotation-box":
            status_rows(text, sop, request.operation)      # its status table is there
    assert ("film-box", "N-ACTION") in sent_ops and ("film-session", "N-DELETE") in sent_ops
    assert (("annotation-box", "N-SET") in sent_ops) == printer.annotation_box


def test_attribute_tables_are_the_driver_specs(defaults):
    """Every attribute of every request spec is in the general statement, in the spec's order."""
    from pydicom.datadict import dictionary_description

    from hcserver.drivers.dicom import datasets

    text = conformance.generate(defaults)
    for spec in datasets.SPECS:
        title = sp.SOP_CLASS_NAMES[spec.sop_class]
        caption = (f"{title} N-GET attributes requested" if spec.operation == "N-GET"
                   else f"Attributes sent in {spec.operation} of the {title}")
        shown = [row[0] for row in table(text, caption)]

        def names(attributes, depth=0):
            for a in attributes:
                yield ">" * depth + dictionary_description(a.keyword)
                yield from names(a.items, depth + 1)

        assert shown == list(names(spec.attributes)), caption


def test_templates_are_unwrapped_and_filled():
    from hcserver.conformance import markdown

    text = "\n".join([
        "A paragraph", "wrapped over lines.", "",
        "- an item", "  continued", "- another", "",
        "| A | B |", "|---|---|", "| one | two", "  three |", "",
        "```text", "  kept  ", "as is", "```",
    ])
    assert markdown._unwrap(text).split("\n") == [
        "A paragraph wrapped over lines.", "",
        "- an item continued", "- another", "",
        "| A | B |", "|---|---|", "| one | two three |", "",
        "```text", "  kept  ", "as is", "```",
    ]
    words = markdown.Prose("behaviour")
    assert words("association", ending="aborted") == "The association is aborted;"
    with pytest.raises(KeyError, match="templates/behaviour.md has no fragment 'nope'"):
        words("nope")


FRONT_DOOR = OVERRIDE_CONFIG.split("[printers.x.status_policy]")[0] + """
[dicom_in]
host = "127.0.0.1"
port = 11113
[dicom_in.ae.FILMSPOOL]
service = "print"
printer = "x"
[dicom_in.ae.AUTOFILM]
service = "store"
printer = "x"
"""


def test_the_front_door_section_lists_its_routes_classes_and_the_statuses_its_tests_provoke():
    statement = conformance.generate(parse(FRONT_DOOR, "<test>"))
    assert table(statement, "Routes of the DICOM listener") == [["`FILMSPOOL`", "print", "`x`"],
                                                                ["`AUTOFILM`", "store", "`x`"]]
    classes = {row[1] for row in table(statement, "Print SOP Classes of the Front Door AE")}
    assert {"1.2.840.10008.5.1.1.9", "1.2.840.10008.5.1.1.18", "1.2.840.10008.5.1.1.14"} <= classes
    assert "1.2.840.10008.5.1.1.26" not in classes     # the retired Print Queue Management class
    storage = {row[1] for row in table(statement, "Storage SOP Classes of the Front Door AE")}
    assert {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.7"} <= storage
    returned = {(row[0], row[1], row[3]) for row in table(statement, "Status codes returned by the Front Door AE")}
    # what tests/test_dicom_in_print.py and test_dicom_in_store.py provoke, written out by hand
    for row in [("Basic Film Session", "N-CREATE", "0x0106"), ("Basic Film Session", "N-CREATE", "0x0105"),
                ("Basic Film Session", "N-CREATE", "0x0111"), ("Basic Film Box", "N-CREATE", "0x0120"),
                ("Basic Film Box", "N-CREATE", "0x0106"), ("Basic Film Box", "N-ACTION", "0xB603"),
                ("Basic Film Box", "N-ACTION", "0x0112"), ("Basic Film Box", "N-ACTION", "0x0123"),
                ("Basic Film Session", "N-ACTION", "0xC600"), ("Basic Film Session", "N-ACTION", "0xB602"),
                ("Basic Grayscale Image Box, Basic Color Image Box", "N-SET", "0xC603"),
                ("Basic Grayscale Image Box, Basic Color Image Box", "N-SET", "0x0112"),
                ("Print Job", "N-GET", "0x0112"), ("Storage (image SOP classes)", "C-STORE", "0xA900")]:
        assert row in returned, row


def test_the_front_door_is_described_as_off_without_dicom_in(defaults):
    statement = conformance.generate(defaults)
    assert "has no `[dicom_in]` section: the listener is off" in statement
    assert "Front Door AE" not in conformance.generate(parse(FRONT_DOOR, "<test>"), printer="x").split("3.2.2")[0]
