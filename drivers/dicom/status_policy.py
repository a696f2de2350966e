"""What the Print SCU does with each DIMSE status: the status policy table.

The table
---------
:data:`TABLE` holds one :class:`StatusRule` per ``(SOP class, operation, status
code)`` that DICOM PS3.2 Annex N (tables N.7-52 to N.7-69, "Status Codes ... -
SCU") lists for the SCU of the Print Management SOP classes, with the meaning
the standard gives it and the :class:`~hcserver.drivers.base.Action` we take by
default:

``ok``
    go on.
``warn``
    go on and record the code, its meaning and the operation on the job.
``retry``
    end the association, back off and try the job again later; films whose
    N-ACTION succeeded are kept and never printed again.
``fail``
    the job fails with the code and its meaning.
``stop-printer``
    the job goes back to pending, the printer is marked stopped and polled
    (N-GET Printer) until it reports anything but FAILURE.

The table is data: it is expanded once, at import, from the Annex N code
lists (:data:`ANNEX_N`) and an ordered list of choices (:data:`_CHOICES`, the
first that matches a row gives its action and the reason for it), and
:func:`decide` only looks codes up. The conformance statement is printed
from the same table (:func:`rules_for`, :func:`default_rule_text`).

Codes the table does not list
-----------------------------
A code that Annex N lists for the same operation on another film-building
SOP class (film session, film box, image boxes, annotation box, Presentation
LUT) takes that row's action: 0xC601 "print queue full" answered to a film
box N-ACTION is handled as it is for the film session's N-ACTION. Any other
code is classified by :func:`category_of` (PS3.7 Annex C):
0x0000 success; 0xFF00/0xFF01 pending; 0xFE00 cancel; 0x0001, 0x0107,
0x0116 and 0xBxxx warning; everything else - 0x01xx/0x02xx, 0xAxxx, 0xCxxx
and codes no part of the standard assigns - failure - and takes the action
the choices below give that whole category for its SOP class and operation
(:data:`OTHER_RULES`, one row per Annex N table and category): N-DELETE
failures warn, N-GET Printer failures stop the printer, and so on, listed
or not. Where no choice covers a category, :data:`OTHER_CODES` gives the
default: success → ok, warning → warn, and failure, pending and cancel →
fail (none of the N-operations we use answers pending or cancel, so such an
answer is not something we can go on from).

Per-printer overrides
---------------------
A printer's ``status_policy`` table maps ``"OPERATION 0xCODE"`` (e.g.
``"N-ACTION 0xC602"``) to an action. An override applies to that operation
and code for every SOP class, wins over the table, and may name a code the
table does not list. OPERATION is one of the requests we send
(:data:`OVERRIDE_OPERATIONS`): N-EVENT-REPORT codes are the answers we give
to the printer's notifications, not answers to act on. :func:`parse_override`
is the one grammar, used by the configuration file and by :func:`decide`.

Why the defaults are what they are
----------------------------------
Where the reference Print SCU - the conformance statement of Canon Medical
Systems' Astorex i9 (model UDR-10A), section 4.2.7 "Print SCU AE" - documents
what it does with a code, we do the same; each rule's ``why`` says so:

* the warnings it names (0x0107, 0x0116, 0xB604, 0xB605, 0xB609, 0xB60A) are
  "considered successful": printing goes on, and we record them (``warn``);
* the failures it names (0xC602, 0xC603, 0xC605, 0xC613) abort the
  association and fail the job (``fail``). A site whose printer reports a
  full queue (0xC602) only briefly may override that with ``retry``;
* a failed N-GET Printer aborts the association but does not fail the job,
  and a printer that reports FAILURE is waited for and tried again
  (``retry`` or ``stop-printer`` below, never ``fail``).

For codes it covers only by its "any other status code → fail the job" row,
or not at all, we choose:

* ``retry`` for what a new association or some waiting can clear:
  0x0110 Processing failure, 0x0210 Duplicate invocation (message IDs start
  again in a new association), 0x0213 Resource limitation, 0xC601 print queue
  full, 0xC616 an earlier film box not yet printed (a new association starts
  a new film session), and 0x0112 No such SOP Instance on N-SET / N-ACTION
  (the printer lost the session, e.g. it restarted). The retry limit bounds
  the cost when the cause turns out to be permanent.
* ``stop-printer`` for the other failures of N-GET Printer: the printer
  cannot tell us its status, which is the printer's (or its configuration's)
  fault and not the job's, so jobs are kept until it answers with a status other than FAILURE.
* ``warn`` for failures of requests the films do not depend on: N-DELETE
  (the films are already accepted, and the printer drops the session's
  instances when the association ends), N-GET Print Job (only the progress
  report is lost), N-GET Printer Configuration Retrieval (information only),
  and N-EVENT-REPORT, whose codes are ones *we* return to the printer's
  notification (e.g. 0x0113 for an unknown event type).
* ``fail`` for the rest: the printer refused the request as we sent it
  (missing or invalid attributes, unknown SOP class, not authorized, image
  too large ...), and sending it again would be refused again.

Printer Status (2110,0010), from N-GET Printer or N-EVENT-REPORT, is handled by
:func:`printer_status_action`: NORMAL → ok, WARNING → warn, FAILURE →
stop-printer, anything else (including empty) → warn.

A rejected association (A-ASSOCIATE-RJ) is handled by :func:`rejection_action`:
rejected-transient → retry, rejected-permanent → stop-printer. A permanent
rejection (e.g. our calling AE title is not configured on the printer) is not
cleared by waiting: retried, it would cost every job its whole back-off (about
an hour at the defaults) and then fail it. The printer stops with the
rejection's words instead, its jobs wait, and the status poll resumes it once
the printer accepts an association and answers the N-GET.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hcserver.drivers.base import Action
from hcserver.drivers.dicom.annex_n import (
    ANNEX_N,
    ANNEX_N_TABLES,
    CATEGORIES,
    MEANINGS,
    OPERATIONS,
    OPERATIONS_BY_SOP_CLASS,
    OTHER_MEANINGS,
    SOP_CLASS_NAMES,
    SOP_CLASS_UIDS,
    SOP_CLASSES,
    TABLE_MEANINGS,
    category_of,
)

# The standard's names, used with this module's by the driver and the conformance statement.
__all__ = [
    "ACTIONS", "ANNEX_N", "ANNEX_N_TABLES", "CATEGORIES", "MEANINGS", "OPERATIONS", "OPERATIONS_BY_SOP_CLASS",
    "OTHER_CODES", "OTHER_RULES", "OVERRIDE_OPERATIONS", "SOP_CLASS_NAMES", "SOP_CLASS_UIDS", "SOP_CLASSES", "TABLE",
    "Decision", "OtherRule", "StatusRule", "category_of", "decide", "default_rule_text", "meaning_of", "parse_override",
    "REJECTED_PERMANENT", "REJECTED_TRANSIENT", "parse_overrides", "policy_key", "printer_status_action",
    "other_rule", "rejection_action", "rules_for",
]

_UID_TO_NAME = {uid: name for name, uid in SOP_CLASS_UIDS.items()}

# ---------------------------------------------------------------------------
# The choices: the first entry that matches a (SOP class, operation, code)
# gives its action and why. ``None`` matches anything; ``codes`` may instead
# name a category.

_REF = "Reference SCU (Astorex i9 conformance statement"
_TRANSIENT = (0x0110, 0x0210, 0x0213)


@dataclass(frozen=True)
class _Choice:
    action: Action
    why: str
    sop_classes: tuple[str, ...] | None = None
    operations: tuple[str, ...] | None = None
    codes: tuple[int, ...] | str | None = None     # codes, or a category name

    def in_scope(self, sop_class: str, operation: str) -> bool:
        return ((self.sop_classes is None or sop_class in self.sop_classes)
                and (self.operations is None or operation in self.operations))

    def matches(self, sop_class: str, operation: str, code: int) -> bool:
        if not self.in_scope(sop_class, operation):
            return False
        if isinstance(self.codes, str):
            return category_of(code) == self.codes
        return self.codes is None or code in self.codes


_CHOICES: tuple[_Choice, ...] = (
    _Choice(Action.OK, "", codes="success"),

    # Requests the films do not depend on.
    _Choice(Action.WARN,
            "we return this code to the printer's notification; printing is not affected, "
            "the event is recorded as a warning",
            operations=("N-EVENT-REPORT",), codes="failure"),
    _Choice(Action.WARN,
            "the film was already accepted by N-ACTION; only the report of its progress is lost",
            sop_classes=("print-job",), operations=("N-GET",), codes="failure"),
    _Choice(Action.WARN,
            "printer configuration is information only; printing does not depend on it",
            sop_classes=("printer-configuration",), operations=("N-GET",), codes="failure"),
    _Choice(Action.WARN,
            "clean-up only: the films are already accepted and the printer drops the session's "
            "instances when the association ends; failing the job would report printed films "
            "as failed and invite printing them again (the reference SCU fails the job when "
            "Film Session N-DELETE fails; we do not)",
            operations=("N-DELETE",), codes="failure"),

    # N-GET Printer: the reference SCU aborts the association and reports the status,
    # without failing the job.
    _Choice(Action.RETRY,
            "transient on the printer's side; the reference SCU aborts the association without "
            "failing the job and tries again later",
            sop_classes=("printer",), operations=("N-GET",), codes=_TRANSIENT),
    _Choice(Action.STOP_PRINTER,
            "the printer cannot report its status: its fault (or its configuration's), not the "
            "job's; keep the jobs and poll until it answers (not FAILURE) (the reference SCU aborts the "
            "association without failing the job)",
            sop_classes=("printer",), operations=("N-GET",), codes="failure"),
    _Choice(Action.WARN,
            "the Printer Status itself still arrives; the reference SCU's \"any other status\" "
            "row would abort, which would stop printing on every poll for a harmless warning",
            sop_classes=("printer",), operations=("N-GET",), codes=(0x0107,)),

    # Failures the reference SCU names.
    _Choice(Action.FAIL,
            f"{_REF}, Table 4.2-76): association aborted, print-job marked failed; override "
            "with retry for a printer whose queue empties by itself",
            sop_classes=("film-box",), operations=("N-ACTION",), codes=(0xC602,)),
    _Choice(Action.FAIL,
            f"{_REF}, Table 4.2-76): association aborted, print-job marked failed; the same "
            "image would be refused again",
            sop_classes=("film-box",), operations=("N-ACTION",), codes=(0xC603, 0xC613)),
    _Choice(Action.FAIL,
            f"{_REF}, Table 4.2-78): association aborted, print-job marked failed",
            sop_classes=("grayscale-image-box",), operations=("N-SET",),
            codes=(0xC603, 0xC605, 0xC613)),
    _Choice(Action.FAIL,
            "as the reference SCU does for this code on the Grayscale Image Box (Table 4.2-78) "
            "and Film Box (Table 4.2-76): the same image would be refused again",
            codes=(0xC603, 0xC605, 0xC613)),

    # Our choices for failures the reference SCU covers only by "any other status code".
    _Choice(Action.RETRY,
            "the print queue is full: it empties as films are printed, so try again later",
            codes=(0xC601,)),
    _Choice(Action.RETRY,
            "an earlier film box was left unprinted in this film session; a new association "
            "starts a new film session",
            codes=(0xC616,)),
    _Choice(Action.RETRY,
            "plausibly transient (processing failure, resource limitation, or a message ID "
            "clash that a new association clears); the retry limit bounds it if it is not",
            codes=_TRANSIENT),
    _Choice(Action.RETRY,
            "the printer no longer knows the instance (e.g. it restarted); a new association "
            "creates the session again",
            operations=("N-SET", "N-ACTION"), codes=(0x0112,)),
    _Choice(Action.FAIL,
            "the film session we sent holds no film box; sending it again gives the same",
            codes=(0xC600,)),
    _Choice(Action.FAIL,
            "the printer refused the request as sent; sending it again would be refused again "
            "(the reference SCU aborts the association and fails the job on any such status)",
            codes="failure"),

    # Warnings.
    _Choice(Action.WARN,
            f"{_REF}, Table 4.2-72): \"considered successful\"; printing goes on and the "
            "warning is recorded",
            sop_classes=("film-session",), operations=("N-CREATE",), codes=(0x0107, 0x0116)),
    _Choice(Action.WARN,
            f"{_REF}, Table 4.2-75): \"considered successful\"; printing goes on and the "
            "warning is recorded",
            sop_classes=("film-box",), operations=("N-CREATE",), codes=(0x0107, 0x0116, 0xB605)),
    _Choice(Action.WARN,
            f"{_REF}, Table 4.2-76): \"considered successful\"; printing goes on and the "
            "warning is recorded",
            sop_classes=("film-box",), operations=("N-ACTION",), codes=(0xB604, 0xB609, 0xB60A)),
    _Choice(Action.WARN,
            f"{_REF}, Table 4.2-78): \"considered successful\"; printing goes on and the "
            "warning is recorded",
            sop_classes=("grayscale-image-box",), operations=("N-SET",),
            codes=(0xB604, 0xB605, 0xB609, 0xB60A)),
    _Choice(Action.WARN,
            "the request succeeded with a remark; printing goes on and the warning is recorded "
            "(as the reference SCU does for every warning it names)",
            codes="warning"),
)


@dataclass(frozen=True)
class StatusRule:
    """One row of the policy table."""

    sop_class: str
    operation: str
    code: int
    category: str            # "success" | "warning" | "failure"
    meaning: str
    action: Action
    why: str = ""

    @property
    def key(self) -> str:
        """The override key for this row, e.g. ``"N-ACTION 0xC602"``."""
        return policy_key(self.operation, self.code)


def _choice(sop_class: str, operation: str, code: int) -> _Choice:
    return next(c for c in _CHOICES if c.matches(sop_class, operation, code))


def _build() -> tuple[StatusRule, ...]:
    rules = []
    for table in ANNEX_N:
        for code in table.codes:
            choice = _choice(table.sop_class, table.operation, code)
            meaning = TABLE_MEANINGS.get((table.sop_class, table.operation, code), MEANINGS[code])
            rules.append(StatusRule(table.sop_class, table.operation, code, category_of(code),
                                    meaning, choice.action, choice.why))
    return tuple(rules)


TABLE: tuple[StatusRule, ...] = _build()

_INDEX: Mapping[tuple[str, str, int], StatusRule] = MappingProxyType(
    {(r.sop_class, r.operation, r.code): r for r in TABLE})


# ---------------------------------------------------------------------------
# Any other code.

OTHER_CODES: Mapping[str, tuple[Action, str]] = MappingProxyType({
    "success": (Action.OK, "Any other success status: go on."),
    "warning": (Action.WARN, "Any other warning status (0x0001, 0x0107, 0x0116, 0xBxxx): go on; "
                             "the code and its meaning are recorded on the job as a warning."),
    "failure": (Action.FAIL, "Any other failure status (0x01xx, 0x02xx, 0xAxxx, 0xCxxx or a "
                             "code the standard does not assign): the job fails with the code "
                             "and its meaning."),
    "pending": (Action.FAIL, "A pending status (0xFF00, 0xFF01) is not a valid answer to the "
                             "N-operations we use: the job fails with the code."),
    "cancel": (Action.FAIL, "A cancel status (0xFE00) is not a valid answer to the N-operations "
                            "we use: the job fails with the code."),
})


@dataclass(frozen=True)
class OtherRule:
    """What an unlisted code of one category gets for one SOP class and operation."""

    sop_class: str
    operation: str
    category: str
    action: Action
    why: str


def _category_choice(sop_class: str, operation: str, category: str) -> _Choice | None:
    """The first choice that decides a whole category (not named codes) for this operation."""
    return next((c for c in _CHOICES if c.codes in (category, None) and c.in_scope(sop_class, operation)),
                None)


def _build_other() -> Mapping[tuple[str, str, str], OtherRule]:
    rules = {}
    for table in ANNEX_N:
        for category in CATEGORIES:
            choice = _category_choice(table.sop_class, table.operation, category)
            action, why = (choice.action, choice.why) if choice else OTHER_CODES[category]
            rules[(table.sop_class, table.operation, category)] = OtherRule(
                table.sop_class, table.operation, category, action, why)
    return MappingProxyType(rules)


#: One row per Annex N table and category: the action of any code the table does not list.
OTHER_RULES: Mapping[tuple[str, str, str], OtherRule] = _build_other()


def other_rule(sop_class: str, operation: str, category: str) -> OtherRule:
    """What a code of ``category`` that ``sop_class``'s ``operation`` table does not list gets."""
    sop, op = _resolve(sop_class, operation)
    try:
        return OTHER_RULES[(sop, op, category)]
    except KeyError:
        raise ValueError(f"unknown status category {category!r}; "
                         f"expected one of: {', '.join(CATEGORIES)}") from None


