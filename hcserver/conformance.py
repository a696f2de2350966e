"""The DICOM Conformance Statement of this server, generated from the code and the configuration.

:func:`generate` returns the statement as Markdown, laid out as DICOM PS3.2
asks (overview, introduction, networking: implementation model, AE
specification, network interfaces, configuration), for the whole server or
for one configured printer. What it says is read from the code that does it:

* the status tables are the live status policy
  (:mod:`hcserver.drivers.dicom.status_policy`): every code its table lists for each
  operation we send, with its meaning and what :func:`~hcserver.drivers.dicom.status_policy.decide`
  does with it (including a printer's ``status_policy`` overrides), and the
  per-category rule for any other code;
* presentation contexts, transfer syntaxes, SOP class UIDs, event types and
  the implementation identity come from :mod:`hcserver.drivers.dicom.association`
  (and pynetdicom's defaults where the configuration sets none);
* parameters, defaults and per-printer values come from
  :mod:`hcserver.config`.

The attribute tables describe what :mod:`hcserver.drivers.dicom.scu` puts in each
request; ``tests/test_conformance.py`` runs the driver against a recording
association and checks that every attribute it sends is described here.

The output holds no dates, times or file paths, so that ``docs/CONFORMANCE.md``
(the statement for the embedded defaults) can be checked in and compared.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import hcserver
from hcserver.config import EMBEDDED_SOURCE, PrinterConfig, PrinterDefaults, ServerConfig
from hcserver.drivers.base import Action
from hcserver.drivers.dicom import association as assoc
from hcserver.drivers.dicom import status_policy as sp

__all__ = ["generate", "SENT_OPERATIONS"]

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

#: (SOP class, operation) pairs the Print SCU sends, in the order of a job, with the
#: printer setting that enables them (None: always).
SENT_OPERATIONS: tuple[tuple[str, str, str | None], ...] = (
    ("printer", "N-GET", None),
    ("presentation-lut", "N-CREATE", "presentation_lut"),
    ("film-session", "N-CREATE", None),
    ("film-box", "N-CREATE", None),
    ("grayscale-image-box", "N-SET", None),
    ("color-image-box", "N-SET", "color"),
    ("film-box", "N-ACTION", None),
    ("film-box", "N-DELETE", None),
    ("film-session", "N-DELETE", None),
    ("presentation-lut", "N-DELETE", "presentation_lut"),
)

_SERVICE_STATUS = {"success": "Success", "warning": "Warning", "failure": "Failure",
                   "pending": "Pending", "cancel": "Cancel"}
_OTHER_CODE_RANGES = {
    "warning": "any other 0x0001, 0x0107, 0x0116 or 0xBxxx",
    "failure": "any other 0x01xx, 0x02xx, 0xAxxx, 0xCxxx, or a code the standard does not assign",
    "pending": "0xFF00, 0xFF01",
    "cancel": "0xFE00",
}


# ---------------------------------------------------------------------------
# Markdown.

def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    """A value in a code span (backslashes and all shown as they are)."""
    text = str(value)
    return f"``{text}``" if "`" in text else f"`{text}`"


def _hex(code: int) -> str:
    return f"0x{code:04X}"


def _num(value: float) -> str:
    return f"{value:g}"


def _fmt(value: Any) -> str:
    """A configuration value as TOML would spell it."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return _code("true" if value else "false")
    if isinstance(value, float):
        return _code(_num(value))
    if isinstance(value, int):
        return _code(value)
    if isinstance(value, (tuple, list)):
        return ", ".join(_code(v) for v in value) if value else "(empty: any)"
    if isinstance(value, dict):
        return "; ".join(f"{_code(k)} = {_code(v)}" for k, v in value.items()) if value else "(none)"
    return _code(value)


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tables = 0

    def heading(self, number: str, title: str) -> None:
        level = min(6, number.count(".") + 2) if number else 1
        text = f"{number} {title}" if number else title
        self.lines += [f"{'#' * level} {text}", ""]

    def para(self, *texts: str) -> None:
        for text in texts:
            self.lines += [text, ""]

    def items(self, items: Iterable[str], numbered: bool = False) -> None:
        for i, item in enumerate(items, 1):
            self.lines.append(f"{i}. {item}" if numbered else f"- {item}")
        self.lines.append("")

    def table(self, caption: str, headers: list[str], rows: list[list[Any]]) -> None:
        self.tables += 1
        self.lines += [f"**Table {self.tables}. {caption}**", ""]
        self.lines.append("| " + " | ".join(_cell(h) for h in headers) + " |")
        self.lines.append("|" + "|".join("---" for _ in headers) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        self.lines.append("")

    def block(self, text: str) -> None:
        self.lines += ["```text", *text.rstrip("\n").split("\n"), "```", ""]

    def text(self) -> str:
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


# ---------------------------------------------------------------------------
# What the statement is about.

def _has_field(cls: type, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cls))


def _field_default(cls: type, name: str) -> Any:
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                return f.default_factory()  # type: ignore[misc]
    return None


@dataclass
class _Ctx:
    server: ServerConfig
    printer: PrinterConfig | None                # the printer the statement is for, or None
    dicom: list[PrinterConfig] = field(default_factory=list)   # every DICOM printer configured

    @property
    def printers(self) -> list[PrinterConfig]:
        """The printers the statement covers."""
        return [self.printer] if self.printer is not None else self.dicom

    def flag(self, name: str) -> bool | None:
        """A printer setting: its value for the printer, None for the general statement."""
        return None if self.printer is None else bool(getattr(self.printer, name, False))

    def used(self, setting: str | None) -> bool:
        """Whether a feature enabled by ``setting`` is described (always, in the general statement)."""
        return setting is None or self.printer is None or bool(getattr(self.printer, setting, False))

    # retry and polling figures, with the key that sets them
    def retry_interval(self) -> str:
        p = self.printer
        if p is not None and getattr(p, "retry_interval_s", None):
            return f"retry_interval_s = {_num(p.retry_interval_s)} s (this printer's)"
        return f"retry_interval_s = {_num(self.server.retry_interval_s)} s"

    def retry_limit(self) -> str:
        p = self.printer
        if p is not None and getattr(p, "retry_limit", None) is not None:
            return f"retry_limit = {p.retry_limit} (this printer's)"
        return f"retry_limit = {self.server.retry_limit}"

    def poll(self) -> str:
        if self.printer is not None:
            return f"status_poll_s = {_num(self.printer.status_poll_s)} s"
        return f"status_poll_s (default {_num(_field_default(PrinterConfig, 'status_poll_s'))} s)"


def _context(config: ServerConfig, printer: str | None) -> _Ctx:
    dicom = [p for p in config.printers.values() if p.driver == "dicom"]
    if printer is None:
        return _Ctx(config, None, dicom)
    if printer not in config.printers:
        raise ValueError(f"unknown printer {printer!r}; configured printers: "
                         f"{', '.join(config.printers) or '(none)'}")
    chosen = config.printers[printer]
    if chosen.driver != "dicom":
        raise ValueError(f"printer {printer!r} uses the {chosen.driver!r} driver, not DICOM; "
                         f"DICOM printers: {', '.join(p.name for p in dicom) or '(none)'}")
    return _Ctx(config, chosen, dicom)


def _uid_name(uid: str) -> str:
    """The standard name of a UID (pydicom's dictionary), e.g. 'Printer SOP Class'."""
    from pydicom.uid import UID
    name = UID(uid).name
    return name if name and name != uid else assoc.UID_TITLES.get(uid, uid)


def _implementation(ctx: _Ctx) -> tuple[str, str, bool, bool]:
    """(class UID, version name, class UID configured?, version name configured?)."""
    make_ae = getattr(assoc, "_make_ae", None)
    printer = ctx.printer or (ctx.dicom[0] if ctx.dicom else PrinterConfig(name="-", driver="dicom"))
    if make_ae is not None:
        ae = make_ae(printer, ctx.server, [])
    else:  # pragma: no cover - the same, by hand
        from pynetdicom import AE
        ae = AE()
        if ctx.server.implementation_class_uid:
            ae.implementation_class_uid = ctx.server.implementation_class_uid
        if ctx.server.implementation_version_name:
            ae.implementation_version_name = ctx.server.implementation_version_name
    return (str(ae.implementation_class_uid), str(ae.implementation_version_name or ""),
            bool(ctx.server.implementation_class_uid), bool(ctx.server.implementation_version_name))


_CONTEXT_FLAGS = ("color", "meta_sop_only", "presentation_lut", "annotation_box", "print_job")


def _context_conditions() -> list[tuple[str, str]]:
    """Every abstract syntax a print association may propose, with when it is proposed."""
    base = PrinterConfig(name="-", driver="dicom")
    flags = [f for f in _CONTEXT_FLAGS if _has_field(PrinterConfig, f)]
    seen: dict[str, list[dict[str, bool]]] = {}
    for values in itertools.product((False, True), repeat=len(flags)):
        setting = dict(zip(flags, values))
        for uid in assoc.requested_contexts(dataclasses.replace(base, **setting)):
            seen.setdefault(uid, []).append(setting)
    widest = dataclasses.replace(base, **{f: f != "meta_sop_only" for f in flags})
    order = {uid: i for i, uid in enumerate(assoc.requested_contexts(widest))}
    out = []
    for uid, settings in sorted(seen.items(), key=lambda item: order.get(item[0], len(order))):
        # the settings that matter: those every proposing combination agrees on
        fixed = {k: v for k, v in settings[0].items() if all(s[k] == v for s in settings)}
        if len(settings) == 2 ** len(flags) or not fixed:
            when = "always"
        else:
            when = " and ".join(f"{k} = {'true' if v else 'false'}" for k, v in fixed.items())
        out.append((uid, when))
    return out


