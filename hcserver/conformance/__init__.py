"""The DICOM Conformance Statement of this server, generated from the code and the configuration.

:func:`generate` returns the statement as Markdown, laid out as DICOM PS3.2
asks (overview, introduction, networking: implementation model, AE
specification, network interfaces, configuration), for the whole server or
for one configured printer. What it says is read from the code that does it:

* the status tables are the live status policy
  (:mod:`hcserver.drivers.dicom.status_policy`): every code its table lists for each
  operation we send, with its meaning and what
  :func:`~hcserver.drivers.dicom.status_policy.decide` does with it (including a
  printer's ``status_policy`` overrides), and the per-category rule for any other code;
* the attribute tables are the specs the Print SCU builds its requests from
  (:mod:`hcserver.drivers.dicom.datasets`);
* presentation contexts, transfer syntaxes, SOP class UIDs, event types and the
  implementation identity come from :mod:`hcserver.drivers.dicom.association`;
* parameters, defaults and per-printer values come from :mod:`hcserver.config`.

The words are in ``templates/`` (see :mod:`hcserver.conformance.markdown`); each
section's module puts them together with the tables. The output holds no dates, times
or file paths, so that ``docs/CONFORMANCE.md`` (the statement for the embedded
defaults) can be checked in and compared.
"""
from __future__ import annotations

from hcserver.config import ServerConfig
from hcserver.conformance import ae_specification, configuration, front_door, overview
from hcserver.conformance.context import make_context
from hcserver.conformance.markdown import Doc
from hcserver.conformance.print_activity import print_activity

__all__ = ["generate"]


def generate(config: ServerConfig, printer: str | None = None) -> str:
    """This server's DICOM Conformance Statement as Markdown (PS3.2 layout).

    ``config`` is the configuration in effect; ``printer`` names one
    configured DICOM printer to describe it alone (its address, optional SOP
    classes, bit depth, colour and ``status_policy`` overrides, marked in the
    status tables), else the statement covers every printer. Raises
    ValueError for an unknown or non-DICOM printer, naming the configured ones.
    """
    ctx = make_context(config, printer)
    doc = Doc()
    overview.title(doc, ctx)
    overview.overview(doc, ctx)
    overview.introduction(doc, ctx)
    overview.implementation_model(doc, ctx)
    doc.heading("3.2", "AE Specifications")
    doc.heading("3.2.1", "Print SCU AE Specification")
    ae_specification.sop_classes(doc, ctx, "3.2.1.1")
    ae_specification.association_policies(doc, ctx, "3.2.1.2")
    doc.heading("3.2.1.3", "Association Initiation Policy")
    print_activity(doc, ctx, "3.2.1.3.1")
    ae_specification.other_activities(doc, ctx, "3.2.1.3.2", "3.2.1.3.3")
    ae_specification.probe_activity(doc, "3.2.1.3.4")
    ae_specification.acceptance(doc, ctx, "3.2.1.4")
    if printer is None:   # a printer's statement is about printing to it
        front_door.front_door(doc, ctx, "3.2.2")
    configuration.network_interfaces(doc, ctx)
    configuration.configuration(doc, ctx)
    configuration.later_sections(doc)
    return doc.text()
