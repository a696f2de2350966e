"""DICOM overlay planes (groups 6000..601E), burnt into the printed image.

Each plane with Overlay Data is read with pydicom's ``Dataset.overlay_array``
and placed on the image grid at its Overlay Origin (1-based row\\column);
multi-frame overlays apply to frames Image Frame Origin ..
+ Number of Frames in Overlay - 1. Graphics (G) and ROI (R) planes are both
burnt in. The mask is scaled with the image (box kernel: replicated when
enlarged; when reduced a printed pixel is marked if any overlay pixel falls in
it, so one-pixel lines survive) and painted white with a one-pixel dark
outline (:mod:`hcserver.formatter.paint`). A plane that cannot be read is skipped with
a note rather than failing the film, and so is one that declares more than
:data:`ROOM` times the image's pixels: pydicom unpacks a plane whole, a byte per
bit, and only the part on the image is printed.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from hcserver.formatter.paint import Ink, dilate, paint
from hcserver.formatter.resample import resample
from hcserver.formatter.sizing import Placement

GROUPS = tuple(range(0x6000, 0x6020, 2))
#: An overlay plane may declare at most this many times the pixels of its image (all frames).
ROOM = 4
OVERLAY_INK = Ink()


def _int(ds: Dataset, group: int, element: int, default: int) -> int:
    item = ds.get((group << 16) | element)
    try:
        value = item.value if item is not None else None
        if isinstance(value, (list, tuple, MultiValue)):
            value = value[0] if len(value) else None
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError, IndexError):
        return default


def overlay_groups(ds: Dataset) -> list[int]:
    """The overlay groups that carry Overlay Data."""
    return [g for g in GROUPS if ((g << 16) | 0x3000) in ds]


def overlay_mask(ds: Dataset, group: int, frame: int, rows: int, columns: int) -> np.ndarray | None:
    """The plane's mask for ``frame`` on the image grid (bool, rows x columns), or None
    when it does not apply to this frame or marks nothing. Raises on unreadable data."""
    first = _int(ds, group, 0x0051, 1) - 1
    count = _int(ds, group, 0x0015, 1)
    if not first <= frame < first + count:
        return None
    data = np.asarray(ds.overlay_array(group))
    plane = data[frame - first] if data.ndim == 3 else data
    origin = ds.get((group << 16) | 0x0050)
    top, left = (int(origin.value[0]) - 1, int(origin.value[1]) - 1) if origin is not None else (0, 0)
    mask = np.zeros((rows, columns), dtype=bool)
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(rows, top + plane.shape[0]), min(columns, left + plane.shape[1])
    if y1 <= y0 or x1 <= x0:
        return None
    mask[y0:y1, x0:x1] = plane[y0 - top:y1 - top, x0 - left:x1 - left] != 0
    return mask if mask.any() else None


def printed_mask(mask: np.ndarray, placement: Placement) -> np.ndarray:
    """An image-grid mask -> float coverage (0/1) on the printed pixels."""
    mask = placement.crop(mask)
    if mask.shape == (placement.rows, placement.columns):
        return mask.astype(np.float32)
    coverage = resample(mask.astype(np.float32), placement.rows, placement.columns, "REPLICATE")
    return (coverage > 1e-4).astype(np.float32)


def _too_large(ds: Dataset, group: int, rows: int, columns: int) -> str | None:
    """Why the plane is larger than an overlay of this image can be, from its header."""
    height, width, count = _int(ds, group, 0x0010, 0), _int(ds, group, 0x0011, 0), _int(ds, group, 0x0015, 1)
    frames = max(1, _int(ds, 0x0028, 0x0008, 1))
    if height * width * count <= ROOM * rows * columns * frames:
        return None
    return (f"{width}x{height} pixels in {count} frame(s), more than {ROOM} times the image "
            f"({columns}x{rows} in {frames})")


def burn_overlays(levels: np.ndarray, ds: Dataset, frame: int, placement: Placement, out_max: int) -> list[str]:
    """Paint every overlay plane of ``frame``; returns notes about planes that were skipped."""
    notes = []
    rows, columns = int(ds.Rows), int(ds.Columns)
    for group in overlay_groups(ds):
        problem = _too_large(ds, group, rows, columns)
        if problem:
            notes.append(f"overlay plane {group:04X} skipped: {problem}")
            continue
        try:
            mask = overlay_mask(ds, group, frame, rows, columns)
        except Exception as exc:
            notes.append(f"overlay plane {group:04X} skipped: cannot be read ({type(exc).__name__}: {exc})")
            continue
        if mask is None:
            continue
        fill = printed_mask(mask, placement)
        paint(levels, fill, dilate(fill, 1), 0, 0, OVERLAY_INK, out_max)
    return notes