def _proposed(ctx: _Ctx) -> list[tuple[str, str]]:
    if ctx.printer is not None:
        return [(uid, "yes") for uid in assoc.requested_contexts(ctx.printer)]
    return _context_conditions()


# ---------------------------------------------------------------------------
# Behaviour in words.

_OK_TEXT = {
    ("printer", "N-GET"): "The Printer Status in the response is evaluated (see the Printer Status table).",
    ("film-session", "N-CREATE"): "The Film Session is created; printing goes on.",
    ("film-box", "N-CREATE"): ("The Film Box is created; the image boxes named in the response's Referenced "
                               "Image Box Sequence are filled. A response without that sequence (or an "
                               "empty one) fails the job."),
    ("film-box", "N-ACTION"): ("The film is accepted for printing: it is recorded as printed at once and is "
                               "never sent again, even if the job is retried or the server restarts."),
    ("presentation-lut", "N-CREATE"): "The Presentation LUT is created and referenced; printing goes on.",
}


def _behaviour(ctx: _Ctx, action: Action, sop: str = "", op: str = "", *, code: int | None = None,
               ending: str | None = "aborted", long: bool = False) -> str:
    """What an action does to the job, in words (``long``: with every detail, once per document).

    ``ending`` is what happens to the association (None: there is none)."""
    action = Action(action)
    if ending is None:
        text = _behaviour(ctx, action, sop, op, code=code, ending="-", long=long)
        prefix = "The association is -; "
        return text[len(prefix)].upper() + text[len(prefix) + 1:] if text.startswith(prefix) else text
    cap = f"retry_max_interval_s = {_num(ctx.server.retry_max_interval_s)} s"
    backoff = f"the back-off (exponential from {ctx.retry_interval()}, capped at {cap})"
    if action is Action.OK:
        if code == 0x0000:
            return _OK_TEXT.get((sop, op), "Printing goes on.")
        return "Treated as success: printing goes on."
    if action is Action.WARN:
        if long:
            return ("Printing goes on; the code, its meaning and the printer's Error Comment (if any) are "
                    "recorded on the job as a warning, shown by `hcq show`.")
        return "Printing goes on; the warning is recorded on the job and shown by `hcq show`."
    if action is Action.RETRY:
        if long:
            return (f"The association is {ending}; the job returns to pending and is tried again after "
                    f"the back-off (starting at {ctx.retry_interval()}, doubling with each failed attempt, "
                    f"capped at {cap}), "
                    f"resuming at the first film not yet printed; after {ctx.retry_limit()} failed attempts it "
                    f"fails with the code and its meaning.")
        return (f"The association is {ending}; the job returns to pending and is retried after {backoff}; "
                f"after {ctx.retry_limit()} failed attempts it fails.")
    if action is Action.FAIL:
        if long:
            return (f"The association is {ending}; the job fails with the code and its meaning (shown by "
                    f"`hcq show`) and is not retried.")
        return f"The association is {ending}; the job fails with the code and its meaning."
    if action is Action.STOP_PRINTER:
        if long:
            return (f"The association is {ending}; the job returns to pending (not counted as a failed "
                    f"attempt); the printer is marked stopped (`hcq printers`) and polled every "
                    f"{ctx.poll()} with N-GET Printer; jobs stay queued until it reports a Printer Status "
                    f"other than FAILURE (or `hcq enable` restarts it).")
        return (f"The association is {ending}; the job returns to pending; the printer is marked stopped "
                f"and polled every {ctx.poll()} with N-GET Printer; jobs stay queued.")
    raise ValueError(f"unknown action {action!r}")  # pragma: no cover


_SHORT = {
    Action.OK: "treated as success",
    Action.WARN: "recorded as a warning, printing goes on",
    Action.RETRY: "the association is aborted and the job retried after the back-off",
    Action.FAIL: "the association is aborted and the job fails",
    Action.STOP_PRINTER: "the association is aborted, the job stays queued and the printer is stopped and polled",
}


def _setting(key: str, action: Action) -> str:
    """A status_policy entry as written in the configuration: ``"N-ACTION 0xC602" = "retry"``."""
    return _code(f'"{key}" = "{Action(action).value}"')


def _configured_mark(key: str, action: Action, default: Action) -> str:
    return (f"*(set by this site's configuration: `status_policy` {_setting(key, action)}; "
            f"the default is {Action(default).value})*")


# ---------------------------------------------------------------------------
# Status tables (PS3.2 Annex N form).

def _status_row(ctx: _Ctx, sop: str, op: str, code: int, meaning: str, note: str = "") -> list[str]:
    category = sp.category_of(code)
    default = sp.decide(sop, op, code)
    key = sp.policy_key(op, code)
    if ctx.printer is not None:
        decision = sp.decide(sop, op, code, ctx.printer.status_policy)
        text = _behaviour(ctx, Action(decision.action), sop, op, code=code)
        if decision.overridden:
            text += " " + _configured_mark(key, Action(decision.action), Action(default.action))
    else:
        text = _behaviour(ctx, Action(default.action), sop, op, code=code)
        for p in ctx.dicom:
            d = sp.decide(sop, op, code, p.status_policy)
            if d.overridden:
                text += (f" For printer {_code(p.name)}: {_SHORT[Action(d.action)]} "
                         f"*(set by this site's configuration: `status_policy` {_setting(key, d.action)})*.")
    if note:
        text += f" {note}"
    return [_SERVICE_STATUS[category], meaning, _hex(code), text]


def _override_codes(ctx: _Ctx, op: str) -> set[int]:
    codes: set[int] = set()
    for p in ctx.printers:
        for key in p.status_policy:
            operation, _, code = key.partition(" ")
            if operation == op:
                codes.add(int(code, 16))
    return codes


def status_table_rows(ctx: _Ctx, sop: str, op: str) -> list[list[str]]:
    """The rows of one Annex N table: listed codes, codes handled specially, other codes."""
    order = list(_SERVICE_STATUS)
    rows: list[tuple[int, int, int, list[str]]] = []
    listed = set()
    for seq, rule in enumerate(sp.rules_for(sop, op)):
        listed.add(rule.code)
        rows.append((order.index(rule.category), 0, seq, _status_row(ctx, sop, op, rule.code, rule.meaning)))
    # Codes PS3.2 Annex N lists for this operation on another print SOP class that decide()
    # handles otherwise than the per-category rule (e.g. 0xC601 on the film box's N-ACTION).
    elsewhere: dict[int, list[str]] = {}
    for rule in sp.TABLE:
        if rule.operation == op and rule.sop_class != sop and rule.code not in listed:
            names = elsewhere.setdefault(rule.code, [])
            if sp.SOP_CLASS_NAMES[rule.sop_class] not in names:
                names.append(sp.SOP_CLASS_NAMES[rule.sop_class])
    for code in sorted(elsewhere):
        decision = sp.decide(sop, op, code)
        if Action(decision.action) is sp.OTHER_CODES[decision.category][0]:
            continue
        note = (f"(PS3.2 Annex N lists this code for {op} of the {' and '.join(elsewhere[code])}, not of "
                f"this SOP class; it is handled the same way here.)")
        rows.append((order.index(decision.category), 1, code,
                     _status_row(ctx, sop, op, code, decision.meaning, note)))
        listed.add(code)
    for code in sorted(_override_codes(ctx, op) - listed):
        rows.append((order.index(sp.category_of(code)), 2, code,
                     _status_row(ctx, sop, op, code, sp.meaning_of(code, sop, op))))
    rows.sort(key=lambda r: r[:3])
    out = [r[3] for r in rows]
    for category in ("warning", "failure", "pending", "cancel"):
        action = sp.OTHER_CODES[category][0]
        out.append([_SERVICE_STATUS[category], "Other Status Codes", _OTHER_CODE_RANGES[category],
                    _behaviour(ctx, action, sop, op)])
    return out


def _status_table(doc: _Doc, ctx: _Ctx, sop: str, op: str) -> None:
    annex = sp.ANNEX_N_TABLES.get((sop, op), "")
    doc.table(f"Status codes for {op} of the {sp.SOP_CLASS_NAMES[sop]}"
              + (f" (PS3.2 {annex})" if annex else ""),
              ["Service Status", "Further Meaning", "Status Code", "Behavior"],
              status_table_rows(ctx, sop, op))


# ---------------------------------------------------------------------------
# Attributes sent.

@dataclass(frozen=True)
class _Attr:
    keyword: str
    value: str
    presence: str            # ALWAYS or ANAP
    source: str              # USER, CONFIG, AUTO
    depth: int = 0
    vr: str | None = None


def _attr_row(a: _Attr) -> list[str]:
    from pydicom.datadict import dictionary_description, dictionary_VR, tag_for_keyword
    tag = tag_for_keyword(a.keyword)
    if tag is None:  # pragma: no cover - a typo in this module
        raise ValueError(f"unknown DICOM keyword {a.keyword!r}")
    name = ">" * a.depth + dictionary_description(tag)
    return [name, f"({tag >> 16:04X},{tag & 0xFFFF:04X})", a.vr or dictionary_VR(tag), a.value,
            a.presence, a.source]


def _attr_table(doc: _Doc, caption: str, attrs: list[_Attr]) -> None:
    doc.table(caption, ["Attribute Name", "Tag", "VR", "Value", "Presence of Value", "Source"],
              [_attr_row(a) for a in attrs])


