"""The attribute tables: the driver's own request specs (hcserver.drivers.dicom.datasets),
rendered for the configuration the statement is for."""
from __future__ import annotations

from string import Template

from pydicom.datadict import dictionary_description, dictionary_VR, tag_for_keyword

from hcserver.conformance.context import Ctx
from hcserver.conformance.markdown import Doc, choices, code, toml_value
from hcserver.drivers.dicom import status_policy as sp
from hcserver.drivers.dicom.datasets import Attribute, Fixed, Spec, Varies, has_settings
from hcserver.drivers.settings import PrinterDefaults
from hcserver.formatter.geometry import KINDS
from hcserver.jobspec import MAX_COPIES

HEADERS = ["Attribute Name", "Tag", "VR", "Value", "Presence of Value", "Source"]


def _layout_kinds() -> str:
    shown = {"STANDARD": "STANDARD\\C,R", "ROW": "ROW\\n1,n2,…", "COL": "COL\\n1,n2,…"}
    return ", ".join(code(shown.get(k, k)) for k in KINDS)


def values(ctx: Ctx) -> dict[str, str]:
    """The ``$names`` of the specs' texts, for this statement."""
    p = ctx.printer
    d = p.defaults if p is not None else PrinterDefaults()
    out = {
        "max_copies": str(MAX_COPIES),
        "default_copies": str(d.copies),
        "default_priority": d.priority,
        "default_medium_type": code(d.medium_type) if d.medium_type else "not set",
        "default_film_destination": code(d.film_destination) if d.film_destination else "not set",
        "layouts": _layout_kinds(),
        "default_layout": code(d.layout) if d.layout else
        "not set, so the standard layout that fits the film's images best",
        "default_orientation": code(d.orientation),
        "default_film_size": code(d.film_size),
        "default_magnification": code(d.magnification),
    }
    if p is not None:
        out.update(
            medium_types=choices(p.medium_types, "any value"),
            film_destinations=choices(p.film_destinations, "any value"),
            memory_allocation=str(p.memory_allocation),
            display_formats=choices(p.display_formats, "any of them"),
            film_sizes=choices(p.film_sizes, "any"),
            magnification_types=choices(p.magnification_types, "any"),
            configuration_information=toml_value(p.configuration_information),
            dpi=str(p.dpi),
            annotation_display_format_id=code(p.annotation_display_format_id),
            annotation_text_length=str(p.annotation_text_length),
        )
    return out


def _text(ctx: Ctx, text: str | Varies | None) -> str:
    """The text for the statement's printer ("" for none)."""
    return text.pick(ctx.printer) if isinstance(text, Varies) else text or ""


def _fixed(value: Fixed) -> str:
    shown = "\\".join(str(v) for v in value.value) if isinstance(value.value, list) else str(value.value)
    return code(shown) + (f" {value.note}" if value.note else "")


def _rows(ctx: Ctx, attributes: tuple[Attribute, ...], names: dict[str, str], depth: int = 0) -> list[list[str]]:
    rows = []
    for a in attributes:
        if ctx.printer is not None and not has_settings(ctx.printer, a.needs):
            continue      # never sent to this printer
        tag = tag_for_keyword(a.keyword)
        if tag is None:  # pragma: no cover - a typo in the specs
            raise ValueError(f"unknown DICOM keyword {a.keyword!r}")
        text = _text(ctx, a.text)
        value = Template(text).substitute(names) if text or not isinstance(a.value, Fixed) else _fixed(a.value)
        rows.append([">" * depth + dictionary_description(tag), f"({tag >> 16:04X},{tag & 0xFFFF:04X})",
                     _text(ctx, a.vr) or dictionary_VR(tag), value, a.presence, a.source])
        rows += _rows(ctx, a.items, names, depth + 1)
    return rows


def attribute_table(doc: Doc, ctx: Ctx, spec: Spec, caption: str | None = None) -> None:
    """The table of what ``spec``'s request carries (by default captioned "Attributes sent in ...")."""
    caption = caption or f"Attributes sent in {spec.operation} of the {sp.SOP_CLASS_NAMES[spec.sop_class]}"
    doc.table(caption, HEADERS, _rows(ctx, spec.attributes, values(ctx)))
