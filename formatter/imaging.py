"""Pixel values -> printable levels: modality LUT, VOI, MONOCHROME1, colour.

Grayscale pipeline (PS3.4 N.2, "grayscale transformations"):

1. Modality LUT: Modality LUT Sequence (pydicom's ``apply_modality_lut``) or
   Rescale Slope/Intercept, per frame for enhanced multi-frame images
   (Pixel Value Transformation in the functional groups).
2. VOI, in this order of preference: the job's window; the dataset's VOI LUT
   Sequence (pydicom's ``apply_voi``); the dataset's first Window Center/Width
   (per frame for enhanced images); else the frame's min..max.
   Windows use the dataset's VOI LUT Function (LINEAR, LINEAR_EXACT, SIGMOID;
   the PS3.3 C.11.2.1.2 formulas). A job window narrower than 1 under LINEAR
   is applied as LINEAR_EXACT; an unusable dataset window is skipped with a note.
3. MONOCHROME1 is inverted, so levels are always MONOCHROME2-like (high = bright).

Polarity is *not* applied here: it travels with the image box (Polarity
(2020,0020)) and the printer, or :func:`formatter.compose.compose`, applies it.

For integer frames whose value range is no larger than the frame the whole
pipeline is evaluated once per possible stored value (a lookup table) and then
indexed, which is both exact and fast (a 512x512 CT costs about 1 ms).

Levels are float32 scaled to 0..``out_max`` (255 or 4095) *plus 0.5*, so that
after resampling ``quantise`` can round by truncation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
LUMA = (0.299, 0.587, 0.114)   # ITU-R BT.601, the weights of YBR_FULL
_MAX_LUT = 1 << 20


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"


def _first(value) -> float:
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0]
    return float(value)


def frame_item(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """The first item of a functional group macro for ``frame``: per-frame, else shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        seq = per_frame[frame].get(keyword)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(keyword)
        if seq:
            return seq[0]
    return None


def _rescale(ds: Dataset, frame: int) -> tuple[float, float]:
    source = frame_item(ds, frame, "PixelValueTransformationSequence") or ds
    slope = source.get("RescaleSlope")
    intercept = source.get("RescaleIntercept")
    return (float(slope) if slope not in (None, "") else 1.0,
            float(intercept) if intercept not in (None, "") else 0.0)


