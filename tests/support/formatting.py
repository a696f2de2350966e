"""Formatting one image the way the formatter tests look at it, and the standard's formulas
written out independently of the formatter."""
from __future__ import annotations

import numpy as np

from hcserver import formatter as F


def one_box(path: str, *, window=None, polarity="NORMAL", frame=0, magnification="NONE",
            profile: F.PrinterProfile | None = None, layout="STANDARD\\1,1", **keys) -> F.FilmSheet:
    """One image on an 8x10 film at 100 dpi; ``keys`` are frame options (contrast, annotations, …)
    or film options (film_size, border_density, …)."""
    frame_keys = {k: v for k, v in keys.items() if k in F.FRAME_OPTIONS}
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": layout,
            "magnification": magnification, "border_density": None, "empty_image_density": None,
            "trim": None, "smoothing": None,
            "frames": [{"image": "img", "frame": frame, "position": None, "window": window,
                        "polarity": polarity, "annotations": [], "overlays": True, **frame_keys}]}
    film.update({k: v for k, v in keys.items() if k not in F.FRAME_OPTIONS})
    return F.format_film(film, {"img": path}, profile or F.PrinterProfile(dpi=100))


def linear(x, c, w):
    """PS3.3 C.11.2.1.2.1, 8-bit output, written out independently of the formatter."""
    x = np.asarray(x, dtype=np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0, np.where(x > c - 0.5 + (w - 1) / 2, 255, y))
    return np.floor(y + 0.5).astype(np.uint8)
