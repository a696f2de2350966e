"""What a statement is about: the configuration, the printer (or all of them), and what
the association layer proposes for them."""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.conformance.markdown import num
from hcserver.drivers.dicom import association as assoc


def field_default(cls: type, name: str) -> Any:
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    return None


@dataclass
class Ctx:
    server: ServerConfig
    printer: PrinterConfig | None                # the printer the statement is for, or None
    dicom: list[PrinterConfig] = field(default_factory=list)   # every DICOM printer configured

    @property
    def printers(self) -> list[PrinterConfig]:
        """The printers the statement covers."""
        return [self.printer] if self.printer is not None else self.dicom

    def used(self, setting: str | None) -> bool:
        """Whether a feature enabled by ``setting`` is described (always, in the general statement)."""
        return setting is None or self.printer is None or bool(getattr(self.printer, setting, False))

    # retry and polling figures, with the key that sets them
    def retry_interval(self) -> str:
        p = self.printer
        if p is not None and p.retry_interval_s:
            return f"retry_interval_s = {num(p.retry_interval_s)} s (this printer's)"
        return f"retry_interval_s = {num(self.server.retry_interval_s)} s"

    def retry_limit(self) -> str:
        p = self.printer
        if p is not None and p.retry_limit is not None:
            return f"retry_limit = {p.retry_limit} (this printer's)"
        return f"retry_limit = {self.server.retry_limit}"

    def retry_cap(self) -> str:
        return f"retry_max_interval_s = {num(self.server.retry_max_interval_s)} s"

    def poll(self) -> str:
        if self.printer is not None:
            return f"status_poll_s = {num(self.printer.status_poll_s)} s"
        return f"status_poll_s (default {num(field_default(PrinterConfig, 'status_poll_s'))} s)"


def make_context(config: ServerConfig, printer: str | None) -> Ctx:
    dicom = [p for p in config.printers.values() if p.driver == "dicom"]
    if printer is None:
        return Ctx(config, None, dicom)
    if printer not in config.printers:
        raise ValueError(f"unknown printer {printer!r}; configured printers: "
                         f"{', '.join(config.printers) or '(none)'}")
    chosen = config.printers[printer]
    if chosen.driver != "dicom":
        raise ValueError(f"printer {printer!r} uses the {chosen.driver!r} driver, not DICOM; "
                         f"DICOM printers: {', '.join(p.name for p in dicom) or '(none)'}")
    return Ctx(config, chosen, dicom)


def uid_name(uid: str) -> str:
    """The standard name of a UID (pydicom's dictionary), e.g. 'Printer SOP Class'."""
    from pydicom.uid import UID
    name = UID(uid).name
    return name if name and name != uid else assoc.UID_TITLES.get(uid, uid)


def implementation(ctx: Ctx) -> tuple[str, str, bool, bool]:
    """(class UID, version name, class UID configured?, version name configured?), as the
    association layer sends them."""
    printer = ctx.printer or (ctx.dicom[0] if ctx.dicom else PrinterConfig(name="-", driver="dicom"))
    ae = assoc._make_ae(printer, ctx.server.station, [])
    return (str(ae.implementation_class_uid), str(ae.implementation_version_name or ""),
            bool(ctx.server.implementation_class_uid), bool(ctx.server.implementation_version_name))


_CONTEXT_FLAGS = ("color", "meta_sop_only", "presentation_lut", "annotation_box", "print_job")


def _with_flags(base: PrinterConfig, flags: dict[str, bool]) -> PrinterConfig:
    """``base`` with these of its boolean settings changed."""
    changes: dict[str, Any] = dict(flags)     # the fields are named at run time, unknown to a type checker
    return dataclasses.replace(base, **changes)


def _context_conditions() -> list[tuple[str, str]]:
    """Every abstract syntax a print association may propose, with when it is proposed."""
    base = PrinterConfig(name="-", driver="dicom")
    seen: dict[str, list[dict[str, bool]]] = {}
    for values in itertools.product((False, True), repeat=len(_CONTEXT_FLAGS)):
        setting = dict(zip(_CONTEXT_FLAGS, values))
        for uid in assoc.requested_contexts(_with_flags(base, setting)):
            seen.setdefault(uid, []).append(setting)
    widest = _with_flags(base, {f: f != "meta_sop_only" for f in _CONTEXT_FLAGS})
    order = {uid: i for i, uid in enumerate(assoc.requested_contexts(widest))}
    out = []
    for uid, settings in sorted(seen.items(), key=lambda item: order.get(item[0], len(order))):
        # the settings that matter: those every proposing combination agrees on
        fixed = {k: v for k, v in settings[0].items() if all(s[k] == v for s in settings)}
        if len(settings) == 2 ** len(_CONTEXT_FLAGS) or not fixed:
            when = "always"
        else:
            when = " and ".join(f"{k} = {'true' if v else 'false'}" for k, v in fixed.items())
        out.append((uid, when))
    return out


def proposed(ctx: Ctx) -> list[tuple[str, str]]:
    """(abstract syntax, when it is proposed: "yes" for one printer, "always" or the settings)."""
    if ctx.printer is not None:
        return [(uid, "yes") for uid in assoc.requested_contexts(ctx.printer)]
    return _context_conditions()


def when_proposed(when: str) -> str:
    return {"always": "Always", "yes": "Yes"}.get(when, f"With {when}")