def default_rule_text(category: str) -> str:
    """The "any other code" rule of a category, in words (for the conformance statement)."""
    try:
        return OTHER_CODES[category][1]
    except KeyError:
        raise ValueError(f"unknown status category {category!r}; "
                         f"expected one of: {', '.join(CATEGORIES)}") from None


# ---------------------------------------------------------------------------
# Look-ups.

@dataclass(frozen=True)
class Decision:
    """What to do with one status."""

    action: Action
    meaning: str
    category: str
    listed: bool             # False when the per-category rule decided
    overridden: bool = False


def policy_key(operation: str, code: int) -> str:
    """The normalised override key: ``"N-ACTION 0xC602"``."""
    return f"{_operation(operation)} 0x{code:04X}"


def _operation(operation: str) -> str:
    op = operation.strip().upper().replace("_", "-") if isinstance(operation, str) else operation
    if op not in OPERATIONS:
        raise ValueError(f"unknown DIMSE operation {operation!r}; expected one of: "
                         f"{', '.join(OPERATIONS)}")
    return op


def _sop_class(sop_class: str) -> str:
    if isinstance(sop_class, str):
        name = sop_class.strip()
        if name in _UID_TO_NAME:
            return _UID_TO_NAME[name]
        if name.lower() in SOP_CLASS_UIDS:
            return name.lower()
    raise ValueError(f"unknown Print Management SOP class {sop_class!r}; expected one of: "
                     f"{', '.join(SOP_CLASSES)} (or its UID)")


