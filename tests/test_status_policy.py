"""The DICOM status policy table (drivers.dicom.status_policy).

Expected values are written out here by hand from PS3.2 Annex N (tables
N.7-52 to N.7-69, SCU) and from our documented choices; they are never read
back from the table under test.
"""
from __future__ import annotations

import dataclasses

import pytest

from hcserver.drivers.base import Action
from hcserver.drivers.dicom import status_policy as sp
from hcserver.drivers.dicom.status_policy import (
    OPERATIONS,
    SOP_CLASS_UIDS,
    SOP_CLASSES,
    TABLE,
    Decision,
    category_of,
    decide,
    default_rule_text,
    printer_status_action,
    rules_for,
)


def _codes(text: str) -> list[int]:
    return [int(c, 16) for c in text.split()]


# PS3.2 Annex N, SCU tables, in the standard's order.
ANNEX_N = {
    # N.7-52
    ("film-session", "N-CREATE"): _codes(
        "0000 0107 0116 B600 0105 0106 0110 0111 0117 0118 0120 0121 0124 0210 0211 0212 0213"),
    # N.7-53
    ("film-session", "N-SET"): _codes(
        "0000 0107 0116 B600 0105 0106 0110 0111 0112 0117 0118 0119 0120 0121 0124 "
        "0210 0211 0212 0213"),
    # N.7-54
    ("film-session", "N-DELETE"): _codes("0000 0110 0117 0118 0119 0124 0210 0211 0212 0213"),
    # N.7-55
    ("film-session", "N-ACTION"): _codes(
        "0000 B601 B602 B604 B609 B60A 0110 0112 0114 0115 0117 0118 0119 0123 0124 "
        "0210 0211 0212 0213 C600 C601 C603 C613"),
    # N.7-56
    ("film-box", "N-CREATE"): _codes(
        "0000 0107 0116 B605 0105 0106 0110 0111 0117 0118 0120 0121 0124 0210 0211 0212 0213 "
        "C616"),
    # N.7-57
    ("film-box", "N-SET"): _codes(
        "0000 0107 0116 B605 0105 0106 0110 0111 0117 0118 0119 0120 0121 0124 "
        "0210 0211 0212 0213 C616"),
    # N.7-58
    ("film-box", "N-DELETE"): _codes("0000 0110 0117 0118 0119 0124 0210 0211 0212 0213"),
    # N.7-59
    ("film-box", "N-ACTION"): _codes(
        "0000 B603 B604 B609 B60A 0110 0112 0114 0115 0117 0118 0119 0123 0124 "
        "0210 0211 0212 0213 C602 C603 C613"),
    # N.7-60
    ("grayscale-image-box", "N-SET"): _codes(
        "0000 B604 B605 B609 B60A 0105 0106 0110 0111 0117 0118 0119 0120 0121 0124 "
        "0210 0211 0212 0213 C603 C605 C613"),
    # N.7-61 (no B605 in this table)
    ("color-image-box", "N-SET"): _codes(
        "0000 B604 B609 B60A 0105 0106 0110 0111 0117 0118 0119 0120 0121 0124 "
        "0210 0211 0212 0213 C603 C605 C613"),
    # N.7-62
    ("printer", "N-EVENT-REPORT"): _codes(
        "0000 0110 0112 0113 0114 0115 0117 0118 0119 0210 0211 0212 0213"),
    # N.7-63
    ("printer", "N-GET"): _codes("0000 0107 0110 0112 0117 0118 0119 0124 0210 0211 0212 0213"),
    # N.7-64
    ("annotation-box", "N-SET"): _codes(
        "0000 0105 0106 0110 0111 0117 0118 0119 0120 0121 0124 0210 0211 0212 0213"),
    # N.7-65
    ("print-job", "N-EVENT-REPORT"): _codes(
        "0000 0110 0112 0113 0114 0115 0117 0118 0119 0210 0211 0212 0213"),
    # N.7-66
    ("print-job", "N-GET"): _codes("0000 0107 0110 0112 0117 0118 0119 0124 0210 0211 0212 0213"),
    # N.7-67
    ("presentation-lut", "N-CREATE"): _codes(
        "0000 0107 0116 B605 0105 0106 0110 0111 0117 0118 0120 0121 0124 0210 0211 0212 0213"),
    # N.7-68
    ("presentation-lut", "N-DELETE"): _codes("0000 0110 0117 0118 0119 0124 0210 0211 0212 0213"),
    # N.7-69
    ("printer-configuration", "N-GET"): _codes(
        "0000 0107 0110 0112 0117 0118 0119 0124 0210 0211 0212 0213"),
}

