"""Writing the statement: Markdown blocks, numbered tables, and the prose templates.

The prose lives in ``templates/*.md``. A template file holds named fragments: a line
``%% name`` starts the fragment ``name``, which runs to the next such line; lines before
the first one, and lines starting with ``%#``, are comments. A fragment is a ``string.Template``:
``$name`` or ``${name}`` is a value the section that uses it gives. Its paragraphs and
list items may be wrapped over several lines, and a table row continued on indented
lines; each is joined into one line, as the statement is written, while ``` blocks are
kept as they are.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from string import Template
from typing import Any

# ---------------------------------------------------------------------------
# Values in Markdown.


def cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def code(value: Any) -> str:
    """A value in a code span (backslashes and all shown as they are)."""
    text = str(value)
    return f"``{text}``" if "`" in text else f"`{text}`"


def hexcode(code: int) -> str:
    return f"0x{code:04X}"


def num(value: float) -> str:
    return f"{value:g}"


def toml_value(value: Any) -> str:
    """A configuration value as TOML would spell it."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, float):
        return code(num(value))
    if isinstance(value, int):
        return code(value)
    if isinstance(value, (tuple, list)):
        return ", ".join(code(v) for v in value) if value else "(empty: any)"
    if isinstance(value, dict):
        return "; ".join(f"{code(k)} = {code(v)}" for k, v in value.items()) if value else "(none)"
    return code(value)


def choices(values: tuple[str, ...], default_all: str) -> str:
    return ", ".join(code(v) for v in values) if values else default_all


# ---------------------------------------------------------------------------
# Templates.

_BLOCK_START = re.compile(r"(#|\||```|- |\d+\. )")


def _unwrap(text: str) -> str:
    """Join the wrapped lines of each paragraph, list item and table row (see the module docstring)."""
    out: list[str] = []
    last = None               # what the last line is: "text" (paragraph, list item), "row", or neither
    fenced = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            out.append(line)
            last = None
        elif fenced or not line.strip():
            out.append(line)
            last = None
        elif last and (line[0].isspace() or last == "text" and not _BLOCK_START.match(line)):
            out[-1] += " " + line.strip()
        else:
            out.append(line)
            last = None if line.startswith("#") else "row" if line.startswith("|") else "text"
    return "\n".join(out)


@functools.cache
def fragments(name: str) -> Mapping[str, Template]:
    """The fragments of ``templates/<name>.md``."""
    text = resources.files(__package__).joinpath("templates", f"{name}.md").read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        if line.startswith("%% "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None and not line.startswith("%#"):
            current.append(line)
    return {key: Template(_unwrap("\n".join(lines).strip("\n"))) for key, lines in found.items()}


class Prose:
    """The fragments of one template file: ``prose("name", value=...)`` is one, filled in."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, fragment: str, **values: Any) -> str:
        try:
            template = fragments(self.name)[fragment]
        except KeyError:
            raise KeyError(f"templates/{self.name}.md has no fragment {fragment!r}") from None
        return template.substitute(values)


# ---------------------------------------------------------------------------
# The document.

class Doc:
    """The statement being written: blocks of Markdown, tables numbered as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tables = 0

    def heading(self, number: str, title: str) -> None:
        level = min(6, number.count(".") + 2) if number else 1
        text = f"{number} {title}" if number else title
        self.lines += [f"{'#' * level} {text}", ""]

    def para(self, *texts: str) -> None:
        """Paragraphs, or any Markdown blocks (a template fragment)."""
        for text in texts:
            self.lines += [text, ""]

    def items(self, items: Iterable[str], numbered: bool = False) -> None:
        for i, item in enumerate(items, 1):
            self.lines.append(f"{i}. {item}" if numbered else f"- {item}")
        self.lines.append("")

    def table(self, caption: str, headers: list[str], rows: list[list[Any]]) -> None:
        self.tables += 1
        self.lines += [f"**Table {self.tables}. {caption}**", ""]
        self.lines.append("| " + " | ".join(cell(h) for h in headers) + " |")
        self.lines.append("|" + "|".join("---" for _ in headers) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        self.lines.append("")

    def table_text(self, caption: str, table: str) -> None:
        """A table written out in a template (header, rule and rows)."""
        self.tables += 1
        self.lines += [f"**Table {self.tables}. {caption}**", "", table, ""]

    def block(self, text: str) -> None:
        self.lines += ["```text", *text.rstrip("\n").split("\n"), "```", ""]

    def text(self) -> str:
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"
