"""Film geometry: film sizes, Image Display Format parsing and image box rectangles.

Everything here is pure arithmetic on the DICOM Basic Film Box attributes
(PS3.3 C.13.8): Film Size ID (2010,0050), Film Orientation (2010,0040) and
Image Display Format (2010,0010).

Display formats and how they are laid out
-----------------------------------------
``STANDARD\\C,R``
    C columns x R rows of equal boxes.
``ROW\\n1,n2,...``
    one row per value, each row split into n_i equal boxes; all rows equally tall.
``COL\\n1,n2,...``
    one column per value, each column split into n_i equal boxes; all columns equally wide.
``SLIDE``
    35 boxes (the standard leaves the count to the configuration): 5 across the
    short side of the film and 7 along the long side, so 5 columns x 7 rows in
    PORTRAIT and 7 columns x 5 rows in LANDSCAPE.
``SUPERSLIDE``
    40 boxes the same way: 5 across the short side, 8 along the long side.
``CUSTOM``
    no grid: each frame gives its rectangle on the film, ``rect_mm`` =
    [x, y, width, height] in millimetres from the film's top-left corner (in
    the film's orientation). The formatter composes the whole film itself and
    sends it as one image box (``STANDARD\\1,1``); see :mod:`hcserver.formatter.pipeline`.
    At most :data:`MAX_CUSTOM_FRAMES` frames. (Numbered ``CUSTOM\\i`` formats
    are printer specific and refused.)

Image positions (1-based, as in Image Position (2020,0010)) run left to right,
then top to bottom, except for ``COL`` where they run top to bottom, then left
to right (column by column).

Limits (chosen so every box stays usable on the smallest film, 8INX10IN):
at most :data:`MAX_PER_LINE` (10) boxes in a row or column and at most
:data:`MAX_LINES` (10) rows or columns, i.e. at most 100 boxes per film.

Boxes are separated from each other and from the film edge by :data:`GAP_MM`
(2 mm), at least one printer pixel.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hcserver.formatter.film import BoxRect

MM_PER_INCH = 25.4

#: Film Size ID -> (short side, long side, unit). PORTRAIT puts the short side across.
#: PS3.3 C.13.8 notes that 10INX14IN corresponds with 25.7CMX36.4CM (the film sold under that
#: name), so it is measured in millimetres here.
FILM_SIZES: dict[str, tuple[float, float, str]] = {
    "8INX10IN": (8, 10, "in"),
    "8_5INX11IN": (8.5, 11, "in"),
    "10INX12IN": (10, 12, "in"),
    "10INX14IN": (257, 364, "mm"),
    "11INX14IN": (11, 14, "in"),
    "11INX17IN": (11, 17, "in"),
    "14INX14IN": (14, 14, "in"),
    "14INX17IN": (14, 17, "in"),
    "24CMX24CM": (240, 240, "mm"),
    "24CMX30CM": (240, 300, "mm"),
    "A4": (210, 297, "mm"),
    "A3": (297, 420, "mm"),
}
from hcserver.formatter.orientation import ORIENTATIONS  # noqa: E402 - re-exported here

#: "14x17", "14INx17in", "24 x 30 cm": two sides and an optional unit on either (inches unless said)
_SIZE_TEXT = re.compile(r"(\d+(?:[._]\d+)?)(IN|CM)?X(\d+(?:[._]\d+)?)(IN|CM)?")


def film_size_id(text: str) -> str:
    """The Film Size ID ``text`` means: case, spaces and a left-out unit are forgiven, so
    ``14x17``, ``14inx17in`` and ``14INx17IN`` are all ``14INX17IN`` and ``a4`` is ``A4``. A text
    that names no known size comes back upper-cased, for the caller to refuse with the list."""
    upper = text.strip().upper().replace(" ", "")
    if upper in FILM_SIZES:
        return upper
    found = _SIZE_TEXT.fullmatch(upper)
    if found:
        short, unit_a, long_, unit_b = found.groups()
        unit = unit_a or unit_b or "IN"
        candidate = f"{short}{unit_a or unit}X{long_}{unit_b or unit}".replace(".", "_")
        if candidate in FILM_SIZES:
            return candidate
    return upper
MAGNIFICATIONS = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")   # Magnification Type: how a box is filled
KINDS = ("STANDARD", "ROW", "COL", "SLIDE", "SUPERSLIDE")
CUSTOM = "CUSTOM"
MAX_CUSTOM_FRAMES = 100
MIN_CUSTOM_MM = 1.0

MAX_PER_LINE = 10
MAX_LINES = 10
GAP_MM = 2.0
MIN_BOX_MM = 10.0
MAX_DPI = 2400

#: slides: (boxes across the short side, boxes along the long side)
_SLIDES = {"SLIDE": (5, 7), "SUPERSLIDE": (5, 8)}

_EXAMPLES = "e.g. STANDARD\\2,3, ROW\\2,1, COL\\1,2, SLIDE, SUPERSLIDE or CUSTOM"


@dataclass(frozen=True)
class Grid:
    """A display format resolved for an orientation.

    ``lines`` holds the box count of each row (``by_rows``) or of each column.
    """

    by_rows: bool
    lines: tuple[int, ...]

    @property
    def boxes(self) -> int:
        return sum(self.lines)


def _counts(text: str, layout: str, what: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"layout '{layout}': expected comma-separated whole numbers after the "
                         f"backslash ({_EXAMPLES})")
    counts = []
    for part in parts:
        if not part.isdigit():
            raise ValueError(f"layout '{layout}': {part!r} is not a whole number ({_EXAMPLES})")
        value = int(part)
        if value < 1:
            raise ValueError(f"layout '{layout}': {what} must be at least 1, got {value}")
        if value > MAX_PER_LINE:
            raise ValueError(f"layout '{layout}': {value} {what} is more than the limit of "
                             f"{MAX_PER_LINE}")
        counts.append(value)
    return tuple(counts)


def parse_layout(layout: str, orientation: str = "PORTRAIT") -> Grid:
    """Parse an Image Display Format into rows (or columns) of boxes.

    Raises ValueError naming what is wrong.
    """
    if not isinstance(layout, str) or not layout.strip():
        raise ValueError(f"layout {layout!r}: expected a display format ({_EXAMPLES})")
    kind, sep, rest = layout.strip().partition("\\")
    kind = kind.strip().upper()
    if kind == CUSTOM:
        if sep:
            raise ValueError(f"layout '{layout}': numbered CUSTOM\\i display formats are printer "
                             f"specific and not supported; use CUSTOM with a rect_mm for each frame")
        raise ValueError(f"layout '{layout}': CUSTOM has no grid of boxes; its frames are placed "
                         f"by their rect_mm")
    if kind not in KINDS:
        raise ValueError(f"layout '{layout}': unknown display format {kind!r} (one of "
                         f"{', '.join(KINDS)}; {_EXAMPLES})")
    if kind in _SLIDES:
        if sep:
            raise ValueError(f"layout '{layout}': {kind} takes no values after a backslash")
        across, along = _SLIDES[kind]
        if _orientation(orientation) == "LANDSCAPE":
            return Grid(True, (along,) * across)
        return Grid(True, (across,) * along)
    if not sep:
        raise ValueError(f"layout '{layout}': {kind} needs values after a backslash ({_EXAMPLES})")
    if kind == "STANDARD":
        counts = _counts(rest, layout, "columns/rows")
        if len(counts) != 2:
            raise ValueError(f"layout '{layout}': STANDARD takes exactly two values, columns and rows "
                             f"(e.g. STANDARD\\2,3)")
        columns, rows = counts
        return Grid(True, (columns,) * rows)
    what = "boxes in a row" if kind == "ROW" else "boxes in a column"
    counts = _counts(rest, layout, what)
    if len(counts) > MAX_LINES:
        raise ValueError(f"layout '{layout}': {len(counts)} {'rows' if kind == 'ROW' else 'columns'} "
                         f"is more than the limit of {MAX_LINES}")
    return Grid(kind == "ROW", counts)


def is_custom(layout) -> bool:
    """True for the ``CUSTOM`` layout (frames placed by rect_mm), in any case."""
    return isinstance(layout, str) and layout.strip().upper() == CUSTOM


def canonical_layout(layout: str) -> str:
    """The display format as sent to a printer: upper case, no spaces ("standard\\ 2, 2" ->
    "STANDARD\\2,2")."""
    if is_custom(layout):
        return CUSTOM
    parse_layout(layout)
    kind, sep, rest = layout.strip().partition("\\")
    kind = kind.strip().upper()
    if not sep:
        return kind
    return f"{kind}\\{','.join(str(int(p)) for p in rest.split(','))}"


def film_box_count(layout: str) -> int:
    """Number of image boxes of a display format ("STANDARD\\2,2" -> 4, "SLIDE" -> 35).

    For ``CUSTOM``: the most frames a custom film may hold (:data:`MAX_CUSTOM_FRAMES`).
    """
    if is_custom(layout):
        return MAX_CUSTOM_FRAMES
    return parse_layout(layout).boxes


def _orientation(orientation: str) -> str:
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation {orientation!r}: expected PORTRAIT or LANDSCAPE")
    return orientation


def film_size_mm(film_size: str, orientation: str) -> tuple[float, float]:
    """(width, height) of the film in millimetres."""
    if film_size not in FILM_SIZES:
        raise ValueError(f"film size {film_size!r}: unknown (one of {', '.join(FILM_SIZES)})")
    short, long_, unit = FILM_SIZES[film_size]
    scale = MM_PER_INCH if unit == "in" else 1.0
    width, height = short * scale, long_ * scale
    if _orientation(orientation) == "LANDSCAPE":
        width, height = height, width
    return width, height


def _round(value: float) -> int:
    return int(math.floor(value + 0.5))


def film_pixels(film_size: str, orientation: str, dpi: int) -> tuple[int, int]:
    """(width, height) of the whole film in printer pixels at ``dpi``; LANDSCAPE swaps."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 1 <= dpi <= MAX_DPI:
        raise ValueError(f"dpi {dpi!r}: expected a whole number from 1 to {MAX_DPI}")
    if film_size not in FILM_SIZES:
        raise ValueError(f"film size {film_size!r}: unknown (one of {', '.join(FILM_SIZES)})")
    short, long_, unit = FILM_SIZES[film_size]
    per_unit = dpi if unit == "in" else dpi / MM_PER_INCH
    width, height = _round(short * per_unit), _round(long_ * per_unit)
    if _orientation(orientation) == "LANDSCAPE":
        width, height = height, width
    return width, height


