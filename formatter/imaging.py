"""Pixel values -> printable levels: modality LUT, VOI, MONOCHROME1, contrast, colour.

Grayscale pipeline (PS3.4 N.2, "grayscale transformations"):

1. Modality LUT: Modality LUT Sequence (pydicom's ``apply_modality_lut``) or
   Rescale Slope/Intercept, per frame for enhanced multi-frame images
   (Pixel Value Transformation in the functional groups).
2. VOI, chosen by the job's ``window`` option:

   * ``{"center": c, "width": w}``: that window;
   * ``{"index": n}`` / ``{"explanation": text}``: one of the image's own VOI
     transforms, counted VOI LUT Sequence items first, then the Window
     Center/Width pairs (per frame for enhanced images); explanations are
     matched ignoring case and surrounding spaces;
   * ``"auto"``: an automatic window (below);
   * none: the image's first VOI transform (index 0), else an automatic window.

   Windows use the VOI LUT Function the job gives (``voi_function``), else the
   image's (LINEAR, LINEAR_EXACT, SIGMOID; the PS3.3 C.11.2.1.2 formulas). A job
   window narrower than 1 under LINEAR is applied as LINEAR_EXACT; an unusable
   image window is skipped with a note.

   **Automatic window**: LINEAR_EXACT from the 0.5th to the 99.5th percentile
   of the frame's modality values (pixels equal to Pixel Padding Value, or in
   its range up to Pixel Padding Range Limit, left out). Percentiles rather than
   min..max so a few hot or dead pixels, burnt-in text or a padded border do not
   flatten the picture; if they coincide (a nearly uniform image) min..max is
   used.
3. MONOCHROME1 is inverted, so levels are always MONOCHROME2-like (high = bright).
4. Contrast and brightness (the job's ``contrast``, ``brightness``), on the
   0..1 display value ``y``: ``y' = (y - 0.5) * contrast + 0.5 + brightness``,
   clipped to 0..1. 1 and 0 change nothing; the same applies to colour channels.

Polarity is *not* applied here: it travels with the image box (Polarity
(2020,0020)) and the printer, or :func:`hcserver.formatter.composition.compose`, applies it.

For integer frames whose value range is no larger than the frame the whole
pipeline is evaluated once per possible stored value (a lookup table) and then
indexed, which is both exact and fast (a 512x512 CT costs about 1 ms).

Levels are float32 scaled to 0..``out_max`` (255 or 4095) *plus 0.5*, so that
after resampling ``quantise`` can round by truncation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

from hcserver.formatter.sizing import frame_item

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
AUTO_PERCENTILES = (0.5, 99.5)
LUMA = (0.299, 0.587, 0.114)   # ITU-R BT.601, the weights of YBR_FULL
_MAX_LUT = 1 << 20


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"

    def label(self) -> str:
        """As printed by the ``{Window}`` annotation field: "C 40 W 400"."""
        return f"C {self.center:.6g} W {self.width:.6g}"


@dataclass(frozen=True)
class Voi:
    """One of an image's own VOI transforms: a window, or a VOI LUT Sequence item."""

    window: Window | None = None
    lut_index: int | None = None
    explanation: str = ""