def _resolve(sop_class: str, operation: str) -> tuple[str, str]:
    sop, op = _sop_class(sop_class), _operation(operation)
    if (sop, op) not in ANNEX_N_TABLES:
        raise ValueError(f"the {SOP_CLASS_NAMES[sop]} has no {op} for an SCU; its operations: "
                         f"{', '.join(OPERATIONS_BY_SOP_CLASS[sop])}")
    return sop, op


def meaning_of(code: int, sop_class: str | None = None, operation: str | None = None) -> str:
    """The meaning of a status code (as the given table words it, if it lists the code)."""
    if sop_class is not None and operation is not None:
        rule = _INDEX.get((*_resolve(sop_class, operation), code))
        if rule is not None:
            return rule.meaning
    category = category_of(code)
    if code in MEANINGS:
        return MEANINGS[code]
    if code in OTHER_MEANINGS:
        return OTHER_MEANINGS[code]
    return f"Unknown {category} status 0x{code:04X}"


# A code Annex N lists for an operation on one film-building SOP class means the same on
# another (e.g. 0xC601 "print queue full" is listed for the film session's N-ACTION, but a
# printer may well answer it to the film box's N-ACTION): such a code takes that action
# before the per-category rule does.
_FILM_CLASSES = frozenset({"film-session", "film-box", "grayscale-image-box", "color-image-box",
                           "annotation-box", "presentation-lut"})