def validate_layout(layout: str, orientation: str, film_size: str) -> None:
    """Check that ``layout`` can be printed on ``film_size`` in ``orientation``.

    Raises ValueError naming the problem: unknown film size or orientation,
    a malformed display format, a count outside the limits (1..10 boxes per
    row or column, at most 10 rows or columns) or boxes smaller than
    :data:`MIN_BOX_MM` on this film. ``CUSTOM`` is valid on every film; its
    frames' rectangles are checked by :func:`custom_rect_problem`.
    """
    width, height = film_size_mm(film_size, orientation)
    if is_custom(layout):
        return
    grid = parse_layout(layout, orientation)
    across = max(grid.lines) if grid.by_rows else len(grid.lines)
    down = len(grid.lines) if grid.by_rows else max(grid.lines)
    box_w = (width - (across + 1) * GAP_MM) / across
    box_h = (height - (down + 1) * GAP_MM) / down
    if min(box_w, box_h) < MIN_BOX_MM:
        raise ValueError(f"layout '{layout}': boxes of {box_w:.0f} x {box_h:.0f} mm on {film_size} "
                         f"{orientation} are smaller than {MIN_BOX_MM:.0f} mm")


def _split(total: int, count: int, gap: int) -> list[tuple[int, int]]:
    """Split ``total`` pixels into ``count`` (start, size) spans separated by ``gap``."""
    avail = total - (count + 1) * gap
    if avail < count:
        raise ValueError(f"{count} boxes do not fit in {total} pixels")
    return [(gap * (i + 1) + avail * i // count, avail * (i + 1) // count - avail * i // count)
            for i in range(count)]


def gap_pixels(dpi: int) -> int:
    return max(1, _round(GAP_MM * dpi / MM_PER_INCH))


def box_rects(layout: str, orientation: str, film_size: str, dpi: int) -> tuple[BoxRect, ...]:
    """The rectangle of every image box, in Image Position order (index 0 is position 1)."""
    width, height = film_pixels(film_size, orientation, dpi)
    grid = parse_layout(layout, orientation)
    gap = gap_pixels(dpi)
    rects: list[BoxRect] = []
    if grid.by_rows:
        for row, (y, h) in zip(grid.lines, _split(height, len(grid.lines), gap)):
            rects.extend(BoxRect(x, y, w, h) for x, w in _split(width, row, gap))
    else:
        for column, (x, w) in zip(grid.lines, _split(width, len(grid.lines), gap)):
            rects.extend(BoxRect(x, y, w, h) for y, h in _split(height, column, gap))
    return tuple(rects)


def custom_rect_problem(rect_mm, film_size: str, orientation: str) -> str | None:
    """Why ``rect_mm`` ([x, y, width, height] in mm) is not a usable CUSTOM frame, or None."""
    if (not isinstance(rect_mm, (list, tuple)) or len(rect_mm) != 4
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                   for v in rect_mm)):
        return f"{rect_mm!r}: expected [x, y, width, height] in millimetres"
    x, y, w, h = rect_mm
    if w < MIN_CUSTOM_MM or h < MIN_CUSTOM_MM:
        return f"{list(rect_mm)!r}: width and height must be at least {MIN_CUSTOM_MM:g} mm"
    if x < 0 or y < 0:
        return f"{list(rect_mm)!r}: x and y must not be negative"
    film_w, film_h = film_size_mm(film_size, orientation)
    slack = 1e-6
    if x + w > film_w + slack or y + h > film_h + slack:
        return (f"{list(rect_mm)!r} reaches {x + w:g} x {y + h:g} mm, outside the {film_size} "
                f"{orientation} film ({film_w:g} x {film_h:g} mm)")
    return None


def custom_rect(rect_mm, film_size: str, orientation: str, dpi: int) -> BoxRect:
    """A CUSTOM frame's rectangle in printer pixels. Edges are rounded independently, so
    frames that touch in millimetres touch in pixels."""
    width, height = film_pixels(film_size, orientation, dpi)
    per_mm = dpi / MM_PER_INCH
    x, y, w, h = (float(v) for v in rect_mm)
    left, top = min(width - 1, _round(x * per_mm)), min(height - 1, _round(y * per_mm))
    right, bottom = min(width, _round((x + w) * per_mm)), min(height, _round((y + h) * per_mm))
    return BoxRect(left, top, max(1, right - left), max(1, bottom - top))