def _voi_function(source: Dataset) -> str:
    name = str(source.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    return name if name in VOI_FUNCTIONS else "LINEAR"


def dataset_window(ds: Dataset, frame: int) -> Window | None:
    """The dataset's first window for ``frame`` (functional groups first), or None."""
    source = frame_item(ds, frame, "FrameVOILUTSequence") or ds
    center, width = source.get("WindowCenter"), source.get("WindowWidth")
    if center in (None, "") or width in (None, ""):
        return None
    return Window(_first(center), _first(width), _voi_function(source))


def window_unit(x: np.ndarray, window: Window) -> np.ndarray:
    """Apply a window (PS3.3 C.11.2.1.2) to float values, giving 0..1 in x's float type."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        with np.errstate(over="ignore"):
            y = np.exp(-4.0 * (x - c) / w)
        y += 1.0
        return np.reciprocal(y, out=y)
    if window.function == "LINEAR_EXACT":
        y = (x - c) / w + 0.5
    elif w <= 1.0:
        return (x > c - 0.5).astype(x.dtype)
    else:
        y = (x - (c - 0.5)) / (w - 1.0) + 0.5
    return np.clip(y, 0.0, 1.0, out=y)


def _check_window(window: Window) -> str | None:
    if not np.isfinite(window.center) or not np.isfinite(window.width) or window.width <= 0:
        return f"window center {window.center:g} / width {window.width:g}"
    if window.function == "LINEAR" and window.width < 1:
        return f"LINEAR window width {window.width:g} < 1"
    return None


@dataclass(frozen=True)
class Grey:
    """The grayscale transform of one frame, built from the dataset and the job."""

    ds: Dataset
    frame: int
    window: Window | None
    use_voi_lut: bool
    invert: bool
    note: str | None = None

    @classmethod
    def build(cls, ds: Dataset, frame: int, job_window: dict | None) -> Grey:
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        invert = photometric == "MONOCHROME1"
        note = None
        function = _voi_function(frame_item(ds, frame, "FrameVOILUTSequence") or ds)
        if job_window is not None:
            window = Window(float(job_window["center"]), float(job_window["width"]), function)
            if window.function == "LINEAR" and 0 < window.width < 1:
                window = Window(window.center, window.width, "LINEAR_EXACT")
            problem = _check_window(window)
            if problem:
                raise ValueError(f"unusable {problem}")
            return cls(ds, frame, window, False, invert)
        if ds.get("VOILUTSequence"):
            return cls(ds, frame, None, True, invert)
        window = dataset_window(ds, frame)
        if window is not None:
            problem = _check_window(window)
            if problem:
                note = f"ignored the image's {problem}; printed with its full range"
                window = None
        return cls(ds, frame, window, False, invert, note)

    def modality(self, values: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Stored values -> modality values, as ``dtype``."""
        if self.ds.get("ModalityLUTSequence"):
            return apply_modality_lut(values, self.ds).astype(dtype)
        slope, intercept = _rescale(self.ds, self.frame)
        out = values.astype(dtype)
        if slope != 1.0:
            out *= slope
        if intercept != 0.0:
            out += intercept
        return out

    def unit(self, modality: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """Modality values -> 0..1 display values; lo/hi: the frame's modality range."""
        if self.window is not None:
            y = window_unit(modality, self.window)
        elif self.use_voi_lut:
            item = self.ds.VOILUTSequence[0]
            top = float(2 ** int(item.LUTDescriptor[2]) - 1)
            y = apply_voi(np.rint(modality).astype(np.int64), self.ds).astype(modality.dtype)
            y /= top
        else:
            y = window_unit(modality, Window((lo + hi) / 2, hi - lo, "LINEAR_EXACT")) if hi > lo else \
                np.zeros_like(modality)
        if self.invert:
            y = np.subtract(1.0, y, out=y)
        return y


def grey_levels(ds: Dataset, arr: np.ndarray, frame: int, job_window: dict | None,
                out_max: int) -> tuple[np.ndarray, str | None]:
    """A grayscale frame -> float32 levels (0..out_max, +0.5), and an optional note."""
    grey = Grey.build(ds, frame, job_window)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, copy=False)
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        span = hi - lo + 1
        if span <= max(arr.size, 4096) and span <= _MAX_LUT:
            domain = np.arange(lo, hi + 1, dtype=np.int64)
            mod = grey.modality(domain, np.float64)
            lut = grey.unit(mod, float(mod.min()), float(mod.max()))
            lut = (lut * out_max + 0.5).astype(np.float32)
            index = np.subtract(arr, lo, dtype=np.int32 if arr.dtype.itemsize <= 2 else np.int64)
            return np.take(lut, index), grey.note
    mod = grey.modality(arr)
    lo, hi = (float(mod.min()), float(mod.max())) if mod.size else (0.0, 0.0)
    y = grey.unit(mod, lo, hi).astype(np.float32, copy=False)
    y *= out_max
    y += 0.5
    return y, grey.note


def rgb_unit(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """A colour frame (RGB after decoding, or PALETTE COLOR indices) -> float32 RGB 0..1."""
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        top = 255.0 if rgb.dtype == np.uint8 else float(2 ** bits - 1)
    else:
        rgb = arr
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
        top = 255.0 if rgb.dtype == np.uint8 else float(2 ** bits - 1)
    out = rgb.astype(np.float32)
    out *= np.float32(1.0 / top)
    return np.clip(out, 0.0, 1.0, out=out)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """float RGB (H, W, 3) -> float32 luminance (H, W), BT.601 weights."""
    return (rgb @ np.asarray(LUMA, dtype=np.float32)).astype(np.float32, copy=False)


def pixel_aspect(ds: Dataset, frame: int = 0) -> float:
    """Physical height / width of one pixel (1.0 when unknown).

    From Pixel Spacing (per frame for enhanced images), Imager Pixel Spacing,
    or Pixel Aspect Ratio, in that order.
    """
    measures = frame_item(ds, frame, "PixelMeasuresSequence")
    for source, keyword in ((measures, "PixelSpacing"), (ds, "PixelSpacing"),
                            (ds, "ImagerPixelSpacing"), (ds, "PixelAspectRatio")):
        if source is None:
            continue
        value = source.get(keyword)
        try:
            vertical, horizontal = float(value[0]), float(value[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if vertical > 0 and horizontal > 0 and np.isfinite(vertical / horizontal):
            ratio = vertical / horizontal
            return ratio if 0.01 <= ratio <= 100 else 1.0
    return 1.0


def quantise(levels: np.ndarray, out_max: int) -> np.ndarray:
    """float levels (0..out_max, +0.5) -> uint8 or uint16, rounding to nearest. Reuses ``levels``."""
    np.clip(levels, 0.0, float(out_max), out=levels)
    return levels.astype(np.uint8 if out_max <= 255 else np.uint16)
