"""Choosing a STANDARD\\C,R layout for a number of images when the job gives none.

Candidates are every ``STANDARD\\C,R`` with 1..10 columns and rows that
:func:`hcserver.formatter.geometry.validate_layout` accepts on the film (or only the
STANDARD formats in ``allowed`` when the printer restricts its display
formats). Images are assumed square; the image size of a layout is the side
of the largest square that fits its boxes.

Ranking, best first:

1. fewest films for ``count`` images (the images are split over films in order);
2. largest image;
3. fewest boxes (so a film never has a whole empty row or column).

Layouts whose images would be smaller than :data:`MIN_IMAGE_MM` are used only
when nothing else is possible: past that point more films are better than
unreadable images.

Examples on 14INX17IN PORTRAIT: 1 image -> STANDARD\\1,1, 2 -> 1,2,
3 or 4 -> 2,2, 5 or 6 -> 2,3, 20 -> 4,5.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from hcserver.formatter.geometry import GAP_MM, film_size_mm, parse_layout, validate_layout

MIN_IMAGE_MM = 30.0
_MAX = 10


def _image_side(columns: int, rows: int, width: float, height: float) -> float:
    box_w = (width - (columns + 1) * GAP_MM) / columns
    box_h = (height - (rows + 1) * GAP_MM) / rows
    return min(box_w, box_h)


def _standard(layout: str, orientation: str) -> tuple[int, int] | None:
    """(columns, rows) of a STANDARD layout, else None."""
    if not isinstance(layout, str) or not layout.strip().upper().startswith("STANDARD"):
        return None
    try:
        grid = parse_layout(layout, orientation)
    except ValueError:
        return None
    return grid.lines[0], len(grid.lines)


def auto_layout(count: int, film_size: str, orientation: str, allowed: Sequence[str] = ()) -> str:
    """The STANDARD\\C,R layout that prints ``count`` images best on this film.

    ``allowed``: the printer's display formats, if it restricts them (only
    their STANDARD ones are candidates). Raises ValueError for a count below 1,
    an unknown film size or orientation, or when ``allowed`` has no STANDARD
    layout usable on this film.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"image count {count!r}: expected a whole number of at least 1")
    width, height = film_size_mm(film_size, orientation)
    if allowed:
        pairs = {p for p in (_standard(layout, orientation) for layout in allowed) if p}
    else:
        pairs = {(c, r) for c in range(1, _MAX + 1) for r in range(1, _MAX + 1)}
    usable = []
    for columns, rows in sorted(pairs):
        try:
            validate_layout(f"STANDARD\\{columns},{rows}", orientation, film_size)
        except ValueError:
            continue
        usable.append((columns, rows))
    if not usable:
        raise ValueError(f"no STANDARD layout among {', '.join(allowed)} fits {film_size} {orientation}"
                         if allowed else f"no STANDARD layout fits {film_size} {orientation}")
    readable = [p for p in usable if _image_side(*p, width, height) >= MIN_IMAGE_MM] or usable

    def rank(pair: tuple[int, int]) -> tuple[int, float, int]:
        columns, rows = pair
        boxes = columns * rows
        films = math.ceil(count / boxes)
        # Rounded to 0.01 mm so layouts equal but for float noise tie on size.
        return films, -round(_image_side(columns, rows, width, height), 2), boxes

    columns, rows = min(readable, key=rank)
    return f"STANDARD\\{columns},{rows}"