EXPECTED_UIDS = {
    "printer": "1.2.840.10008.5.1.1.16",
    "film-session": "1.2.840.10008.5.1.1.1",
    "film-box": "1.2.840.10008.5.1.1.2",
    "grayscale-image-box": "1.2.840.10008.5.1.1.4",
    "color-image-box": "1.2.840.10008.5.1.1.4.1",
    "presentation-lut": "1.2.840.10008.5.1.1.23",
    "annotation-box": "1.2.840.10008.5.1.1.15",
    "print-job": "1.2.840.10008.5.1.1.14",
    "printer-configuration": "1.2.840.10008.5.1.1.16.376",
}


# --- the table against Annex N ---------------------------------------------------------

def test_table_covers_exactly_the_annex_n_codes():
    rows = [(r.sop_class, r.operation, r.code) for r in TABLE]
    assert len(rows) == len(set(rows)), "a (SOP class, operation, code) appears twice"
    expected = {(sop, op, code) for (sop, op), codes in ANNEX_N.items() for code in codes}
    assert set(rows) == expected


@pytest.mark.parametrize("sop_class,operation", sorted(ANNEX_N))
def test_rules_for_gives_the_annex_n_codes_in_order(sop_class, operation):
    rules = rules_for(sop_class, operation)
    assert isinstance(rules, list)
    assert [r.code for r in rules] == ANNEX_N[(sop_class, operation)]
    assert all(r.sop_class == sop_class and r.operation == operation for r in rules)


def test_categories_of_table_rows():
    warnings = {0x0107, 0x0116}
    for rule in TABLE:
        if rule.code == 0x0000:
            expected = "success"
        elif rule.code in warnings or 0xB000 <= rule.code <= 0xBFFF:
            expected = "warning"
        else:
            expected = "failure"
        assert rule.category == expected, rule


def test_every_rule_has_a_meaning_and_every_non_success_rule_a_reason():
    for rule in TABLE:
        assert rule.meaning.strip(), rule
        assert isinstance(rule.action, Action), rule
        if rule.category != "success":
            assert rule.why.strip(), rule


@pytest.mark.parametrize("sop_class,operation,code,words", [
    ("film-box", "N-ACTION", 0xC602, "print queue is full"),
    ("film-session", "N-ACTION", 0xC601, "print queue is full"),
    ("film-session", "N-ACTION", 0x0000, "accepted for printing"),
    ("film-box", "N-CREATE", 0xC616, "existing Film Box that has not been printed"),
    ("grayscale-image-box", "N-SET", 0xC605, "Insufficient memory"),
    ("grayscale-image-box", "N-SET", 0xB605, "Min Density or Max Density"),
    ("film-box", "N-ACTION", 0xB603, "empty page"),
    ("printer", "N-GET", 0x0213, "Resource limitation"),
    ("printer", "N-GET", 0x0110, "Processing Failure"),
    ("printer", "N-EVENT-REPORT", 0x0113, "No Such Event Type"),
    ("film-session", "N-CREATE", 0x0124, "Not authorized"),
])
def test_meanings(sop_class, operation, code, words):
    assert words.lower() in decide(sop_class, operation, code).meaning.lower()