def _max_copies() -> int:
    try:
        from hcserver.jobspec import MAX_COPIES
        return int(MAX_COPIES)
    except Exception:  # pragma: no cover - jobspec pulls in the formatter
        return 99


def _layout_kinds() -> str:
    try:
        from hcserver.formatter.geometry import KINDS
        kinds = [k for k in KINDS]
    except Exception:  # pragma: no cover
        kinds = ["STANDARD"]
    shown = {"STANDARD": "STANDARD\\C,R", "ROW": "ROW\\n1,n2,…", "COL": "COL\\n1,n2,…"}
    return ", ".join(_code(shown.get(k, k)) for k in kinds)


def _choices(values: tuple[str, ...], default_all: str) -> str:
    return ", ".join(_code(v) for v in values) if values else default_all


def _film_session_attrs(ctx: _Ctx) -> list[_Attr]:
    p = ctx.printer
    d = p.defaults if p else PrinterDefaults()
    def from_job(field_name: str, accepted: str) -> str:
        default = getattr(d, field_name)
        allowed = getattr(p, accepted) if p is not None else None
        return (f"The job's {field_name}, else the printer's defaults.{field_name}"
                + (f" ({_code(default)})" if default else " (not set)")
                + ("; restricted to the printer's " + accepted if p is None else
                   f"; one of {_choices(allowed, 'any value')}")
                + ". Sent only when one of them is set.")

    medium = from_job("medium_type", "medium_types")
    destination = from_job("film_destination", "film_destinations")
    if p is None:
        memory = ("The printer's memory_allocation (kilobytes). Sent only when it is configured.")
    elif p.memory_allocation:
        memory = f"{p.memory_allocation} (this printer's memory_allocation, kilobytes)."
    else:
        memory = "Not sent: this printer has no memory_allocation."
    attrs = [
        _Attr("NumberOfCopies", f"The job's copies, 1 to {_max_copies()} (default: the printer's "
                                f"defaults.copies, {d.copies}).", "ALWAYS", "USER"),
        _Attr("PrintPriority", f"`HIGH`, `MED` or `LOW`: the job's priority (default: the printer's "
                               f"defaults.priority, {d.priority}).", "ALWAYS", "USER"),
        _Attr("MediumType", medium, "ANAP", "USER"),
        _Attr("FilmDestination", destination, "ANAP", "USER"),
        _Attr("FilmSessionLabel", "The job's label, its first 64 characters. Sent only when the job has one.",
              "ANAP", "USER"),
        _Attr("MemoryAllocation", memory, "ANAP", "CONFIG"),
    ]
    if ctx.used("presentation_lut"):
        if p is None:
            when = ("Only with presentation_lut = true and plut_in_film_session = true, when the printer "
                    "accepted the Presentation LUT SOP class.")
        elif p.plut_in_film_session:
            when = "Only when the printer accepted the Presentation LUT SOP class (plut_in_film_session = true)."
        else:
            when = None
        if when:
            attrs += [
                _Attr("ReferencedPresentationLUTSequence", when, "ANAP", "AUTO"),
                _Attr("ReferencedSOPClassUID", _code(assoc.SOP_CLASSES["presentation-lut"]), "ALWAYS", "AUTO", 1),
                _Attr("ReferencedSOPInstanceUID", "The Presentation LUT created for the job.", "ALWAYS", "AUTO", 1),
            ]
    return attrs


def _film_box_attrs(ctx: _Ctx) -> list[_Attr]:
    p = ctx.printer
    d = p.defaults if p else PrinterDefaults()
    formats = (f"; this printer accepts {_choices(p.display_formats, 'any of them')}" if p else "")
    sizes = _choices(p.film_sizes, "any") if p else "the printer's film_sizes"
    mags = _choices(p.magnification_types, "any") if p else "the printer's magnification_types"
    if p is None:
        config_info = ("The film's configuration_information, else the printer's configuration_information. "
                       "Sent only when one of them is set.")
    else:
        config_info = (f"The film's configuration_information, else this printer's "
                       f"({_fmt(p.configuration_information)}). Sent only when one of them is set.")
    attrs = [
        _Attr("ImageDisplayFormat", f"The film's layout: {_layout_kinds()} (default: defaults.layout, "
                                    f"{_code(d.layout)}){formats}. A `CUSTOM` layout is composed by this server "
                                    f"into one image and sent as `STANDARD\\1,1`.", "ALWAYS", "USER"),
        _Attr("FilmOrientation", f"`PORTRAIT` or `LANDSCAPE`: the film's orientation (default: "
                                 f"defaults.orientation, {_code(d.orientation)}).", "ALWAYS", "USER"),
        _Attr("FilmSizeID", f"The film's film_size, one of {sizes} (default: defaults.film_size, "
                            f"{_code(d.film_size)}).", "ALWAYS", "USER"),
        _Attr("MagnificationType", f"The film's magnification, one of {mags} (default: "
                                   f"defaults.magnification, {_code(d.magnification)}).", "ALWAYS", "USER"),
        _Attr("SmoothingType", "The film's smoothing. Sent only when the job gives it.", "ANAP", "USER"),
        _Attr("BorderDensity", "The film's border_density. Sent only when the job gives it.", "ANAP", "USER"),
        _Attr("EmptyImageDensity", "The film's empty_image_density. Sent only when the job gives it.",
              "ANAP", "USER"),
        _Attr("MinDensity", "The film's min_density (0-65535). Sent only when the job gives it.", "ANAP", "USER"),
        _Attr("MaxDensity", "The film's max_density (0-65535). Sent only when the job gives it.", "ANAP", "USER"),
        _Attr("Trim", "The film's trim (`YES` or `NO` in DICOM). Sent only when the job gives it.", "ANAP", "USER"),
        _Attr("ConfigurationInformation", config_info, "ANAP", "CONFIG"),
        _Attr("ReferencedFilmSessionSequence", "One item.", "ALWAYS", "AUTO"),
        _Attr("ReferencedSOPClassUID", _code(assoc.SOP_CLASSES["film-session"]), "ALWAYS", "AUTO", 1),
        _Attr("ReferencedSOPInstanceUID", "The Film Session's: the Affected SOP Instance UID of its N-CREATE "
                                          "response, else the one this server proposed.", "ALWAYS", "AUTO", 1),
    ]
    if ctx.used("presentation_lut") and not (ctx.printer is not None and ctx.printer.plut_in_film_session):
        when = ("Only with presentation_lut = true and plut_in_film_session = false, when the printer "
                "accepted the Presentation LUT SOP class." if p is None else
                "Only when the printer accepted the Presentation LUT SOP class.")
        attrs += [
            _Attr("ReferencedPresentationLUTSequence", when, "ANAP", "AUTO"),
            _Attr("ReferencedSOPClassUID", _code(assoc.SOP_CLASSES["presentation-lut"]), "ALWAYS", "AUTO", 1),
            _Attr("ReferencedSOPInstanceUID", "The Presentation LUT created for the job.", "ALWAYS", "AUTO", 1),
        ]
    return attrs


def _image_box_attrs(ctx: _Ctx, color: bool) -> list[_Attr]:
    p = ctx.printer
    seq = "BasicColorImageSequence" if color else "BasicGrayscaleImageSequence"
    attrs = [
        _Attr("ImageBoxPosition", "The image box's position (1 to the number of boxes of the display format); "
                                  "boxes without an image are not sent.", "ALWAYS", "AUTO"),
        _Attr("Polarity", "`NORMAL` or `REVERSE`: the frame's polarity (default `NORMAL`). For a `CUSTOM` "
                          "layout this server inverts the pixels itself and sends `NORMAL`.", "ALWAYS", "USER"),
        _Attr("MagnificationType", "The image box's own magnification type, when it has one (the Film Box's "
                                   "applies otherwise).", "ANAP", "USER"),
        _Attr("SmoothingType", "The image box's own smoothing type, when it has one.", "ANAP", "USER"),
        _Attr("RequestedImageSize", "Width in mm of the image, for a frame printed at true size (from its "
                                    "Pixel Spacing); not sent otherwise.", "ANAP", "USER"),
        _Attr(seq, "One item: the image, formatted by this server to the box's size in printer pixels "
                   f"(the printer's dpi{f', {p.dpi}' if p else ''}).", "ALWAYS", "AUTO"),
    ]
    if color:
        attrs += [
            _Attr("SamplesPerPixel", "`3`", "ALWAYS", "AUTO", 1),
            _Attr("PhotometricInterpretation", "`RGB`", "ALWAYS", "AUTO", 1),
            _Attr("PlanarConfiguration", "`0` (colour-by-pixel)", "ALWAYS", "AUTO", 1),
        ]
        bits = [("BitsAllocated", "`8`"), ("BitsStored", "`8`"), ("HighBit", "`7`")]
        pixel_vr, pixel_value = "OB", "8-bit RGB pixels. A grayscale film on a colour image box is sent with R = G = B."
    else:
        twelve = p is None or p.bit_depth == 12
        eight = p is None or p.bit_depth == 8
        attrs += [
            _Attr("SamplesPerPixel", "`1`", "ALWAYS", "AUTO", 1),
            _Attr("PhotometricInterpretation", "`MONOCHROME2`", "ALWAYS", "AUTO", 1),
        ]
        if twelve and eight:
            bits = [("BitsAllocated", "`8`, or `16` with bit_depth = 12"),
                    ("BitsStored", "`8`, or `12` with bit_depth = 12"),
                    ("HighBit", "`7`, or `11` with bit_depth = 12")]
            pixel_vr, pixel_value = "OB or OW", "The pixels: OB with 8 bits, OW with 12 bits (bit_depth = 12)."
        elif twelve:
            bits = [("BitsAllocated", "`16`"), ("BitsStored", "`12`"), ("HighBit", "`11`")]
            pixel_vr, pixel_value = "OW", "12-bit pixels (bit_depth = 12)."
        else:
            bits = [("BitsAllocated", "`8`"), ("BitsStored", "`8`"), ("HighBit", "`7`")]
            pixel_vr, pixel_value = "OB", "8-bit pixels (bit_depth = 8)."
    attrs += [
        _Attr("Rows", "The image's rows in printer pixels.", "ALWAYS", "AUTO", 1),
        _Attr("Columns", "The image's columns in printer pixels.", "ALWAYS", "AUTO", 1),
        _Attr("PixelAspectRatio", "`1\\1`", "ALWAYS", "AUTO", 1),
        *(_Attr(k, v, "ALWAYS", "AUTO", 1) for k, v in bits),
        _Attr("PixelRepresentation", "`0` (unsigned)", "ALWAYS", "AUTO", 1),
        _Attr("PixelData", pixel_value, "ALWAYS", "AUTO", 1, pixel_vr),
    ]
    return attrs


