"""Text annotations: templates over DICOM attributes, rendered at film resolution.

A template is text with ``{Field}`` placeholders (Python format syntax; ``{{``
and ``}}`` for literal braces; a format spec such as ``{PatientID:>10}`` is
applied to the text of the value). A field is

* any DICOM keyword (``PatientName``, ``StudyDate``, ``SeriesDescription``,
  ``SliceLocation`` …), looked up in the dataset, then in the frame's
  functional groups (enhanced images); a missing or empty attribute renders as
  nothing. Dates print as 2024-01-31, times as 14:05:09, person names as
  "FAMILY, Given Middle", multiple values joined by "\\";
* or one of :data:`COMPUTED_FIELDS` (``{Window}``, ``{Frame}`` …).

Text is drawn with the scalable font that ships with Pillow (``ImageFont.
load_default(size=...)``, Aileron Regular), sized so that a capital letter is
``size_mm`` tall on the film (default :data:`DEFAULT_SIZE_MM`), with a line
spacing of a quarter of that. Lines of a template may be separated by ``\\n``.
Rendered texts are cached, since the same annotation usually repeats in every
box of a film.

Every text is bounded, so that a job cannot make the formatter allocate what it
likes: a template, the width or precision of a field's format spec, and the
formatted text are at most :data:`MAX_TEXT_CHARS` characters (longer attribute
values and results are cut), and a text is rendered only as far as the image
box it is painted on reaches.
"""
from __future__ import annotations

import keyword
import math
import re
import string
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from hcserver.formatter.paint import Block, Ink, dilate, px

DEFAULT_SIZE_MM = 3.0
#: Fields computed by the formatter, with what they print.
COMPUTED_FIELDS = {
    "Window": 'the VOI in use: "C 40 W 400", "VOI LUT <explanation>", empty for colour images',
    "Frame": "the frame printed, counted from 1",
    "Frames": "the image's number of frames",
    "Film": "the film's number in the job, counted from 1",
    "Box": "the image box position on the film",
}
#: The longest template, field width or precision, and formatted text of an annotation.
MAX_TEXT_CHARS = 1024
_FORMATTER = string.Formatter()
# The numbers in a format spec: its width, its precision (after a dot), or a digit used as fill
_SPEC_NUMBER = re.compile(r"(\.?)(\d+)")
# FreeType faces are not safe to use from two threads at once, and printers format in parallel.
_FONT_LOCK = threading.Lock()


def template_problem(text) -> str | None:
    """Why ``text`` is not a usable template, or None."""
    if not isinstance(text, str):
        return f"expected a text template, got {text!r}"
    if len(text) > MAX_TEXT_CHARS:
        return f"a template of {len(text)} characters: at most {MAX_TEXT_CHARS}"
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError as exc:
        return f"{text!r}: {exc} (write {{{{ and }}}} for literal braces)"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or keyword.iskeyword(name):
            return f"{{{name}}}: a field is a DICOM keyword or one of {', '.join(COMPUTED_FIELDS)}"
        if conversion:
            return f"{{{name}!{conversion}}}: conversions are not supported"
        if spec and ("{" in spec or "}" in spec):
            return f"{{{name}:{spec}}}: nested fields are not supported"
        if spec:
            for dot, digits in _SPEC_NUMBER.findall(spec):
                if len(digits) > 5 or int(digits) > MAX_TEXT_CHARS:
                    return (f"{{{name}:{spec}}}: a {'precision' if dot else 'width'} of {digits} "
                            f"characters (at most {MAX_TEXT_CHARS})")
            try:    # within those bounds, trying the spec costs no more than a line of text
                format("", spec)
            except ValueError as exc:
                return f"{{{name}:{spec}}}: {exc}"
        if name not in COMPUTED_FIELDS and tag_for_keyword(name) is None:
            return (f"{{{name}}} is neither a DICOM keyword nor one of "
                    f"{', '.join(COMPUTED_FIELDS)}")
    return None


def _person(value) -> str:
    name = PersonName(value) if not isinstance(value, PersonName) else value
    family, given, middle = name.family_name.strip(), name.given_name.strip(), name.middle_name.strip()
    rest = " ".join(p for p in (given, middle) if p)
    text = f"{family}, {rest}" if family and rest else family or rest
    return " ".join(p for p in (name.name_prefix.strip(), text, name.name_suffix.strip()) if p)


def _one(value, vr: str) -> str:
    text = str(value).strip()
    if vr == "PN":
        return _person(value)
    if vr == "DA" and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if vr == "TM" and len(text) >= 4 and text[:4].isdigit():
        clock = text.split(".")[0].replace(":", "")
        return ":".join(clock[i:i + 2] for i in range(0, len(clock), 2))
    if vr == "DT" and len(text) >= 8 and text[:8].isdigit():
        date = f"{text[:4]}-{text[4:6]}-{text[6:8]}"
        clock = text[8:].split(".")[0].split("+")[0].split("-")[0]
        return f"{date} {':'.join(clock[i:i + 2] for i in range(0, len(clock), 2))}".strip()
    return text