def test_rows_are_immutable():
    assert isinstance(TABLE, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TABLE[0].action = Action.FAIL  # type: ignore[misc]


# --- default actions ----------------------------------------------------------------------

def test_success_is_ok_and_listed_warnings_are_warn():
    for rule in TABLE:
        if rule.category == "success":
            assert rule.action is Action.OK, rule
        if rule.category == "warning":
            assert rule.action is Action.WARN, rule


@pytest.mark.parametrize("sop_class,operation,code,action", [
    # the reference SCU's named failures: abort and fail the job
    ("film-box", "N-ACTION", 0xC602, Action.FAIL),
    ("film-box", "N-ACTION", 0xC603, Action.FAIL),
    ("film-box", "N-ACTION", 0xC613, Action.FAIL),
    ("grayscale-image-box", "N-SET", 0xC603, Action.FAIL),
    ("grayscale-image-box", "N-SET", 0xC605, Action.FAIL),
    ("grayscale-image-box", "N-SET", 0xC613, Action.FAIL),
    ("color-image-box", "N-SET", 0xC605, Action.FAIL),
    ("film-session", "N-ACTION", 0xC603, Action.FAIL),
    # the reference SCU's named warnings: considered successful
    ("film-session", "N-CREATE", 0x0107, Action.WARN),
    ("film-session", "N-CREATE", 0x0116, Action.WARN),
    ("film-box", "N-CREATE", 0xB605, Action.WARN),
    ("film-box", "N-ACTION", 0xB604, Action.WARN),
    ("film-box", "N-ACTION", 0xB609, Action.WARN),
    ("film-box", "N-ACTION", 0xB60A, Action.WARN),
    ("grayscale-image-box", "N-SET", 0xB605, Action.WARN),
    # other warnings
    ("film-session", "N-CREATE", 0xB600, Action.WARN),
    ("film-session", "N-ACTION", 0xB601, Action.WARN),
    ("film-session", "N-ACTION", 0xB602, Action.WARN),
    ("film-box", "N-ACTION", 0xB603, Action.WARN),
    ("printer", "N-GET", 0x0107, Action.WARN),
    # transient: retry
    ("printer", "N-GET", 0x0110, Action.RETRY),
    ("printer", "N-GET", 0x0213, Action.RETRY),
    ("film-box", "N-ACTION", 0x0110, Action.RETRY),
    ("film-box", "N-ACTION", 0x0213, Action.RETRY),
    ("grayscale-image-box", "N-SET", 0x0213, Action.RETRY),
    ("film-session", "N-CREATE", 0x0210, Action.RETRY),
    ("film-session", "N-ACTION", 0xC601, Action.RETRY),
    ("film-box", "N-CREATE", 0xC616, Action.RETRY),
    ("film-box", "N-SET", 0xC616, Action.RETRY),
    ("film-box", "N-ACTION", 0x0112, Action.RETRY),
    # the printer cannot report its status: stop it, keep the jobs
    ("printer", "N-GET", 0x0124, Action.STOP_PRINTER),
    ("printer", "N-GET", 0x0118, Action.STOP_PRINTER),
    ("printer", "N-GET", 0x0112, Action.STOP_PRINTER),
    # refused as sent: fail
    ("film-session", "N-CREATE", 0x0106, Action.FAIL),
    ("film-session", "N-CREATE", 0x0124, Action.FAIL),
    ("film-box", "N-CREATE", 0x0120, Action.FAIL),
    ("film-box", "N-ACTION", 0x0123, Action.FAIL),
    ("film-session", "N-ACTION", 0xC600, Action.FAIL),
    ("annotation-box", "N-SET", 0x0106, Action.FAIL),
    ("presentation-lut", "N-CREATE", 0x0118, Action.FAIL),
    # requests the films do not depend on
    ("film-session", "N-DELETE", 0x0110, Action.WARN),
    ("film-box", "N-DELETE", 0x0124, Action.WARN),
    ("presentation-lut", "N-DELETE", 0x0119, Action.WARN),
    ("print-job", "N-GET", 0x0112, Action.WARN),
    ("printer-configuration", "N-GET", 0x0118, Action.WARN),
    ("printer", "N-EVENT-REPORT", 0x0113, Action.WARN),
    ("print-job", "N-EVENT-REPORT", 0x0110, Action.WARN),
])
def test_listed_decisions(sop_class, operation, code, action):
    decision = decide(sop_class, operation, code)
    assert decision.action is action
    assert decision.listed is True
    assert decision.overridden is False


def test_success_decision():
    assert decide("film-box", "N-ACTION", 0x0000) == Decision(
        Action.OK, "Success", "success", listed=True, overridden=False)


def test_reference_scu_choices_are_explained():
    rules = {(r.sop_class, r.operation, r.code): r for r in TABLE}
    assert "4.2-76" in rules[("film-box", "N-ACTION", 0xC602)].why
    assert "4.2-78" in rules[("grayscale-image-box", "N-SET", 0xC605)].why
    assert "4.2-75" in rules[("film-box", "N-CREATE", 0xB605)].why


# --- codes the table does not list --------------------------------------------------------

@pytest.mark.parametrize("sop_class,operation,code,category,action", [
    ("film-box", "N-ACTION", 0xB6FF, "warning", Action.WARN),
    ("film-box", "N-ACTION", 0x0001, "warning", Action.WARN),
    ("grayscale-image-box", "N-SET", 0x0107, "warning", Action.WARN),   # not in N.7-60
    ("color-image-box", "N-SET", 0xB605, "warning", Action.WARN),       # not in N.7-61
    ("film-box", "N-ACTION", 0xA700, "failure", Action.FAIL),
    ("film-box", "N-ACTION", 0xC6FF, "failure", Action.FAIL),
    ("film-box", "N-ACTION", 0x0105, "failure", Action.FAIL),
    ("film-session", "N-CREATE", 0x0300, "failure", Action.FAIL),
    ("film-session", "N-CREATE", 0xD000, "failure", Action.FAIL),
    ("film-session", "N-ACTION", 0xC602, "failure", Action.FAIL),       # N.7-59 only
    ("film-box", "N-SET", 0xFF00, "pending", Action.FAIL),
    ("film-box", "N-SET", 0xFE00, "cancel", Action.FAIL),
])
def test_unlisted_codes_follow_the_category_rule(sop_class, operation, code, category, action):
    decision = decide(sop_class, operation, code)
    assert decision.listed is False
    assert decision.overridden is False
    assert decision.category == category
    assert decision.action is action
    assert decision.meaning


@pytest.mark.parametrize("sop_class,operation,code,action", [
    # N-DELETE is clean-up: every failure warns, as the listed ones do
    ("film-box", "N-DELETE", 0x0112, Action.WARN),
    ("film-box", "N-DELETE", 0xC7FF, Action.WARN),
    ("film-session", "N-DELETE", 0x0105, Action.WARN),
    ("presentation-lut", "N-DELETE", 0xA700, Action.WARN),
    # N-GET Printer: the printer cannot report its status, as for the listed 0x0118
    ("printer", "N-GET", 0x0105, Action.STOP_PRINTER),
    ("printer", "N-GET", 0x0122, Action.STOP_PRINTER),
    ("printer", "N-GET", 0xC000, Action.STOP_PRINTER),
    # information only
    ("print-job", "N-GET", 0x0105, Action.WARN),
    ("printer-configuration", "N-GET", 0xC000, Action.WARN),
    # the operation's choice is for failures: a pending answer still fails the job
    ("film-box", "N-DELETE", 0xFF00, Action.FAIL),
])
def test_unlisted_codes_take_the_operations_choice_for_their_category(sop_class, operation, code, action):
    decision = decide(sop_class, operation, code)
    assert decision.listed is False
    assert decision.action is action


def test_unlisted_meanings():
    assert "0xB6FF" in decide("film-box", "N-ACTION", 0xB6FF).meaning
    assert "0xA700" in decide("film-box", "N-ACTION", 0xA700).meaning
    assert decide("printer", "N-GET", 0x0122).meaning == "SOP Class not supported"
    assert "print queue is full" in decide("film-session", "N-ACTION", 0xC602).meaning


def test_default_rule_text_per_category():
    assert sp.OTHER_CODES["success"][0] is Action.OK
    assert sp.OTHER_CODES["warning"][0] is Action.WARN
    assert sp.OTHER_CODES["failure"][0] is Action.FAIL
    for category in ("success", "warning", "failure", "pending", "cancel"):
        assert default_rule_text(category).strip()
    assert "warning" in default_rule_text("warning").lower()
    assert "fail" in default_rule_text("failure").lower()
    with pytest.raises(ValueError, match="category"):
        default_rule_text("bogus")


@pytest.mark.parametrize("code,category", [
    (0x0000, "success"),
    (0xFF00, "pending"), (0xFF01, "pending"),
    (0xFE00, "cancel"),
    (0x0001, "warning"), (0x0107, "warning"), (0x0116, "warning"),
    (0xB000, "warning"), (0xB600, "warning"), (0xBFFF, "warning"),
    (0x0105, "failure"), (0x0110, "failure"), (0x0124, "failure"), (0x0213, "failure"),
    (0xA000, "failure"), (0xA700, "failure"), (0xAFFF, "failure"),
    (0xC000, "failure"), (0xC602, "failure"), (0xCFFF, "failure"),
    (0x0002, "failure"), (0x0300, "failure"), (0xD000, "failure"), (0xFFFF, "failure"),
])
def test_category_of(code, category):
    assert category_of(code) == category


@pytest.mark.parametrize("bad", [-1, 0x10000, "0x0000", None, 1.0, True])
def test_category_of_rejects_non_codes(bad):
    with pytest.raises(ValueError):
        category_of(bad)


# --- overrides ------------------------------------------------------------------------------

def test_override_wins_over_the_table_for_every_sop_class():
    overrides = {"N-ACTION 0xC602": "retry"}
    box = decide("film-box", "N-ACTION", 0xC602, overrides)
    assert (box.action, box.listed, box.overridden) == (Action.RETRY, True, True)
    assert "print queue is full" in box.meaning
    session = decide("film-session", "N-ACTION", 0xC602, overrides)
    assert (session.action, session.listed, session.overridden) == (Action.RETRY, False, True)
    # other operations and codes are untouched, and so is the table
    assert decide("grayscale-image-box", "N-SET", 0xC602, overrides).overridden is False
    assert decide("film-box", "N-ACTION", 0xC603, overrides).action is Action.FAIL
    assert decide("film-box", "N-ACTION", 0xC602).action is Action.FAIL


def test_override_of_an_unlisted_code_and_of_a_warning():
    d = decide("grayscale-image-box", "N-SET", 0xC6FF, {"N-SET 0xC6FF": "stop-printer"})
    assert (d.action, d.listed, d.overridden, d.category) == (
        Action.STOP_PRINTER, False, True, "failure")
    d = decide("film-box", "N-ACTION", 0xB609, {"N-ACTION 0xB609": "fail"})
    assert (d.action, d.category, d.overridden) == (Action.FAIL, "warning", True)
    d = decide("film-box", "N-ACTION", 0xC602, {"N-ACTION 0xC602": Action.WARN})
    assert d.action is Action.WARN


def test_override_keys_are_normalised():
    d = decide("film-box", "N-ACTION", 0xC602, {"n-action  0xc602": "retry"})
    assert d.action is Action.RETRY and d.overridden


@pytest.mark.parametrize("overrides,words", [
    ({"N-ACTION 0xC602": "later"}, "'later' is not one of: ok, warn, retry, fail, stop-printer"),
    ({"N-FOO 0xC602": "retry"}, "OPERATION one of: N-GET, N-CREATE, N-SET, N-ACTION, N-DELETE"),
    ({"N-ACTION": "retry"}, "OPERATION"),
    ({"N-ACTION 0xC602 0xC603": "retry"}, "OPERATION"),
    ({"N-ACTION C6O2": "retry"}, "'C6O2' is not a hexadecimal status code"),
    ({"N-ACTION 0x1C602": "retry"}, "0x0000 to 0xFFFF"),
    # the answers we give to the printer's N-EVENT-REPORTs are not the printer's to judge
    ({"N-EVENT-REPORT 0x0113": "fail"}, "N-EVENT-REPORT codes are the answers this server gives"),
])
def test_bad_overrides_are_refused(overrides, words):
    with pytest.raises(ValueError, match=words) as info:
        decide("film-box", "N-ACTION", 0xC602, overrides)
    assert repr(next(iter(overrides))) in str(info.value)


def test_event_report_decisions_take_no_override():
    with pytest.raises(ValueError, match="N-EVENT-REPORT"):
        decide("printer", "N-EVENT-REPORT", 0x0113, {"N-EVENT-REPORT 0x0113": "fail"})
    assert decide("printer", "N-EVENT-REPORT", 0x0113, {"N-ACTION 0xC602": "retry"}).overridden is False


def test_one_grammar_for_the_configuration_and_decide():
    from hcserver.config import ConfigError, parse

    assert sp.parse_override(" n-set   0xc605 ", "stop-printer") == ("N-SET 0xC605", Action.STOP_PRINTER)
    assert sp.parse_override("N-GET 110", Action.WARN) == ("N-GET 0x0110", Action.WARN)
    assert sp.ACTIONS == ("ok", "warn", "retry", "fail", "stop-printer")
    assert sp.OVERRIDE_OPERATIONS == tuple(op for op in OPERATIONS if op != "N-EVENT-REPORT")
    for key, action in (("N-EVENT-REPORT 0x0113", "fail"), ("N-FOO 0xC602", "retry"),
                        ("N-ACTION 0xC6O2", "retry"), ("N-ACTION 0xC602", "later")):
        with pytest.raises(ValueError) as grammar:
            sp.parse_override(key, action)
        text = f'[printers.dry]\ndriver = "dicom"\n[printers.dry.status_policy]\n"{key}" = "{action}"\n'
        with pytest.raises(ConfigError) as config:
            parse(text, "site.toml")
        assert config.value.file == "site.toml"
        assert config.value.key == f'printers.dry.status_policy."{key}"'
        assert config.value.message == str(grammar.value)


def test_overrides_from_the_configuration_file():
    from hcserver.config import parse

    config = parse(
        '[printers.dry]\ndriver = "dicom"\n'
        '[printers.dry.status_policy]\n"N-ACTION 0xc602" = "retry"\n"N-SET 0xC605" = "stop-printer"\n',
        "test.toml")
    policy = config.printers["dry"].status_policy
    assert decide("film-box", "N-ACTION", 0xC602, policy).action is Action.RETRY
    assert decide("grayscale-image-box", "N-SET", 0xC605, policy).action is Action.STOP_PRINTER
    assert decide("film-box", "N-CREATE", 0xC616, policy).overridden is False


def test_policy_key():
    assert sp.policy_key("N-ACTION", 0xC602) == "N-ACTION 0xC602"
    assert sp.policy_key("N-SET", 0x0110) == "N-SET 0x0110"
    assert rules_for("film-box", "N-ACTION")[-3].key == "N-ACTION 0xC602"


# --- names and errors -----------------------------------------------------------------------

def test_operations_and_sop_classes():
    assert OPERATIONS == ("N-GET", "N-CREATE", "N-SET", "N-ACTION", "N-DELETE", "N-EVENT-REPORT")
    for name in ("printer", "film-session", "film-box", "grayscale-image-box", "color-image-box",
                 "presentation-lut", "annotation-box", "print-job"):
        assert name in SOP_CLASSES
    assert dict(SOP_CLASS_UIDS) == EXPECTED_UIDS


def test_uids_name_the_right_sop_classes():
    from pydicom.uid import UID

    names = {
        "printer": "Printer SOP Class",
        "film-session": "Basic Film Session SOP Class",
        "film-box": "Basic Film Box SOP Class",
        "grayscale-image-box": "Basic Grayscale Image Box SOP Class",
        "color-image-box": "Basic Color Image Box SOP Class",
        "presentation-lut": "Presentation LUT SOP Class",
        "annotation-box": "Basic Annotation Box SOP Class",
        "print-job": "Print Job SOP Class",
        "printer-configuration": "Printer Configuration Retrieval SOP Class",
    }
    for short, uid in EXPECTED_UIDS.items():
        assert UID(uid).name == names[short]


def test_decide_accepts_a_sop_class_uid():
    d = decide("1.2.840.10008.5.1.1.2", "N-ACTION", 0xC602)
    assert d.action is Action.FAIL and d.listed
    assert decide("1.2.840.10008.5.1.1.16", "N-GET", 0x0213).action is Action.RETRY


@pytest.mark.parametrize("sop_class,operation,words", [
    ("film-box", "C-STORE", "unknown DIMSE operation"),
    ("film-box", "", "unknown DIMSE operation"),
    ("film-box", None, "unknown DIMSE operation"),
    ("film-roll", "N-ACTION", "unknown Print Management SOP class"),
    ("1.2.840.10008.5.1.4.1.1.2", "N-SET", "unknown Print Management SOP class"),
    (None, "N-SET", "unknown Print Management SOP class"),
    ("film-box", "N-GET", "has no N-GET"),
    ("printer", "N-CREATE", "has no N-CREATE"),
])
def test_unknown_operation_or_sop_class(sop_class, operation, words):
    with pytest.raises(ValueError, match=words):
        decide(sop_class, operation, 0x0000)
    with pytest.raises(ValueError, match=words):
        rules_for(sop_class, operation)


def test_error_message_lists_the_operations():
    with pytest.raises(ValueError) as info:
        decide("film-box", "N-FOO", 0)
    for op in ("N-GET", "N-CREATE", "N-SET", "N-ACTION", "N-DELETE", "N-EVENT-REPORT"):
        assert op in str(info.value)


# --- printer status -------------------------------------------------------------------------

@pytest.mark.parametrize("status,action", [
    ("NORMAL", Action.OK),
    ("WARNING", Action.WARN),
    ("FAILURE", Action.STOP_PRINTER),
    ("failure ", Action.STOP_PRINTER),
    ("", Action.WARN),
    ("BUSY", Action.WARN),
    (None, Action.WARN),
])
def test_printer_status_action(status, action):
    assert printer_status_action(status) is action


def test_code_listed_for_the_same_operation_on_another_film_class_takes_that_action():
    # 0xC601 (queue full) is listed only for the film session's N-ACTION; on the film box's
    # N-ACTION it means the same thing and is retried, not failed by the category rule.
    queue_full = decide("film-box", "N-ACTION", 0xC601)
    assert (queue_full.action, queue_full.listed) == (Action.RETRY, False)
    assert "queue is full" in queue_full.meaning
    assert decide("film-box", "N-ACTION", 0xB602).action is Action.WARN
    assert decide("film-box", "N-ACTION", 0xC600).action is Action.FAIL
    # the printer's own N-GET is not a film class: its own choice for failures decides
    assert decide("printer", "N-GET", 0xC601).action is Action.STOP_PRINTER
