"""Film layout: the Image Display Formats the simulator accepts, and film sizes in mm."""
from __future__ import annotations

import re

# Slide formats are configuration dependent in the standard; these are ours.
SLIDE_LAYOUTS = {"SLIDE": (4, 5), "SUPERSLIDE": (4, 4)}
MAX_IMAGE_BOXES = 400

_FILM_SIZES_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
_FILM_SIZE_RE = re.compile(r"(\d+(?:_\d+)?)(IN|CM)X(\d+(?:_\d+)?)(IN|CM)")


def parse_display_format(value: str) -> tuple[str, list[tuple[float, float, float, float]]]:
    """Parse an Image Display Format into its kind and one (x, y, w, h) rectangle
    per image position (fractions of the sheet, in Image Position order).

    ``STANDARD\\C,R``: C columns by R rows, row by row. ``ROW\\n1,n2,...``: one
    row per value with that many images. ``COL\\n1,n2,...``: one column per
    value, positions column by column. ``SLIDE`` and ``SUPERSLIDE`` use the
    layouts in :data:`SLIDE_LAYOUTS`. Raises ValueError otherwise.
    """
    text = str(value).strip().upper()
    kind, _, args = text.partition("\\")
    kind = kind.strip()

    def numbers() -> list[int]:
        try:
            nums = [int(n) for n in args.split(",")]
        except ValueError:
            raise ValueError(f"bad Image Display Format {value}") from None
        if not nums or any(n < 1 for n in nums):
            raise ValueError(f"bad Image Display Format {value}")
        return nums

    rects: list[tuple[float, float, float, float]] = []
    if kind in SLIDE_LAYOUTS and not args:
        kind, args = "STANDARD", "{},{}".format(*SLIDE_LAYOUTS[kind])
        kind_name = text
    else:
        kind_name = kind
    if kind == "STANDARD":
        nums = numbers()
        if len(nums) != 2:
            raise ValueError(f"bad Image Display Format {value}")
        cols, rows = nums
        if cols * rows > MAX_IMAGE_BOXES:
            raise ValueError(f"too many image boxes in {value}")
        for r in range(rows):
            for c in range(cols):
                rects.append((c / cols, r / rows, 1 / cols, 1 / rows))
    elif kind == "ROW":
        nums = numbers()
        if sum(nums) > MAX_IMAGE_BOXES:
            raise ValueError(f"too many image boxes in {value}")
        for r, n in enumerate(nums):
            for c in range(n):
                rects.append((c / n, r / len(nums), 1 / n, 1 / len(nums)))
    elif kind == "COL":
        nums = numbers()
        if sum(nums) > MAX_IMAGE_BOXES:
            raise ValueError(f"too many image boxes in {value}")
        for c, n in enumerate(nums):
            for r in range(n):
                rects.append((c / len(nums), r / n, 1 / len(nums), 1 / n))
    else:
        raise ValueError(f"unsupported Image Display Format {value}")
    return kind_name, rects


def film_size_mm(film_size_id: str) -> tuple[float, float] | None:
    """(width, height) in mm of a Film Size ID, portrait, or None if unknown."""
    fs = str(film_size_id).strip().upper()
    if fs in _FILM_SIZES_MM:
        return _FILM_SIZES_MM[fs]
    m = _FILM_SIZE_RE.fullmatch(fs)
    if not m:
        return None

    def mm(num: str, unit: str) -> float:
        v = float(num.replace("_", "."))
        return v * (25.4 if unit == "IN" else 10.0)

    return mm(m.group(1), m.group(2)), mm(m.group(3), m.group(4))