# ---------------------------------------------------------------------------
# The sections.

def _title(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("", "hcserver DICOM Conformance Statement")
    p = ctx.printer
    if p is not None:
        doc.para(f"Print Management SCU of hcserver {hcserver.__version__}, as configured for printer "
                 f"{_code(p.name)} (called AE title {_code(p.ae_title)} at {_code(f'{p.host}:{p.port}')}).")
    else:
        doc.para(f"Print Management SCU of hcserver {hcserver.__version__}.")
    doc.para("This statement is generated by `hcserver conformance` from the code and the configuration "
             "in effect: the status tables are the server's status policy table itself. Generate it again "
             "after changing either.")


def _overview(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("1", "Overview")
    doc.para("hcserver is a DICOM hardcopy (film print) server. Applications hand it print jobs; it queues "
             "them, formats the images onto films and prints them on DICOM printers as a Print Management "
             "Service Class User (SCU). It is the SCP of no SOP class and exchanges no media.")
    rows: list[list[str]] = []
    proposed = dict(_proposed(ctx))

    def scu(uid: str) -> str:
        when = proposed.get(uid)
        if when is None:
            return "No"
        return "Yes" if when in ("always", "yes") else f"Yes (with {when})"

    rows.append(["Basic Grayscale Print Management Meta SOP Class", scu(assoc.GRAYSCALE_META), "No"])
    rows.append(["Basic Color Print Management Meta SOP Class", scu(assoc.COLOR_META), "No"])
    for name in ("presentation-lut", "annotation-box", "print-job"):
        uid = assoc.SOP_CLASSES[name]
        rows.append([sp.SOP_CLASS_NAMES[name], scu(uid), "No"])
    rows.append(["Verification SOP Class", "Yes", "No"])
    doc.table("Network services", ["SOP Classes", "User of Service (SCU)", "Provider of Service (SCP)"], rows)
    doc.para("Media services: none.")


def _introduction(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("2", "Introduction")
    doc.heading("2.1", "Revision History")
    source = ("the embedded default configuration" if ctx.server.source == EMBEDDED_SOURCE
              else "this site's configuration file")
    scope = f"printer {_code(ctx.printer.name)}" if ctx.printer else "all printers"
    doc.table("Revision history", ["Document Version", "Description"],
              [[f"hcserver {hcserver.__version__}",
                f"Generated by `hcserver conformance` from the code of this version and {source} ({scope})."]])
    doc.heading("2.2", "Audience")
    doc.para("Those who connect hcserver to a DICOM printer or integrate it into a department: integrators, "
             "service engineers and the printer's vendor. Familiarity with the DICOM standard (PS3.2, PS3.4 "
             "Annex H Print Management, PS3.7 DIMSE, PS3.8 network communication) is assumed.")
    doc.heading("2.3", "Remarks")
    doc.para("This statement, together with the printer's own conformance statement, is a first step to "
             "judging whether the two will work together; it does not replace testing with the printer. "
             "Where the standard leaves the SCU a choice (what to do with each status code), the behaviour "
             "described here is what the code does, and a site may change it per printer "
             "(`status_policy`, section 3.4.2).")
    doc.heading("2.4", "Definitions, Terms and Abbreviations")
    doc.table("Definitions", ["Term", "Meaning"], [
        ["AE", "Application Entity: an end point of DICOM communication, named by an AE title."],
        ["Association", "A DICOM connection between two AEs (PS3.8)."],
        ["DIMSE", "DICOM Message Service Element: the N-GET, N-CREATE, N-SET, N-ACTION, N-DELETE and "
                  "N-EVENT-REPORT services used here, and C-ECHO (PS3.7)."],
        ["SCU / SCP", "Service Class User / Provider: the side that requests a service and the side that "
                      "performs it. hcserver is always the SCU; the printer is the SCP."],
        ["Meta SOP Class", "A group of SOP classes negotiated as one presentation context (e.g. Basic "
                           "Grayscale Print Management Meta: Film Session, Film Box, Grayscale Image Box, "
                           "Printer)."],
        ["PDU", "Protocol Data Unit (PS3.8)."],
        ["Job", "What an application submits: one or more films for one printer, with copies, priority, "
                "medium and destination."],
        ["Film", "One sheet: a Film Box with its Image Boxes."],
        ["hcq", "The command line client: submits jobs and shows the queue, jobs (`hcq show`) and printers "
                "(`hcq printers`)."],
        ["Back-off", "The wait before a job is tried again after a failed attempt."],
        ["ALWAYS / ANAP", "Presence of value: always present / attribute not always present (PS3.2)."],
        ["USER / CONFIG / AUTO", "Source of a value: the job (from the user or application) / the server's "
                                 "configuration / this server, automatically."],
    ])
    doc.heading("2.5", "References")
    doc.items([
        "DICOM PS3.2 Conformance (Annex N: status codes per operation, SCU tables N.7-52 to N.7-69).",
        "DICOM PS3.4 Service Class Specifications, Annex H Print Management Service Class.",
        "DICOM PS3.7 Message Exchange; PS3.8 Network Communication Support; PS3.15 Security Profiles.",
    ])


def _implementation_model(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("3", "Networking")
    doc.heading("3.1", "Implementation Model")
    doc.heading("3.1.1", "Application Data Flow")
    calling = ctx.printer.calling_ae_title if ctx.printer and ctx.printer.calling_ae_title else ctx.server.ae_title
    title = calling[:16]
    doc.block("\n".join([
        "  Local real-world activities      Local AE               DICOM           Remote AE",
        "                                                         interface",
        "  +------------------------+                                 :",
        "  | Print a job            |--+                              :",
        "  | (hcq submit, queue)    |  |   +--------------------+     :     +--------------------+",
        "  +------------------------+  +-->|                    |     :     |                    |",
        "  +------------------------+      |    Print SCU AE    |<====:====>|  Printer           |",
        "  | Poll a stopped printer |----->|                    |     :     |  (Print SCP AE)    |",
        "  +------------------------+      |  AE title          |     :     |                    |",
        "  +------------------------+  +-->|  " + title.ljust(16) + "  |     :     |  prints the films  |",
        "  | Verify a printer       |  |   +--------------------+     :     +--------------------+",
        "  | (hcq echo)             |--+                              :",
        "  +------------------------+                                 :",
    ]))
    doc.para("Between the Print SCU AE and the printer: Print Management (N-GET, N-CREATE, N-SET, N-ACTION, "
             "N-DELETE sent; N-EVENT-REPORT received) and Verification (C-ECHO).")
    doc.para("An application submits a print job (`hcq submit` or the client library) over the server's local "
             "socket (or its optional TLS listener). The job is queued (priority, then first come first "
             "served); when it reaches the front of its printer's queue the server formats each film "
             "(windowing, magnification to the printer's resolution, annotations and overlays burned into "
             "the pixels) and the Print SCU AE prints it on the DICOM printer. The printer's answers (status "
             "codes, Printer Status, N-EVENT-REPORTs) decide what happens to the job; they are recorded on the "
             "job and shown by `hcq show` and `hcq printers`.")
    doc.heading("3.1.2", "Functional Definition of AEs")
    doc.para(f"**Print SCU AE.** The server is one Application Entity, calling AE title {_code(ctx.server.ae_title)} "
             "(`[server] ae_title`; a printer may use another with `calling_ae_title`). Every DICOM printer "
             "has its own worker, which prints that printer's jobs one at a time and holds at most one "
             "print association with it; the workers of different printers run in parallel. The association "
             "is opened when a job arrives, reused for the next jobs, and released after `idle_release_s` "
             f"({_num(ctx.server.idle_release_s)} s) without work. The same AE sends C-ECHO for `hcq echo`.")
    doc.heading("3.1.3", "Sequencing of Real-World Activities")
    doc.items([
        "A job is printed only when it is at the front of its printer's queue and the printer is enabled "
        "and not stopped. Jobs of one printer are printed one after the other.",
        "Films are printed in order; each is recorded as printed as soon as the printer accepts its "
        "N-ACTION. A job that is retried, pre-empted or interrupted by a restart resumes at the first film "
        "not recorded as printed, in a new Film Session.",
        "Pre-emption: when a job of strictly higher priority waits, the worker finishes the current film, "
        "ends the Film Session (N-DELETE), puts the running job back to pending, prints the higher one and "
        "then resumes the first (printer setting `preempt`, on by default).",
        "Cancelling a printing job, disabling its printer or stopping the server ends the Film Session after "
        "the film being printed.",
        f"A job printing longer than `max_job_time_s` ({_num(ctx.server.max_job_time_s)} s) has its "
        "association aborted and is retried.",
        "A printer marked stopped (Printer Status FAILURE, or a status code whose action is stop-printer) is "
        "polled with N-GET Printer until it recovers; its jobs wait.",
    ], numbered=True)


def _sop_classes(doc: _Doc, ctx: _Ctx, n: str) -> None:
    doc.heading(n, "SOP Classes")
    doc.para("The Print SCU AE provides Standard Conformance to the following SOP Classes as an SCU:")
    proposed = dict(_proposed(ctx))
    rows = []
    for uid in (assoc.GRAYSCALE_META, assoc.COLOR_META):
        if uid in proposed:
            rows.append([_uid_name(uid), uid, "Yes", "No", _when(proposed[uid])])
    doc.table("Meta SOP Classes of the Print SCU AE", ["SOP Class Name", "SOP Class UID", "SCU", "SCP", "Proposed"],
              rows)
    rows = []
    for name in ("film-session", "film-box", "grayscale-image-box", "color-image-box", "printer",
                 "presentation-lut", "annotation-box", "print-job"):
        uid = assoc.SOP_CLASSES[name]
        if ctx.printer is not None and name == "color-image-box" and not ctx.printer.color:
            continue
        if name in ("presentation-lut", "annotation-box", "print-job") and uid not in proposed:
            continue
        use = _USE.get(name, "")
        rows.append([sp.SOP_CLASS_NAMES[name], uid, "Yes", "No", use])
    rows.append(["Verification SOP Class", assoc.VERIFICATION, "Yes", "No", "C-ECHO, on its own association "
                 "(`hcq echo`)."])
    doc.table("SOP Classes of the Print SCU AE", ["SOP Class Name", "SOP Class UID", "SCU", "SCP", "Use"], rows)
    doc.para("Film Session, Film Box, Image Box and Printer travel under the Meta SOP Class context when the "
             "printer accepts it; with `meta_sop_only = false` they are also proposed on their own, and a "
             "printer that accepts only those is used through them. The Printer SOP Instance is the "
             f"well-known {_code(assoc.PRINTER_INSTANCE)}.")


_USE = {
    "film-session": "N-CREATE, N-DELETE.",
    "film-box": "N-CREATE, N-ACTION (print), N-DELETE.",
    "grayscale-image-box": "N-SET.",
    "color-image-box": "N-SET (colour films; `color = true`).",
    "printer": "N-GET; N-EVENT-REPORT received and answered.",
    "presentation-lut": "N-CREATE (`IDENTITY`), N-DELETE (`presentation_lut = true`).",
    "annotation-box": ("Proposed with `annotation_box = true`. A film whose job gives `annotation_boxes` texts "
                       "carries Annotation Display Format ID (2010,0030) = `annotation_display_format_id` in its "
                       "Film Box N-CREATE, and each Basic Annotation Box the printer creates gets an N-SET with "
                       "Annotation Position (2030,0010) and Text String (2030,0020), cut to "
                       "`annotation_text_length` characters, after the image boxes. Annotations of frames are "
                       "burned into the image pixels instead."),
    "print-job": ("Proposed only (`print_job = true`) so that the printer may send its N-EVENT-REPORTs, "
                  "which are answered and recorded; no N-GET Print Job is sent."),
}


def _when(when: str) -> str:
    return {"always": "Always", "yes": "Yes"}.get(when, f"With {when}")


def _association_policies(doc: _Doc, ctx: _Ctx, n: str) -> None:
    doc.heading(n, "Association Policies")
    doc.heading(f"{n}.1", "General")
    doc.para("The DICOM standard application context name is always proposed:")
    doc.table("DICOM application context", ["Application Context Name", "Value"],
              [[_uid_name(APPLICATION_CONTEXT), APPLICATION_CONTEXT]])
    default_pdu = _field_default(PrinterConfig, "max_pdu")
    if ctx.printer is not None:
        pdu = ctx.printer.max_pdu
        pdu_text = f"{pdu} bytes" if pdu else "unlimited (0)"
        doc.table("Maximum PDU size", ["Maximum PDU size received", "Setting"],
                  [[pdu_text, "this printer's `max_pdu`"]])
    else:
        rows = [[f"{default_pdu} bytes", "`max_pdu` default (per printer; 0: unlimited)"]]
        rows += [[f"{p.max_pdu} bytes" if p.max_pdu else "unlimited (0)", f"printer {_code(p.name)}"]
                 for p in ctx.dicom]
        doc.table("Maximum PDU size", ["Maximum PDU size received", "Setting"], rows)
    doc.para("The maximum PDU size is the one this server announces for what it receives; what it sends is "
             "limited by the size the printer announces.")
    doc.heading(f"{n}.2", "Number of Associations")
    doc.para("Each DICOM printer has one worker, and each worker holds at most one print association with its "
             "printer: jobs of one printer never run in parallel. The workers of different printers run in "
             "parallel, so there is one association per printer printing at the same time. `hcq echo` uses "
             "short associations of its own, one after the other (Verification for C-ECHO, then a print "
             "association for N-GET Printer); it runs between jobs, after the held association has been "
             "released, or beside it when the printer is busy printing.")
    printers = len(ctx.printers)
    doc.table("Number of associations initiated by the Print SCU AE", ["Item", "Maximum"], [
        ["Simultaneous print associations per printer", "1"],
        ["Simultaneous associations per printer, `hcq echo` during a job included", "2"],
        ["Simultaneous associations in total" if ctx.printer is None else "Printers this statement covers",
         f"one per DICOM printer ({printers} configured)" if ctx.printer is None else "1"],
    ])
    doc.heading(f"{n}.3", "Asynchronous Nature")
    doc.para("The Print SCU AE does not negotiate asynchronous operations: one request is outstanding at a "
             "time on an association. Message IDs increase from 1 (wrapping after 65535); a response must "
             "answer the request's Message ID with the matching command, or the association is aborted as a "
             "protocol error.")
    doc.table("Asynchronous nature", ["Item", "Value"],
              [["Maximum number of outstanding asynchronous transactions", "1"]])
    doc.heading(f"{n}.4", "Implementation Identifying Information")
    uid, version, uid_set, version_set = _implementation(ctx)
    doc.table("DICOM implementation class and version", ["Item", "Value", "Source"], [
        ["Implementation Class UID", uid,
         "`[server] implementation_class_uid`" if uid_set
         else "pynetdicom's (no `implementation_class_uid` configured)"],
        ["Implementation Version Name", version or "(none)",
         "`[server] implementation_version_name`" if version_set
         else "pynetdicom's (no `implementation_version_name` configured)"],
    ])


def _print_activity(doc: _Doc, ctx: _Ctx, n: str) -> None:
    doc.heading(n, "Activity – Print a Job")
    doc.heading(f"{n}.1", "Description and Sequencing of Activities")
    plut = ctx.used("presentation_lut")
    p = ctx.printer
    doc.para("When a job reaches the front of its printer's queue, the worker uses the association it holds "
             "with the printer, or opens one (a held association the printer has closed meanwhile is replaced "
             "by a new one), and sends:")
    steps = [
        "A-ASSOCIATE-RQ (only when no association is held), with the presentation contexts of section "
        f"{n}.2.",
        "N-GET on the Printer SOP Instance: Printer Status and Printer Status Info. A Printer Status FAILURE "
        "ends the attempt here (the association is released, the printer is stopped); see the Printer Status "
        "table.",
    ]
    if plut:
        steps.append("N-CREATE Presentation LUT (Presentation LUT Shape `IDENTITY`)"
                     + (" — with `presentation_lut = true`" if p is None else "")
                     + ", when the printer accepted the Presentation LUT SOP class (otherwise a warning is "
                       "recorded and the films are printed without).")
    steps += [
        "N-CREATE Basic Film Session (copies, priority, medium, destination, label).",
        "For each film not yet printed: N-CREATE Basic Film Box (with the Referenced Film Session Sequence); "
        "N-SET of each Image Box that has an image (Grayscale, or Color for colour films), in box order; "
        "N-ACTION print (Action Type ID 1) on the Film Box; N-DELETE of the Film Box.",
        "N-DELETE Basic Film Session when the job's films are done (or printing stops between films: "
        "pre-emption, cancel, disable, shutdown).",
    ]
    if plut:
        steps.append("N-DELETE Presentation LUT, when one was created.")
    steps.append(f"The association is kept for the next job and released (A-RELEASE-RQ) after "
                 f"`idle_release_s` ({_num(ctx.server.idle_release_s)} s) without work, or by the network "
                 "layer after `network_timeout_s` without any PDU. Any failure aborts it (A-ABORT); the "
                 "printer then discards the Film Session.")
    doc.items(steps, numbered=True)
    doc.para("The printer may send N-EVENT-REPORT at any time on the association; it is answered at once and "
             "acted on after the operation in progress (section 3.2.1.4).")
    lines = [
        "Print SCU AE (hcserver)                              Printer (Print SCP)",
        "        |---- A-ASSOCIATE-RQ (unless one is held) ------------>|",
        "        |<--- A-ASSOCIATE-AC ----------------------------------|",
        "        |---- N-GET Printer (Printer Status, ... Info) ------->|",
    ]
    if plut:
        lines.append("        |---- N-CREATE Presentation LUT (optional) ----------->|")
    lines += [
        "        |---- N-CREATE Basic Film Session -------------------->|",
        "        |  +- per film ----------------------------------------+",
        "        |  | N-CREATE Basic Film Box ------------------------->|",
        "        |  | N-SET Image Box (each box with an image) -------->|",
        "        |  | N-ACTION Film Box (print) ----------------------->|",
        "        |  | N-DELETE Film Box ------------------------------->|",
        "        |  +---------------------------------------------------+",
        "        |<--- N-EVENT-REPORT Printer / Print Job (any time) ---|",
        "        |---- N-DELETE Basic Film Session -------------------->|",
    ]
    if plut:
        lines.append("        |---- N-DELETE Presentation LUT (optional) ----------->|")
    lines += [
        "        |         ... next job on the same association ...     |",
        "        |---- A-RELEASE-RQ (after idle_release_s) ------------>|",
        "        |<--- A-RELEASE-RP ------------------------------------|",
    ]
    doc.block("\n".join(lines))

    doc.heading(f"{n}.2", "Proposed Presentation Contexts")
    ts = [(t.name, str(t)) for t in assoc.TRANSFER_SYNTAXES]
    rows = []
    for uid, when in _proposed(ctx):
        rows.append([_uid_name(uid), uid, "; ".join(t[0] for t in ts), "; ".join(t[1] for t in ts), "SCU",
                     "None", _when(when)])
    doc.table("Proposed presentation contexts for the activity Print a Job",
              ["Abstract Syntax Name", "Abstract Syntax UID", "Transfer Syntax Names", "Transfer Syntax UIDs",
               "Role", "Extended Negotiation", "Proposed"], rows)
    doc.para("Each context is proposed with both transfer syntaxes; the printer chooses. No SCP/SCU role "
             "selection, asynchronous operations window or user identity negotiation is proposed. A printer "
             "that accepts neither Print Management Meta SOP class (nor, with `meta_sop_only = false`, the "
             "individual classes) cannot be printed on: the attempt is retried. A grayscale printer set up "
             "with `color = true` that accepts only the grayscale Meta class prints colour images as grey.")

    doc.heading(f"{n}.3", "Common SOP Specific Conformance for all Print SOP Classes")
    doc.para("Every response status is judged by the status policy table (`drivers/dicom/status_policy.py`), "
             "per SOP class, operation and code, with the printer's `status_policy` overrides; the tables of "
             "the following sections are that table. Each row's behaviour is one of these actions:")
    doc.table("Actions of the status policy", ["Action", "Behavior"], [
        [a.value, _behaviour(ctx, a, long=True)] for a in Action if a is not Action.OK
    ] + [["ok", "Printing goes on."]])
    doc.para("The behaviour when the printer or the network fails, common to all SOP classes:")
    has_tls = _has_field(PrinterConfig, "tls")
    retry = _behaviour(ctx, Action.RETRY)
    rows = [
        ["Connection refused, host unreachable, or no connection within `connect_timeout_s`",
         _behaviour(ctx, Action.RETRY, ending=None)],
        ["A-ASSOCIATE-RJ, or no A-ASSOCIATE-AC within `acse_timeout_s`", "As above; the reason names the "
         "rejection's result, source and reason."],
        ["No Print Management Meta SOP class (or individual class) accepted", "As above."],
        ["Presentation LUT SOP class not accepted (with `presentation_lut = true`)",
         "A warning is recorded on the job; the films are printed without a Presentation LUT."],
    ]
    if has_tls:
        rows.append(["TLS handshake failed (e.g. the printer's certificate is not accepted)",
                     "As above; the reason names the TLS error."])
    rows += [
        ["No response within `dimse_timeout_s`", retry],
        ["A-ABORT from the printer, connection closed, invalid or unexpected PDU, or a response that does "
         "not answer the request's Message ID", retry],
        ["N-CREATE Film Box response without a (non-empty) Referenced Image Box Sequence, or with an item "
         "without Referenced SOP Instance UID, or with fewer image boxes than the film's images need",
         _behaviour(ctx, Action.FAIL)],
        ["A request this server cannot encode, or an unusable local setting (implementation class UID, AE "
         "title)", _behaviour(ctx, Action.FAIL)],
        [f"The job prints longer than `max_job_time_s` ({_num(ctx.server.max_job_time_s)} s)", retry],
        ["An association held since an earlier job has been closed by the printer", "A new association is "
         "opened once, transparently; printing goes on."],
    ]
    doc.table("Communication failure behavior", ["Exception", "Behavior"], rows)
    doc.para("Two rules apply on top of the tables:",)
    doc.items([
        "Once a film's N-ACTION has succeeded the film counts as printed. A failure decided after it — at "
        "N-DELETE Film Box, or a Printer Status FAILURE reported together with the N-ACTION response — takes "
        "effect at the job's next request, never by printing the film again.",
        "A failure after all films of a job were accepted (e.g. at N-DELETE Film Session) does not fail the "
        "job: the job completes and the failure is recorded on it as a warning; a stop-printer action still "
        "stops the printer.",
    ])

    sec = 4
    # Printer
    doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Printer SOP Class")
    doc.para("**N-GET.** Sent at the start of every job (and by the status poll and `hcq echo`), on the "
             f"Printer SOP Instance {_code(assoc.PRINTER_INSTANCE)} with this Attribute Identifier List:")
    doc.table("Printer SOP Class N-GET attributes requested",
              ["Attribute Name", "Tag", "VR", "Value", "Presence of Value", "Source"],
              [_attr_row(_Attr("PrinterStatus", "Provided by the printer: `NORMAL`, `WARNING` or `FAILURE`.",
                               "ALWAYS", "Printer")),
               _attr_row(_Attr("PrinterStatusInfo", "Provided by the printer, e.g. `FILM JAM`, `SUPPLY LOW`.",
                               "ANAP", "Printer"))])
    rows = []
    for value, shown in (("NORMAL", "`NORMAL`"), ("WARNING", "`WARNING`"), ("FAILURE", "`FAILURE`"),
                         ("", "empty or missing"), ("OTHER", "any other value")):
        action = Action(sp.printer_status_action(value))
        if action is Action.OK:
            text = "Printing goes on."
        elif action is Action.WARN:
            text = ("Printing goes on; the status and Printer Status Info are recorded on the job as a warning "
                    "(shown by `hcq show`) and on the printer (`hcq printers`).")
            if not value or value == "OTHER":
                text = ("Printing goes on; recorded on the job as a warning (\"printer status unknown\") with the "
                        "Printer Status Info.")
        else:
            text = _behaviour(ctx, action, ending="released (A-RELEASE)", long=True)
            text += " The status and its info are shown by `hcq printers`."
        rows.append([shown, text])
    doc.table("Printer Status (2110,0010) handling", ["Printer Status", "Behavior"], rows)
    _status_table(doc, ctx, "printer", "N-GET")
    doc.para("**N-EVENT-REPORT** from the printer: see section 3.2.1.4.")

    # Film Session
    sec += 1
    doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Basic Film Session SOP Class")
    doc.para("**N-CREATE.** One Film Session per job attempt, with these attributes:")
    _attr_table(doc, "Attributes sent in N-CREATE of the Basic Film Session SOP Class", _film_session_attrs(ctx))
    _status_table(doc, ctx, "film-session", "N-CREATE")
    doc.para("**N-DELETE.** When the job's films are done, or printing stops between films. No attributes.")
    _status_table(doc, ctx, "film-session", "N-DELETE")

    # Film Box
    sec += 1
    doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Basic Film Box SOP Class")
    doc.para("**N-CREATE.** One Film Box per film, with these attributes:")
    _attr_table(doc, "Attributes sent in N-CREATE of the Basic Film Box SOP Class", _film_box_attrs(ctx))
    _status_table(doc, ctx, "film-box", "N-CREATE")
    doc.para("**N-ACTION.** Action Type ID 1 (print) on the Film Box, without Action Information. The Action "
             "Reply (Referenced Print Job Sequence) is not evaluated.")
    _status_table(doc, ctx, "film-box", "N-ACTION")
    doc.para("**N-DELETE.** After the film's N-ACTION. No attributes. The film already counts as printed: an "
             "action other than warn takes effect at the job's next request.")
    _status_table(doc, ctx, "film-box", "N-DELETE")

    # Image Boxes
    sec += 1
    doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Basic Grayscale Image Box SOP Class")
    doc.para("**N-SET.** One per image box that has an image, on the SOP Instance the Film Box N-CREATE response "
             "named for that position:")
    _attr_table(doc, "Attributes sent in N-SET of the Basic Grayscale Image Box SOP Class",
                _image_box_attrs(ctx, color=False))
    _status_table(doc, ctx, "grayscale-image-box", "N-SET")
    if ctx.used("color"):
        sec += 1
        doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Basic Color Image Box SOP Class")
        doc.para("**N-SET.** For colour films " + ("(`color = true` and a job with colour images)"
                                                  if p is None else "(jobs with colour images)")
                 + ", one per image box that has an image:")
        _attr_table(doc, "Attributes sent in N-SET of the Basic Color Image Box SOP Class",
                    _image_box_attrs(ctx, color=True))
        _status_table(doc, ctx, "color-image-box", "N-SET")

    # Presentation LUT
    if plut:
        sec += 1
        doc.heading(f"{n}.{sec}", "SOP Specific Conformance for the Presentation LUT SOP Class")
        doc.para("**N-CREATE.** Once per job attempt, before the Film Session"
                 + (" (`presentation_lut = true`)" if p is None else "") + ", referenced from the "
                 + ("Film Session (`plut_in_film_session = true`) or else from each Film Box:" if p is None else
                    ("Film Session:" if p.plut_in_film_session else "Film Boxes:")))
        _attr_table(doc, "Attributes sent in N-CREATE of the Presentation LUT SOP Class",
                    [_Attr("PresentationLUTShape", "`IDENTITY`", "ALWAYS", "AUTO")])
        _status_table(doc, ctx, "presentation-lut", "N-CREATE")
        doc.para("**N-DELETE.** After the Film Session's N-DELETE. No attributes.")
        _status_table(doc, ctx, "presentation-lut", "N-DELETE")

    others = [name for name, setting in (("annotation-box", "annotation_box"), ("print-job", "print_job"))
              if ctx.used(setting)]
    if others:
        sec += 1
        doc.heading(f"{n}.{sec}", "Other Optional SOP Classes")
        for name in others:
            doc.para(f"**{sp.SOP_CLASS_NAMES[name]}** ({_code(assoc.SOP_CLASSES[name])}): {_USE[name]}")
            if name == "annotation-box":
                _status_table(doc, ctx, "annotation-box", "N-SET")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _other_activities(doc: _Doc, ctx: _Ctx, n1: str, n2: str) -> None:
    doc.heading(n1, "Activity – Poll a Stopped Printer")
    doc.para(f"While a printer is marked stopped its worker sends N-GET Printer every {ctx.poll()}: on the "
             "association it holds, or on a new one (same presentation contexts) released right after the "
             "answer. A Printer Status other than `FAILURE` un-stops the printer and its jobs are printed "
             "again; `FAILURE`, or an N-GET that fails (no connection, a failure status), keeps it stopped and "
             "the reason is shown by `hcq printers`. The status table of the Printer N-GET applies; "
             "N-EVENT-REPORTs received meanwhile are answered and change nothing.")
    doc.heading(n2, "Activity – Verify a Printer")
    doc.para("`hcq echo PRINTER` (run between jobs, or on separate associations when the printer is busy for "
             "long): an association proposing only the Verification SOP class, with the same calling AE title, "
             "implementation identity, maximum PDU size and timeouts, on which one C-ECHO is sent and which is "
             "then released; then N-GET Printer on a print association (the contexts of printing) released "
             "right after the answer. The answers (C-ECHO status, Printer "
             "Status and Info, or the reason of a failure) are shown to the user; no job is affected.")
    ts = [(t.name, str(t)) for t in assoc.TRANSFER_SYNTAXES]
    doc.table("Proposed presentation contexts for the activity Verify a Printer",
              ["Abstract Syntax Name", "Abstract Syntax UID", "Transfer Syntax Names", "Transfer Syntax UIDs",
               "Role", "Extended Negotiation"],
              [[_uid_name(assoc.VERIFICATION), assoc.VERIFICATION, "; ".join(t[0] for t in ts),
                "; ".join(t[1] for t in ts), "SCU", "None"]])
    doc.table("C-ECHO response status handling", ["Service Status", "Further Meaning", "Status Code", "Behavior"], [
        ["Success", "Success", _hex(0x0000), "Reported as a successful echo."],
        ["*", "*", "any other, or no response", "Reported to the user with the code or the reason."],
    ])


def _acceptance(doc: _Doc, ctx: _Ctx, n: str) -> None:
    doc.heading(n, "Association Acceptance Policy")
    doc.para("The Print SCU AE accepts no associations: it listens on no DICOM port. On the associations it "
             "initiates it receives N-EVENT-REPORT requests from the printer, at any time. Each is answered at "
             "once, in the network layer, and handed to the job after the operation in progress:")
    rows = []
    for etype, status in assoc.PRINTER_EVENTS.items():
        action = Action(sp.printer_status_action(status))
        if action is Action.OK:
            text = "Recorded as the printer's status; printing goes on."
        elif action is Action.WARN:
            text = ("Printing goes on; recorded on the job as a warning with the Printer Status Info, and as the "
                    "printer's status.")
        else:
            text = ("During a job: " + _lower_first(_behaviour(ctx, action, long=True))
                    + " If it comes with the response to a film's N-ACTION, the film still counts as printed. "
                      "Outside a job (status poll, `hcq echo`): answered, and otherwise without effect; the N-GET "
                      "answer decides.")
        rows.append(["Printer", status.title(), str(etype), text])
    for etype, status in assoc.PRINT_JOB_EVENTS.items():
        text = ("Recorded on the job as a warning with the Execution Status Info; printing goes on."
                if status == "FAILURE" else "Recorded with the job's DIMSE exchanges (`hcq show --log`).")
        rows.append(["Print Job", status.title(), str(etype), text])
    rows.append(["Printer, Print Job", "*", "any other", "Answered with 0x0113 (No Such Event Type); recorded on "
                 "the job as a warning."])
    doc.table("N-EVENT-REPORT event types and behavior", ["SOP Class", "Event Type Name", "Event Type ID",
                                                           "Behavior"], rows)
    doc.para("The Event Information is read for Printer Status Info (2110,0020) and, when present, Printer "
             "Status (2110,0010), which then wins over the event type; for Print Job events, Execution Status "
             "Info (2100,0030).")
    rows = [
        ["Success", "Success", _hex(0x0000), "The event type is known for its SOP class."],
        ["Failure", sp.meaning_of(0x0113), _hex(0x0113),
         "An Event Type ID the Printer (1-3) or Print Job (1-4) SOP class does not define."],
        ["Failure", sp.meaning_of(0x0118), _hex(0x0118),
         "An N-EVENT-REPORT for a SOP class other than Printer or Print Job."],
        ["Failure", sp.meaning_of(0x0110), _hex(0x0110), "The request could not be read."],
    ]
    doc.table("N-EVENT-REPORT response status reasons", ["Service Status", "Further Meaning", "Status Code",
                                                         "Reason"], rows)
    doc.para("An event answered with a failure status is recorded on the job as a warning; printing goes on.")


def _network_interfaces(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("3.3", "Network Interfaces")
    doc.heading("3.3.1", "Physical Network Interface")
    doc.para("DICOM Upper Layer over TCP/IP (PS3.8), on whatever interface the host's TCP/IP stack uses, to "
             "the address the printer's `host` resolves to. TCP_NODELAY is set on every connection this "
             "server opens (whatever the printer does), so that small PDUs are not delayed.")
    doc.heading("3.3.2", "Additional Protocols")
    doc.para("Host names are resolved with the host's resolver (DNS, hosts file). No other protocol is used on "
             "the DICOM side.")
    if _has_field(PrinterConfig, "tls"):
        doc.heading("3.3.3", "Security: TLS")
        doc.para("A printer with `tls = true` is reached over TLS (PS3.15 Annex B.1, Basic TLS Secure Transport "
                 "Connection Profile), TLS 1.2 or later. With `tls_verify = true` (the default) the printer's "
                 "certificate must chain to the CA certificates in `tls_ca_file` and match `tls_server_name` "
                 "(default: the printer's `host`); `tls_cert_file` / `tls_key_file` give the client certificate "
                 "for printers that ask for one. A failed handshake is retried like any connection failure.")
        rows = []
        for p in ctx.printers:
            if getattr(p, "tls", False):
                verify = "yes" if getattr(p, "tls_verify", True) else "no (any certificate accepted)"
                client = "yes" if getattr(p, "tls_cert_file", None) else "no"
                name = getattr(p, "tls_server_name", None) or p.host
                rows.append([p.name, "TLS", verify, client, name])
            else:
                rows.append([p.name, "none (plain TCP)", "-", "-", "-"])
        if rows:
            doc.table("Transport security per printer", ["Printer", "Transport security",
                                                         "Printer certificate verified", "Client certificate",
                                                         "Name checked"], rows)


# --- configuration ---------------------------------------------------------

_SERVER_PARAMS: tuple[tuple[str, str], ...] = (
    ("ae_title", "Calling AE title of the Print SCU AE (for every printer without `calling_ae_title`)."),
    ("implementation_class_uid", "Implementation Class UID sent in A-ASSOCIATE-RQ (not set: pynetdicom's)."),
    ("implementation_version_name", "Implementation Version Name (not set: pynetdicom's)."),
    ("idle_release_s", "Seconds without work after which a printer's association is released."),
    ("retry_interval_s", "Back-off before the first retry, in seconds; doubles with each failed attempt."),
    ("retry_max_interval_s", "Cap of the back-off, in seconds."),
    ("retry_limit", "Failed attempts after which a job fails."),
    ("max_job_time_s", "A job printing longer than this many seconds has its association aborted and is retried."),
)

_PRINTER_PARAMS: dict[str, str] = {
    "driver": "`dicom` for a DICOM printer (`preview` writes PNG files and speaks no DICOM).",
    "ae_title": "Called AE title of the printer.",
    "host": "Host name or address of the printer.",
    "port": "TCP port of the printer.",
    "calling_ae_title": "Calling AE title for this printer (not set: `[server] ae_title`).",
    "max_pdu": "Maximum PDU size this server receives, in bytes (0: unlimited).",
    "connect_timeout_s": "Seconds to wait for the TCP connection.",
    "acse_timeout_s": "Seconds to wait for A-ASSOCIATE-AC and A-RELEASE-RP.",
    "dimse_timeout_s": "Seconds to wait for each DIMSE response (also the read timeout within a PDU).",
    "network_timeout_s": "Seconds without any PDU after which the network layer releases the association.",
    "tls": "Reach the printer over TLS.",
    "tls_ca_file": "CA certificates the printer's certificate must chain to.",
    "tls_cert_file": "Client certificate, for printers that ask for one.",
    "tls_key_file": "Private key of the client certificate (if not in `tls_cert_file`).",
    "tls_verify": "Verify the printer's certificate and name.",
    "tls_server_name": "Name checked against the printer's certificate (not set: `host`).",
    "color": "Propose the Basic Color Print Management Meta SOP class; colour images print in colour.",
    "bit_depth": "8 or 12: bits of the grayscale pixels sent.",
    "dpi": "Printer pixels per inch: the pixel size of each image box.",
    "film_sizes": "Film Size IDs the printer accepts (other jobs are refused at submit).",
    "display_formats": "Image Display Formats the printer accepts.",
    "medium_types": "Medium Types the printer accepts.",
    "film_destinations": "Film Destinations the printer accepts.",
    "magnification_types": "Magnification Types the printer accepts.",
    "presentation_lut": "Propose the Presentation LUT SOP class and create an `IDENTITY` Presentation LUT per job.",
    "plut_in_film_session": "Reference the Presentation LUT from the Film Session instead of each Film Box.",
    "annotation_box": "Propose the Basic Annotation Box SOP class and print a film's `annotation_boxes` texts.",
    "annotation_text_length": "Longest Text String sent to a Basic Annotation Box.",
    "annotation_display_format_id": "Annotation Display Format ID sent in the Film Box N-CREATE with annotation texts.",
    "print_job": "Propose the Print Job SOP class (for its N-EVENT-REPORTs).",
    "meta_sop_only": "Propose only the Meta SOP classes (false: also Film Session, Film Box, Image Box, Printer "
                     "on their own).",
    "configuration_information": "Configuration Information (2010,0150) for films that give none.",
    "memory_allocation": "Memory Allocation (2000,0060), in kilobytes, sent in the Film Session.",
    "preempt": "Let a higher-priority job pre-empt a multi-film job between films.",
    "defaults": "Values for job fields a job leaves out (see the `defaults.*` rows).",
    "status_policy": "Overrides of the status table: `\"OPERATION 0xCODE\" = action` (ok, warn, retry, fail, "
                     "stop-printer), for that operation on every SOP class.",
    "retry_interval_s": "This printer's first back-off (not set: the server's).",
    "retry_limit": "This printer's retry limit (not set: the server's).",
    "status_poll_s": "Seconds between the N-GET Printer polls of a stopped printer.",
}

_DEFAULTS_PARAMS: dict[str, str] = {
    "film_size": "Film Size ID (2010,0050) for films that give none.",
    "orientation": "Film Orientation (2010,0040).",
    "layout": "Image Display Format (2010,0010).",
    "medium_type": "Medium Type (2000,0030).",
    "film_destination": "Film Destination (2000,0040).",
    "magnification": "Magnification Type (2010,0060).",
    "priority": "Print Priority (2000,0020), and the job's place in the queue.",
    "copies": "Number of Copies (2000,0010).",
}


def _configuration(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("3.4", "Configuration")
    doc.para("The configuration is a TOML file (`hcserver serve -c FILE`; without one, the embedded defaults). "
             "`hcserver check-config` checks a file; `hcq reload` (or SIGHUP) applies printer changes to the "
             "running server.")
    doc.heading("3.4.1", "AE Title/Presentation Address Mapping")
    doc.heading("3.4.1.1", "Local AE Titles")
    rows = [["Print SCU AE", ctx.server.ae_title, "none (the AE only initiates associations)"]]
    for p in ctx.printers:
        if p.calling_ae_title:
            rows.append([f"Print SCU AE, towards printer {_code(p.name)}", p.calling_ae_title, "none"])
    doc.table("Local AE titles", ["Application Entity", "Default AE Title", "Listen Port"], rows)
    doc.heading("3.4.1.2", "Remote AE Title/Presentation Address Mapping")
    doc.para("Each DICOM printer is a `[printers.NAME]` table with `driver = \"dicom\"`: its called AE title, "
             "host and port, and what it supports:")
    rows = []
    has_tls = _has_field(PrinterConfig, "tls")
    for p in ctx.printers:
        optional = [label for flag, label in (("color", "colour"), ("presentation_lut", "Presentation LUT"),
                                              ("annotation_box", "Annotation Box"), ("print_job", "Print Job"))
                    if getattr(p, flag, False)]
        row = [p.name, p.ae_title, p.host, str(p.port), p.calling_ae_title or ctx.server.ae_title]
        if has_tls:
            row.append("yes" if getattr(p, "tls", False) else "no")
        row += [str(p.bit_depth), ", ".join(optional) or "none",
                ", ".join(f"{k} = {v}" for k, v in p.status_policy.items()) or "none"]
        rows.append(row)
    headers = ["Printer", "Called AE Title", "Host", "Port", "Calling AE Title"]
    if has_tls:
        headers.append("TLS")
    headers += ["Bit Depth", "Optional SOP Classes / Colour", "Status Policy Overrides"]
    if rows:
        doc.table("DICOM printers configured", headers, rows)
    else:
        doc.para("No DICOM printer is configured.")

    doc.heading("3.4.2", "Parameters")
    server_rows = []
    for key, text in _SERVER_PARAMS:
        if not _has_field(ServerConfig, key):
            continue
        server_rows.append([f"`[server] {key}`", _fmt(_field_default(ServerConfig, key)),
                            _fmt(getattr(ctx.server, key)), text])
    doc.table("Server parameters that affect DICOM communication",
              ["Key", "Default", "This configuration", "Meaning"], server_rows)
    p = ctx.printer
    rows = []
    for f in dataclasses.fields(PrinterConfig):
        if f.name == "name":
            continue
        if f.name == "defaults":
            for d in dataclasses.fields(PrinterDefaults):
                row = [f"`defaults.{d.name}`", _fmt(_field_default(PrinterDefaults, d.name))]
                if p is not None:
                    row.append(_fmt(getattr(p.defaults, d.name)))
                row.append(_DEFAULTS_PARAMS.get(d.name, "Default for the job field of the same name."))
                rows.append(row)
            continue
        default = _field_default(PrinterConfig, f.name)
        if f.name in ("tls_ca_file", "tls_cert_file", "tls_key_file") and p is not None:
            value = "(set)" if getattr(p, f.name, None) else "(not set)"
        else:
            value = _fmt(getattr(p, f.name)) if p is not None else None
        row = [f"`{f.name}`", _fmt(default)]
        if p is not None:
            row.append(value)
        row.append(_PRINTER_PARAMS.get(f.name, "Printer setting."))
        rows.append(row)
    headers = ["Key", "Default"] + (["This printer"] if p is not None else []) + ["Meaning"]
    doc.table("Printer parameters (`[printers.NAME]`)", headers, rows)


def _later_sections(doc: _Doc, ctx: _Ctx) -> None:
    doc.heading("4", "Media Interchange")
    doc.para("Not supported.")
    doc.heading("5", "Support of Character Sets")
    doc.para("No Specific Character Set (0008,0005) is sent: text attributes are meant to hold characters of "
             "the default repertoire (ISO-IR 6, ASCII) only. The Film Session Label, Configuration Information "
             "and the other values of a job are refused at submit unless they are printable ASCII. "
             "Text in frame annotations is burned into the image pixels; Basic Annotation Box texts are refused "
             "at submit unless they are printable ASCII.")
    doc.heading("6", "Security")
    if _has_field(PrinterConfig, "tls"):
        doc.para("Transport security per printer with TLS (section 3.3.3). No user identity is negotiated. "
                 "Patient data is kept out of logs and events unless `[server] log_patient_data` is true; "
                 "clients' operations are written to the server's audit log (not to a DICOM audit trail).")
    else:
        doc.para("No DICOM security profile is supported: associations are plain TCP and no user identity is "
                 "negotiated. Clients' operations are written to the server's audit log.")


def generate(config: ServerConfig, printer: str | None = None) -> str:
    """This server's DICOM Conformance Statement as Markdown (PS3.2 layout).

    ``config`` is the configuration in effect; ``printer`` names one
    configured DICOM printer to describe it alone (its address, optional SOP
    classes, bit depth, colour and ``status_policy`` overrides, marked in the
    status tables), else the statement covers every printer. Raises
    ValueError for an unknown or non-DICOM printer, naming the configured ones.
    The text holds no dates, times or file paths.
    """
    ctx = _context(config, printer)
    doc = _Doc()
    _title(doc, ctx)
    _overview(doc, ctx)
    _introduction(doc, ctx)
    _implementation_model(doc, ctx)
    doc.heading("3.2", "AE Specifications")
    doc.heading("3.2.1", "Print SCU AE Specification")
    _sop_classes(doc, ctx, "3.2.1.1")
    _association_policies(doc, ctx, "3.2.1.2")
    doc.heading("3.2.1.3", "Association Initiation Policy")
    _print_activity(doc, ctx, "3.2.1.3.1")
    _other_activities(doc, ctx, "3.2.1.3.2", "3.2.1.3.3")
    _acceptance(doc, ctx, "3.2.1.4")
    _network_interfaces(doc, ctx)
    _configuration(doc, ctx)
    _later_sections(doc, ctx)
    return doc.text()