def _values(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _voi_function(source: Dataset) -> str:
    name = str(source.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    return name if name in VOI_FUNCTIONS else "LINEAR"


def dataset_vois(ds: Dataset, frame: int) -> list[Voi]:
    """The image's VOI transforms for ``frame``: VOI LUT Sequence items, then windows.

    Unparseable values are left out rather than failing: the print still has
    the other transforms or the automatic window to fall back on.
    """
    vois: list[Voi] = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        if "LUTDescriptor" in item and "LUTData" in item:
            vois.append(Voi(lut_index=i, explanation=str(item.get("LUTExplanation", "") or "").strip()))
    source = frame_item(ds, frame, "FrameVOILUTSequence") or ds
    function = _voi_function(source)
    explanations = _values(source.get("WindowCenterWidthExplanation"))
    centers, widths = _values(source.get("WindowCenter")), _values(source.get("WindowWidth"))
    for i, (center, width) in enumerate(zip(centers, widths)):
        try:
            window = Window(float(center), float(width), function)
        except (TypeError, ValueError):
            continue
        text = str(explanations[i]).strip() if i < len(explanations) else ""
        vois.append(Voi(window=window, explanation=text))
    return vois


def dataset_window(ds: Dataset, frame: int) -> Window | None:
    """The image's first window for ``frame`` (functional groups first), or None."""
    return next((v.window for v in dataset_vois(ds, frame) if v.window is not None), None)


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


def _window_problem(window: Window) -> str | None:
    if not np.isfinite(window.center) or not np.isfinite(window.width) or window.width <= 0:
        return f"window center {window.center:g} / width {window.width:g}"
    if window.function == "LINEAR" and window.width < 1:
        return f"LINEAR window width {window.width:g} < 1"
    return None


def adjust(y: np.ndarray, contrast: float = 1.0, brightness: float = 0.0) -> np.ndarray:
    """Contrast about mid-grey and brightness on 0..1 display values, in place, clipped."""
    if contrast == 1.0 and brightness == 0.0:
        return y
    y -= 0.5
    y *= contrast
    y += 0.5 + brightness
    return np.clip(y, 0.0, 1.0, out=y)


@dataclass(frozen=True)
class VoiChoice:
    """The VOI a frame is printed with: a window, a VOI LUT item, or automatic."""

    window: Window | None = None
    lut_index: int | None = None
    auto: bool = False
    label: str = ""
    notes: tuple[str, ...] = ()


def _lut_label(voi: Voi) -> str:
    return f"VOI LUT {voi.explanation}" if voi.explanation else "VOI LUT"


def _chosen(voi: Voi, function: str | None, notes: list[str]) -> VoiChoice:
    if voi.lut_index is not None:
        if function:
            notes.append(f"voi_function {function} ignored: the image's VOI LUT is a table, not a window")
        return VoiChoice(lut_index=voi.lut_index, label=_lut_label(voi), notes=tuple(notes))
    window = voi.window
    assert window is not None   # a Voi that is not a VOI LUT item is a window
    if function:
        window = Window(window.center, window.width, function)
    return VoiChoice(window=window, label=window.label(), notes=tuple(notes))


def choose_voi(ds: Dataset, frame: int, option=None, function: str | None = None) -> VoiChoice:
    """The VOI for ``frame`` given the job's ``window`` option and ``voi_function``.

    Raises ValueError (without a field name) for a job window that cannot be
    used or an index/explanation the image does not have.
    """
    function = function.upper() if function else None
    if option == "auto":
        return VoiChoice(auto=True)
    if isinstance(option, dict) and "center" in option:
        window = Window(float(option["center"]), float(option["width"]), function or
                        _voi_function(frame_item(ds, frame, "FrameVOILUTSequence") or ds))
        if window.function == "LINEAR" and 0 < window.width < 1:
            window = Window(window.center, window.width, "LINEAR_EXACT")
        problem = _window_problem(window)
        if problem:
            raise ValueError(f"unusable {problem}")
        return VoiChoice(window=window, label=window.label())
    vois = dataset_vois(ds, frame)
    if isinstance(option, dict) and "index" in option:
        index = option["index"]
        if not 0 <= index < len(vois):
            raise ValueError(f"index {index}: the image has {len(vois) or 'no'} VOI transform"
                             f"{'s' if len(vois) != 1 else ''}" + (f" (0..{len(vois) - 1})" if vois else ""))
        chosen = vois[index]
        if chosen.window is not None and _window_problem(chosen.window):
            raise ValueError(f"index {index}: unusable {_window_problem(chosen.window)}")
        return _chosen(chosen, function, [])
    if isinstance(option, dict) and "explanation" in option:
        wanted = str(option["explanation"]).strip().casefold()
        for voi in vois:
            if voi.explanation.casefold() == wanted and not (voi.window and _window_problem(voi.window)):
                return _chosen(voi, function, [])
        known = ", ".join(repr(v.explanation) for v in vois if v.explanation) or "none"
        raise ValueError(f"explanation {option['explanation']!r}: the image has no such VOI "
                         f"(its explanations: {known})")
    notes: list[str] = []
    for voi in vois:
        problem = _window_problem(voi.window) if voi.window is not None else None
        if problem:
            notes.append(f"ignored the image's {problem}")
            continue
        return _chosen(voi, function, notes)
    if notes:
        notes[-1] += "; printed with an automatic window"
    return VoiChoice(auto=True, notes=tuple(notes))


def _padding(ds: Dataset) -> tuple[int, int] | None:
    """The stored values of Pixel Padding Value (..Range Limit), inclusive, or None."""
    value, limit = ds.get("PixelPaddingValue"), ds.get("PixelPaddingRangeLimit")
    try:
        if not _values(value):
            return None
        low = int(_values(value)[0])
        high = int(_values(limit)[0]) if _values(limit) else low
    except (TypeError, ValueError):
        return None
    return min(low, high), max(low, high)


def _weighted_percentiles(values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """The AUTO_PERCENTILES of ``values`` occurring ``counts`` times (inverted-CDF definition)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(counts[order])
    total = cumulative[-1]
    picks = [max(p / 100.0 * total, 1e-9) for p in AUTO_PERCENTILES]
    index = np.minimum(np.searchsorted(cumulative, picks, side="left"), len(order) - 1)
    return float(values[order][index[0]]), float(values[order][index[1]])


def _auto_window(lo: float, hi: float, full_lo: float, full_hi: float) -> Window | None:
    if hi > lo:
        return Window((lo + hi) / 2, hi - lo, "LINEAR_EXACT")
    if full_hi > full_lo:
        return Window((full_lo + full_hi) / 2, full_hi - full_lo, "LINEAR_EXACT")
    return None


@dataclass(frozen=True)
class GreyRendering:
    """What the grayscale pipeline did to a frame: its ``{Window}`` label and notes."""

    label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


class _Grey:
    """The grayscale transform of one frame, evaluated on modality values."""

    def __init__(self, ds: Dataset, frame: int, choice: VoiChoice, contrast: float, brightness: float):
        self.ds, self.frame, self.choice = ds, frame, choice
        self.invert = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"
        self.contrast, self.brightness = contrast, brightness
        self.notes = list(choice.notes)
        self.window = choice.window

    def modality(self, values: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Stored values -> modality values, as ``dtype``."""
        if self.ds.get("ModalityLUTSequence"):
            try:
                return apply_modality_lut(values, self.ds).astype(dtype)
            except Exception as exc:   # a damaged table: fall back to the identity, say so
                self.notes.append(f"ignored the image's Modality LUT ({exc})")
                return values.astype(dtype)
        source = frame_item(self.ds, self.frame, "PixelValueTransformationSequence") or self.ds
        try:
            slope = float(_values(source.get("RescaleSlope"))[0]) if _values(source.get("RescaleSlope")) else 1.0
            intercept = (float(_values(source.get("RescaleIntercept"))[0])
                         if _values(source.get("RescaleIntercept")) else 0.0)
        except (TypeError, ValueError):
            slope, intercept = 1.0, 0.0
        out: np.ndarray = values.astype(dtype)
        if slope != 1.0:
            out *= slope
        if intercept != 0.0:
            out += intercept
        return out

    def _voi_lut(self, modality: np.ndarray, index: int) -> np.ndarray | None:
        item = self.ds.VOILUTSequence[index]
        try:
            out = apply_voi(np.rint(modality).astype(np.int64), self.ds, index=index)
            top = float(2 ** int(item.LUTDescriptor[2]) - 1)
            data_top = float(np.max(out)) if out.size else 0.0
            if data_top > top:   # descriptor smaller than the data: scale to the data's bit depth
                top = float(2 ** int(np.ceil(np.log2(data_top + 1))) - 1)
        except Exception as exc:
            self.notes.append(f"ignored the image's VOI LUT ({exc}); printed with an automatic window")
            return None
        y = out.astype(modality.dtype)
        y /= top
        return y

    def set_auto(self, lo: float, hi: float, full_lo: float, full_hi: float) -> None:
        self.window = _auto_window(lo, hi, full_lo, full_hi)

    @property
    def label(self) -> str:
        if self.window is not None:
            return self.window.label()
        return self.choice.label

    def unit(self, modality: np.ndarray) -> np.ndarray:
        """Modality values -> 0..1 display values, inverted for MONOCHROME1, adjusted."""
        y = None
        if self.choice.lut_index is not None and self.window is None:
            y = self._voi_lut(modality, self.choice.lut_index)
            if y is None:      # unusable LUT: automatic window over these values
                finite = modality[np.isfinite(modality)]
                if finite.size:
                    lo, hi = np.percentile(finite, AUTO_PERCENTILES, method="inverted_cdf")
                    self.set_auto(float(lo), float(hi), float(finite.min()), float(finite.max()))
        if y is None:
            y = window_unit(modality, self.window) if self.window is not None else np.zeros_like(modality)
        if self.invert:
            y = np.subtract(1.0, y, out=y)
        return adjust(y, self.contrast, self.brightness)


def grey_levels(ds: Dataset, arr: np.ndarray, frame: int, out_max: int, window=None,
                voi_function: str | None = None, contrast: float = 1.0,
                brightness: float = 0.0) -> tuple[np.ndarray, GreyRendering]:
    """A grayscale frame -> float32 levels (0..out_max, +0.5) and what was done.

    ``window`` is the job's window option (None, "auto" or a dict; see
    :func:`choose_voi`). Raises ValueError for an unusable job window.
    """
    grey = _Grey(ds, frame, choose_voi(ds, frame, window, voi_function), contrast, brightness)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, copy=False)
    padding = _padding(ds)
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        span = hi - lo + 1
        if span <= max(arr.size, 4096) and span <= _MAX_LUT:
            domain = np.arange(lo, hi + 1, dtype=np.int64)
            mod = grey.modality(domain, np.float64)
            index = np.subtract(arr, lo, dtype=np.int32 if arr.dtype.itemsize <= 2 else np.int64)
            if grey.choice.auto:
                counts = np.bincount(index.ravel(), minlength=span).astype(np.int64)
                if padding is not None:
                    pad = (domain >= padding[0]) & (domain <= padding[1])
                    if counts[~pad].any():
                        counts[pad] = 0
                present = counts > 0
                grey.set_auto(*_weighted_percentiles(mod, counts),
                              float(mod[present].min()), float(mod[present].max()))
            lut = grey.unit(mod)
            lut = (lut * out_max + 0.5).astype(np.float32)
            return np.take(lut, index), GreyRendering(grey.label, tuple(grey.notes))
    mod = grey.modality(arr)
    if grey.choice.auto and mod.size:
        sample = mod
        if padding is not None and arr.dtype.kind in "iu":
            keep = (arr < padding[0]) | (arr > padding[1])
            if keep.any():
                sample = mod[keep]
        lo, hi = np.percentile(sample, AUTO_PERCENTILES, method="inverted_cdf")
        grey.set_auto(float(lo), float(hi), float(sample.min()), float(sample.max()))
    y = grey.unit(mod).astype(np.float32, copy=False)
    y *= out_max
    y += 0.5
    return y, GreyRendering(grey.label, tuple(grey.notes))


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


def quantise(levels: np.ndarray, out_max: int) -> np.ndarray:
    """float levels (0..out_max, +0.5) -> uint8 or uint16, rounding to nearest. Reuses ``levels``."""
    np.clip(levels, 0.0, float(out_max), out=levels)
    return levels.astype(np.uint8 if out_max <= 255 else np.uint16)