_SAME_OPERATION: dict[tuple[str, int], StatusRule] = {}
for _rule in TABLE:
    if _rule.sop_class in _FILM_CLASSES:
        _SAME_OPERATION.setdefault((_rule.operation, _rule.code), _rule)


def decide(sop_class: str, operation: str, code: int,
           overrides: Mapping[str, str] = MappingProxyType({})) -> Decision:
    """What to do when ``operation`` on ``sop_class`` answers ``code``.

    ``sop_class`` is a short name from :data:`SOP_CLASSES` or its UID;
    ``overrides`` is a printer's ``status_policy`` (``"N-ACTION 0xC602"`` →
    action), which wins over the table. Raises ValueError for an unknown SOP
    class or operation, an operation the SOP class does not have, or a bad
    override.
    """
    sop, op = _resolve(sop_class, operation)
    category = category_of(code)
    rule = _INDEX.get((sop, op, code))
    sibling = _SAME_OPERATION.get((op, code)) if sop in _FILM_CLASSES else None
    if rule is not None:
        decision = Decision(rule.action, rule.meaning, category, listed=True)
    elif sibling is not None:
        decision = Decision(sibling.action, sibling.meaning, category, listed=False)
    else:
        decision = Decision(OTHER_RULES[(sop, op, category)].action, meaning_of(code), category, listed=False)
    if overrides:
        override = parse_overrides(overrides).get(policy_key(op, code))
        if override is not None:
            decision = Decision(override, decision.meaning, category, decision.listed,
                                overridden=True)
    return decision