def _element(ds: Dataset, frame: int, name: str):
    if name in ds:
        return ds.data_element(name)
    # Enhanced images keep many attributes in the frame's functional group macros.
    items = []
    per_frame, shared = ds.get("PerFrameFunctionalGroupsSequence"), ds.get("SharedFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        items.append(per_frame[frame])
    if shared:
        items.append(shared[0])
    for item in items:
        for element in item:
            if element.VR == "SQ" and element.value and name in element.value[0]:
                return element.value[0].data_element(name)
    return None


def attribute_text(ds: Dataset, frame: int, name: str) -> str:
    """A DICOM attribute as annotation text ("" when missing, empty or not text-like)."""
    try:
        element = _element(ds, frame, name)
    except Exception:       # a damaged element: print nothing rather than fail the film
        return ""
    if element is None or element.value is None or element.VR in ("SQ", "OB", "OW", "OF", "OD", "OL",
                                                                   "OV", "UN"):
        return ""
    value = element.value
    vr = element.VR or dictionary_VR(name)
    if isinstance(value, (bytes, bytearray)):
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(_one(v, vr) for v in value)
    return _one(value, vr)


def render_template(text: str, ds: Dataset, frame: int, computed: dict[str, str]) -> str:
    """Fill a (valid) template for one frame: at most :data:`MAX_TEXT_CHARS` characters."""
    out = []
    for literal, name, spec, _ in _FORMATTER.parse(text):
        out.append(literal)
        if name is None:
            continue
        value = computed[name] if name in computed else attribute_text(ds, frame, name)
        value = value[:MAX_TEXT_CHARS]      # an attribute may hold megabytes of text
        out.append(format(value, spec) if spec else value)
    return "".join(out)[:MAX_TEXT_CHARS]


class _Cache:
    """Least recently used arrays, at most ``budget`` bytes of them (functools' caches count
    entries, and one text 50 mm tall is megabytes); one larger than a sixteenth is not kept."""

    def __init__(self, budget: int):
        self.budget, self.used = budget, 0
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            entry = self.items.get(key)
            if entry is None:
                return None
            self.items.move_to_end(key)
            return entry[0]

    def put(self, key, value, size: int) -> None:
        if size > self.budget // 16:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = (value, size)
            self.used += size
            while self.used > self.budget:
                _, (_, dropped) = self.items.popitem(last=False)
                self.used -= dropped

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.used = 0


_GLYPHS = _Cache(32 << 20)
_TEXTS = _Cache(64 << 20)


@lru_cache(maxsize=1)
def _cap_ratio() -> float:
    """Cap height / font size of the default font (about 0.7 for Aileron)."""
    try:
        with _FONT_LOCK:
            _, top, _, bottom = ImageFont.load_default(size=100).getbbox("H")
    except Exception:      # no scalable default font (Pillow < 10.1 or no FreeType)
        return 0.7
    return max(0.3, (bottom - top) / 100.0)


@lru_cache(maxsize=64)
def font_for_cap(cap_px: int):
    """The default scalable font with capitals ``cap_px`` pixels tall (bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=max(4, round(cap_px / _cap_ratio())))
    except TypeError:       # Pillow < 10.1: no scalable default font
        return ImageFont.load_default()


def _glyph(char: str, cap_px: int, outline_px: int) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    """One character: (fill, outline) masks, their offset from the pen position, the advance."""
    key = (char, cap_px, outline_px)
    glyph = _GLYPHS.get(key)
    if glyph is None:
        glyph = _render_glyph(char, cap_px, outline_px)
        _GLYPHS.put(key, glyph, glyph[0].nbytes + glyph[1].nbytes)
    return glyph


def _render_glyph(char: str, cap_px: int, outline_px: int) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    font = font_for_cap(cap_px)
    with _FONT_LOCK:
        left, top, right, bottom = font.getbbox(char, stroke_width=outline_px)
        size = (max(1, right - left), max(1, bottom - top))
        stroked, filled = Image.new("L", size), Image.new("L", size)
        ImageDraw.Draw(stroked).text((-left, -top), char, font=font, fill=255, stroke_width=outline_px,
                                     stroke_fill=255)
        ImageDraw.Draw(filled).text((-left, -top), char, font=font, fill=255)
        advance = font.getlength(char)
    fill = np.asarray(filled, dtype=np.float32) / 255.0
    outline = np.maximum(np.asarray(stroked, dtype=np.float32) / 255.0, fill)
    fill.flags.writeable = outline.flags.writeable = False
    return fill, outline, left, top, advance


def _pillow_text(text: str, font, spacing: int, align: str, outline_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-text rendering by Pillow: the fallback for fonts without per-glyph metrics."""
    with _FONT_LOCK:
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        box = probe.multiline_textbbox((0, 0), text, font=font, spacing=spacing, align=align)
        width, height = math.ceil(box[2] - box[0]), math.ceil(box[3] - box[1])   # floats if centred
        size = (max(1, width + 2 * outline_px), max(1, height + 2 * outline_px))
        filled = Image.new("L", size)
        ImageDraw.Draw(filled).multiline_text((outline_px - box[0], outline_px - box[1]), text, font=font,
                                              fill=255, spacing=spacing, align=align)
    fill = np.asarray(filled, dtype=np.float32) / 255.0
    return fill, dilate(fill, outline_px)


def text_masks(text: str, cap_px: int, align: str, outline_px: int,
               room: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fill, outline) coverage masks (float32 0..1, same shape) of a text, ``outline_px`` of room
    on every side. Cached: callers must not modify them.

    Assembled from cached glyphs (a film repeats the same characters at the same
    size in every box): about 20x faster than rendering every text with Pillow;
    the difference is that kerning pairs are not applied. At most
    :data:`MAX_TEXT_CHARS` characters; with ``room`` (rows, columns), lines and
    characters that start beyond it are left out (they would be clipped anyway).
    """
    key = (text, cap_px, align, outline_px, room)
    masks = _TEXTS.get(key)
    if masks is None:
        masks = _text_masks(text[:MAX_TEXT_CHARS], cap_px, align, outline_px, room)
        _TEXTS.put(key, masks, masks[0].nbytes + masks[1].nbytes)
    return masks


text_masks.cache_clear = _TEXTS.clear     # type: ignore[attr-defined]


def _text_masks(text: str, cap_px: int, align: str, outline_px: int,
                room: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = room or (1 << 30, 1 << 30)
    font = font_for_cap(cap_px)
    spacing = max(1, cap_px // 4)
    if not isinstance(font, ImageFont.FreeTypeFont):
        fill, outline = _pillow_text(text, font, spacing, align, outline_px)
    else:
        with _FONT_LOCK:
            ascent, descent = font.getmetrics()
        placed: list[tuple[int, int, np.ndarray, np.ndarray]] = []     # (x, y, fill, outline) of every glyph
        lines = text.split("\n")
        widths = []
        for n, line in enumerate(lines):
            pen, y = 0.0, n * (ascent + descent + spacing)
            if y > rows:
                break
            start = len(placed)
            for char in line:
                if pen > columns:
                    break
                g_fill, g_outline, left, top, advance = _glyph(char, cap_px, outline_px)
                if char.strip():
                    placed.append((int(round(pen)) + left, y + top, g_fill, g_outline))
                pen += advance
            widths.append((start, len(placed), pen))
        if not placed:
            return np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32)
        block = max(w for _, _, w in widths)
        for start, stop, width in widths:          # align each line within the block
            shift = 0 if align == "left" else int(round(block - width)) // (1 if align == "right" else 2)
            for i in range(start, stop):
                x, y, g_fill, g_outline = placed[i]
                placed[i] = (x + shift, y, g_fill, g_outline)
        x0 = min(x for x, _, f, _ in placed)
        y0 = min(y for _, y, f, _ in placed)
        x1 = max(x + f.shape[1] for x, _, f, _ in placed)
        y1 = max(y + f.shape[0] for _, y, f, _ in placed)
        fill = np.zeros((y1 - y0, x1 - x0), np.float32)
        outline = np.zeros_like(fill)
        for x, y, g_fill, g_outline in placed:
            region = (slice(y - y0, y - y0 + g_fill.shape[0]), slice(x - x0, x - x0 + g_fill.shape[1]))
            np.maximum(fill[region], g_fill, out=fill[region])
            np.maximum(outline[region], g_outline, out=outline[region])
    fill.flags.writeable = outline.flags.writeable = False
    return fill, outline


def text_block(text: str, size_mm: float, dpi: int, ink: Ink, align: str = "left",
               room: tuple[int, int] | None = None) -> Block | None:
    """A text rendered for a film at ``dpi``: capitals ``size_mm`` tall, on an image of ``room``
    (rows, columns) printer pixels (see :func:`text_masks`). None for empty text."""
    if not text.strip():
        return None
    cap = px(size_mm, dpi, least=4)
    outline = max(1, round(cap / 12)) if ink.outline is not None else 0
    fill, stroke = text_masks(text, cap, align, outline, room)
    return Block(fill, stroke if outline else None, ink, gap=max(1, cap // 4))


def _align(at: str) -> str:
    return "right" if at.endswith("right") else "left" if at.endswith("left") else "center"


def annotation_blocks(annotations: list[dict], ds: Dataset, frame: int, computed: dict[str, str],
                      dpi: int, ink_of, room: tuple[int, int] | None = None) -> list[tuple[str, Block]]:
    """Normalised annotations of a frame -> (position, block) pairs; empty texts are left out.
    ``room``: the (rows, columns) of the image they are painted on."""
    blocks = []
    for annotation in annotations:
        text = render_template(annotation["text"], ds, frame, computed)
        block = text_block(text, annotation.get("size_mm") or DEFAULT_SIZE_MM, dpi, ink_of(annotation),
                           _align(annotation["at"]), room)
        if block is not None:
            blocks.append((annotation["at"], block))
    return blocks
