"""What ``hcq probe`` prints of a probe's answer (hcserver.client.Client.probe): a table of what the
printer accepted and refused, or the printer's ``[printers.NAME]`` block of the configuration."""
from __future__ import annotations

import json
import re
from typing import Any

# The lists of values a probe tries, in its order, as the table names them.
ROWS = (("medium_types", "medium types"), ("film_destinations", "film destinations"), ("film_sizes", "film sizes"),
        ("display_formats", "display formats (portrait)"), ("magnification_types", "magnification types"),
        ("bit_depths", "bit depths"), ("presentation_lut", "Presentation LUT"),
        ("annotation", "annotation display format"))


def toml_value(value: Any) -> str:
    """A TOML value: strings as basic strings (JSON's escapes are TOML's), lists, inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_block(probe: dict[str, Any]) -> str:
    """The printer's table of the configuration, with what the probe found it accepts."""
    lines = [f"# hcq probe {probe['printer']}: what the printer accepted ({probe['requests']} requests, "
             "nothing printed).",
             "# Not probed, so keep your own: dpi, max_pdu, timeouts, TLS, status_policy, retries."]
    if probe["stopped"]:
        lines.append(f"# The probe stopped early ({probe['stopped']}): what it had not reached is left out.")
    lines += [f"# {note}" for note in probe["notes"]]
    lines.append(f"[printers.{_key(probe['printer'])}]")
    for key, value in {**probe["connection"], **probe["settings"]}.items():
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines)


def _refused(tried: dict[str, Any]) -> str:
    return f"{tried['value']} ({tried['status'] or 'no answer'})"


def table(probe: dict[str, Any]):
    """A rich table: the SOP classes, the printer's own words, then each list of values tried."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", show_lines=False,
                  title=f"printer {probe['printer']} ({probe['connection']['ae_title']}@{probe['connection']['host']}:"
                        f"{probe['connection']['port']}): {probe['requests']} requests in {probe['seconds']:g} s, "
                        "nothing printed", title_justify="left")
    for column in ("WHAT", "ACCEPTED", "REFUSED"):
        table.add_column(column, overflow="fold")
    classes = probe["sop_classes"]
    table.add_row("SOP classes", ", ".join(name for name, ok in classes.items() if ok),
                  ", ".join(name for name, ok in classes.items() if not ok))
    if probe["printer_attributes"]:
        table.add_row("printer says", "; ".join(f"{k} {v}" for k, v in probe["printer_attributes"].items()), "")
    for item in probe["configuration"] or []:
        table.add_row("configuration", "; ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}"
                                                 for k, v in item.items()), "")
    for key, label in ROWS:
        tried = probe[key]
        if tried:
            table.add_row(label, ", ".join(t["value"] for t in tried if t["accepted"]),
                          ", ".join(_refused(t) for t in tried if not t["accepted"]))
    return table


def meanings(probe: dict[str, Any]) -> list[str]:
    """Each status the printer refused a value with, once, with its meaning (its Error Comments
    are in --json)."""
    seen: dict[str, str] = {}
    for key, _ in ROWS:
        for tried in probe[key]:
            if not tried["accepted"] and tried["status"]:
                seen.setdefault(tried["status"], f"{tried['status']}: {tried['meaning']}")
    return list(seen.values())