def rules_for(sop_class: str, operation: str) -> list[StatusRule]:
    """The table's rows for one SOP class and operation, in Annex N order."""
    sop, op = _resolve(sop_class, operation)
    return [r for r in TABLE if r.sop_class == sop and r.operation == op]


def printer_status_action(status: str) -> Action:
    """The action for a Printer Status (2110,0010) value.

    NORMAL → ok, WARNING → warn, FAILURE → stop-printer; anything else
    (including an empty value) → warn, so it is recorded but printing goes on.
    """
    value = (status or "").strip().upper()
    return {"NORMAL": Action.OK, "WARNING": Action.WARN,
            "FAILURE": Action.STOP_PRINTER}.get(value, Action.WARN)


#: A-ASSOCIATE-RJ Result (PS3.8 9.3.4): 1 rejected-permanent, 2 rejected-transient.
REJECTED_PERMANENT, REJECTED_TRANSIENT = 1, 2


def rejection_action(result: int) -> Action:
    """The action for an association the printer rejected with ``result`` (see the module
    docstring): rejected-permanent → stop-printer, rejected-transient (or anything else) → retry."""
    return Action.STOP_PRINTER if result == REJECTED_PERMANENT else Action.RETRY


# ---------------------------------------------------------------------------
# Per-printer overrides: the one grammar.

