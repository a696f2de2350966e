"""3.3 Network Interfaces, 3.4 Configuration and 4 to 6 (templates/configuration.md)."""
from __future__ import annotations

import dataclasses

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.conformance.context import Ctx, field_default
from hcserver.conformance.markdown import Doc, Prose, code, fragments, toml_value
from hcserver.drivers.dicom import status_policy as sp
from hcserver.drivers.settings import PrinterDefaults

words = Prose("configuration")


def network_interfaces(doc: Doc, ctx: Ctx) -> None:
    doc.heading("3.3", "Network Interfaces")
    doc.heading("3.3.1", "Physical Network Interface")
    doc.para(words("physical network interface"))
    doc.heading("3.3.2", "Additional Protocols")
    doc.para(words("additional protocols"))
    doc.heading("3.3.3", "Security: TLS")
    doc.para(words("tls"))
    rows = []
    for p in ctx.printers:
        if p.tls:
            rows.append([p.name, "TLS", "yes" if p.tls_verify else "no (any certificate accepted)",
                         "yes" if p.tls_cert_file else "no", p.tls_server_name or p.host])
        else:
            rows.append([p.name, "none (plain TCP)", "-", "-", "-"])
    if rows:
        doc.table("Transport security per printer", ["Printer", "Transport security", "Printer certificate verified",
                                                     "Client certificate", "Name checked"], rows)


def _printer_row(ctx: Ctx, p: PrinterConfig) -> list[str]:
    optional = [label for flag, label in (("color", "colour"), ("presentation_lut", "Presentation LUT"),
                                          ("annotation_box", "Annotation Box"), ("print_job", "Print Job"))
                if getattr(p, flag)]
    return [p.name, p.ae_title, p.host, str(p.port), p.calling_ae_title or ctx.server.ae_title,
            "yes" if p.tls else "no", str(p.bit_depth), ", ".join(optional) or "none",
            ", ".join(f"{k} = {v}" for k, v in p.status_policy.items()) or "none"]


def _meaning(kind: str, name: str) -> str:
    key = f"{kind}.{name}" if f"{kind}.{name}" in fragments("configuration") else f"{kind}.other"
    return words(key, actions=", ".join(sp.ACTIONS))


def configuration(doc: Doc, ctx: Ctx) -> None:
    doc.heading("3.4", "Configuration")
    doc.para(words("configuration"))
    doc.heading("3.4.1", "AE Title/Presentation Address Mapping")
    doc.heading("3.4.1.1", "Local AE Titles")
    rows = [["Print SCU AE", ctx.server.ae_title, "none (the AE only initiates associations)"]]
    rows += [[f"Print SCU AE, towards printer {code(p.name)}", p.calling_ae_title, "none"]
             for p in ctx.printers if p.calling_ae_title]
    doc.table("Local AE titles", ["Application Entity", "Default AE Title", "Listen Port"], rows)
    doc.heading("3.4.1.2", "Remote AE Title/Presentation Address Mapping")
    doc.para(words("remote ae titles"))
    if ctx.printers:
        doc.table("DICOM printers configured",
                  ["Printer", "Called AE Title", "Host", "Port", "Calling AE Title", "TLS", "Bit Depth",
                   "Optional SOP Classes / Colour", "Status Policy Overrides"],
                  [_printer_row(ctx, p) for p in ctx.printers])
    else:
        doc.para(words("no dicom printer"))

    doc.heading("3.4.2", "Parameters")
    server_keys = [key[len("server."):] for key in fragments("configuration") if key.startswith("server.")]
    doc.table("Server parameters that affect DICOM communication", ["Key", "Default", "This configuration", "Meaning"],
              [[f"`[server] {key}`", toml_value(field_default(ServerConfig, key)), toml_value(getattr(ctx.server, key)),
                _meaning("server", key)] for key in server_keys])
    p = ctx.printer
    rows = []
    for f in dataclasses.fields(PrinterConfig):
        if f.name == "name":
            continue
        if f.name == "defaults":
            for d in dataclasses.fields(PrinterDefaults):
                this = [toml_value(getattr(p.defaults, d.name))] if p is not None else []
                rows.append([f"`defaults.{d.name}`", toml_value(field_default(PrinterDefaults, d.name)), *this,
                             _meaning("defaults", d.name)])
            continue
        this = []
        if p is not None:   # file paths are not shown
            value = getattr(p, f.name)
            this = [("(set)" if value else "(not set)") if f.name.endswith("_file") else toml_value(value)]
        rows.append([f"`{f.name}`", toml_value(field_default(PrinterConfig, f.name)), *this,
                     _meaning("printer", f.name)])
    headers = ["Key", "Default"] + (["This printer"] if p is not None else []) + ["Meaning"]
    doc.table("Printer parameters (`[printers.NAME]`)", headers, rows)


def later_sections(doc: Doc) -> None:
    doc.heading("4", "Media Interchange")
    doc.para(words("media interchange"))
    doc.heading("5", "Support of Character Sets")
    doc.para(words("character sets"))
    doc.heading("6", "Security")
    doc.para(words("security"))