#: The operations an override may name: the requests we send. Not N-EVENT-REPORT, whose
#: codes are the answers we give to the printer's notifications.
OVERRIDE_OPERATIONS = ("N-GET", "N-CREATE", "N-SET", "N-ACTION", "N-DELETE")

#: The actions an override may choose, as the configuration spells them.
ACTIONS = tuple(a.value for a in Action)


def parse_override(key: str, action: str) -> tuple[str, Action]:
    """One ``status_policy`` entry, ``"N-ACTION 0xC602" = "retry"``: its normalised key and action.

    The operation may be written in any case and the code in any hexadecimal form
    ``int(x, 16)`` reads. Raises ValueError saying what is allowed; the caller names the entry.
    """
    parts = key.split() if isinstance(key, str) else []
    operation = parts[0].upper() if parts else ""
    if operation == "N-EVENT-REPORT":
        raise ValueError("N-EVENT-REPORT codes are the answers this server gives to the printer's "
                         f"notifications, not ones to act on; OPERATION is one of: {', '.join(OVERRIDE_OPERATIONS)}")
    if len(parts) != 2 or operation not in OVERRIDE_OPERATIONS:
        raise ValueError(f"expected \"OPERATION 0xCODE\" with OPERATION one of: {', '.join(OVERRIDE_OPERATIONS)}")
    try:
        code = int(parts[1], 16)
    except ValueError:
        raise ValueError(f"{parts[1]!r} is not a hexadecimal status code like 0xC602") from None
    if not 0 <= code <= 0xFFFF:
        raise ValueError("status codes are 0x0000 to 0xFFFF")
    try:
        return policy_key(operation, code), Action(action)
    except ValueError:
        raise ValueError(f"{action!r} is not one of: {', '.join(ACTIONS)}") from None


def parse_overrides(overrides: Mapping[str, str]) -> dict[str, Action]:
    """A printer's whole ``status_policy``, normalised; a bad entry raises ValueError naming it."""
    out: dict[str, Action] = {}
    for key, value in overrides.items():
        try:
            norm, action = parse_override(key, value)
        except ValueError as exc:
            raise ValueError(f"status policy override {key!r}: {exc}") from None
        out[norm] = action
    return out
