"""format_film: one film of a job -> a :class:`FilmSheet` ready for a driver.

Per frame: read the dataset (once per image file per film), decode the chosen
frame, turn it into output levels (:mod:`hcserver.formatter.imaging`), size it
(:mod:`hcserver.formatter.sizing`: fitted to its box keeping the physical aspect ratio,
cropped for magnification NONE, or at true size), resample with the film's
magnification type (:mod:`hcserver.formatter.resample`), paint overlay planes,
graphics and annotations at film resolution (:mod:`hcserver.formatter.paint`), and
round to 8-bit, 12-bit or RGB pixels.

The VOI/window is applied at the source resolution, before magnification, as
a print SCP does with the pixels it receives; interpolation then works on
float levels, so no precision is lost to rounding before the final step.
Marks are painted after resampling so text and lines are sharp at the
printer's resolution, and before rounding, so they are burnt into exactly the
pixels the printer receives (and the preview shows).

CUSTOM films are composed here: every frame is rendered into its ``rect_mm``
at the printer's dpi on a film-sized canvas filled with the Border Density
(Polarity REVERSE is applied to the frame's pixels, since one box cannot carry
several polarities), and the canvas is the film's single image box: the sheet
says ``STANDARD\\1,1`` and its one rectangle is the whole film. Frames are
drawn in order, so a later frame covers an earlier one where they overlap. A profile with
``compose`` (a printer that lacks the film's layout) composes any layout so: its boxes are
filled with the Empty Image Density and each frame is drawn into its own box.

True size (``true_size``): resampled to the physical size at the printer's
dpi (REPLICATE when the film's magnification is NONE, which cannot scale),
refused when larger than its box; the box carries Requested Image Size (its
width in mm) so the printer prints the pixels at that size.

Cost, measured with ``bench/formatter_bench.py`` (one core, 14INX17IN at 320 dpi,
STANDARD\\4,5 of 512x512 CT, CUBIC, windowed, four annotations per box): about
5-6 ms per box, most of it resampling (~1.3 ms), the lookup-table window (~1 ms),
reading and decoding (~1.5 ms), rounding and the memory traffic of ~1 MB boxes.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from hcserver.formatter.annotations import annotation_blocks
from hcserver.formatter.composition import DEFAULT_DENSITY, density_fraction
from hcserver.formatter.film import BoxRect, FilmSheet, ImageBox, PrinterProfile
from hcserver.formatter.geometry import MM_PER_INCH, box_rects, custom_rect, film_pixels, is_custom
from hcserver.formatter.graphics import SCALE_BAR, draw_shape, scale_bar_block
from hcserver.formatter.imaging import adjust, grey_levels, luminance, quantise, rgb_unit
from hcserver.formatter.options import MAGNIFICATIONS, POLARITIES, OptionError, check_film_options  # noqa: F401
from hcserver.formatter.overlay_planes import burn_overlays
from hcserver.formatter.paint import ink_from, paint_blocks
from hcserver.formatter.plut import burn_in, can_burn_in, lut_for
from hcserver.formatter.resample import resample
from hcserver.formatter.sizing import (  # noqa: F401
    Placement,
    fit_size,
    physical_spacing,
    pixel_aspect,
    place_cropped,
    place_fitted,
    place_true_size,
)
from hcserver.formatter.source import ImageInfo, check_image, decode_frame, read_dataset
from hcserver.formatter.unprintable import UnprintableImage


@dataclass(frozen=True)
class Output:
    """The pixel format of a film: what ``quantise`` produces and marks are painted in."""

    colour: bool
    bit_depth: int
    dpi: int

    @property
    def out_max(self) -> int:
        return 255 if self.bit_depth == 8 else 4095


@dataclass(frozen=True)
class RenderedFrame:
    pixels: np.ndarray
    requested_image_size_mm: float | None
    notes: tuple[str, ...]


class _Images:
    """Datasets read once per film, keyed by path."""

    def __init__(self, images: Mapping[str, str | Path], max_pixels: int):
        self.images, self.max_pixels = images, max_pixels
        self.cache: dict[str, tuple[Dataset, ImageInfo]] = {}

    def get(self, key, here: str) -> tuple[str, Dataset, ImageInfo]:
        if key not in self.images:
            raise OptionError(f"{here}.image", f"unknown image {key!r}")
        path = os.fspath(self.images[key])
        if path not in self.cache:
            ds = read_dataset(path, self.max_pixels)   # its declared size, before anything is decoded
            self.cache[path] = (ds, check_image(ds, path, details=False))
        return (path, *self.cache[path])


def _levels(ds: Dataset, info: ImageInfo, arr: np.ndarray, frame: dict, here: str,
            output: Output) -> tuple[np.ndarray, str, list[str]]:
    """Decoded pixels -> float levels (+0.5) in the output's space, the {Window} label, notes."""
    notes: list[str] = []
    if info.color:
        if frame["window"] is not None or frame["voi_function"] is not None:
            notes.append(f"{here}: window ignored: the image is colour ({info.photometric})")
        rgb = adjust(rgb_unit(ds, arr), frame["contrast"], frame["brightness"])
        if output.colour:
            levels = rgb
            levels *= 255.0
        else:
            levels = luminance(rgb)
            levels *= float(output.out_max)
            notes.append(f"{here}: colour image ({info.photometric}) printed as grey on a grayscale film")
        levels += 0.5
        return levels, "", notes
    try:
        levels, rendering = grey_levels(ds, arr, frame["frame"], output.out_max, frame["window"],
                                        frame["voi_function"], frame["contrast"], frame["brightness"])
    except ValueError as exc:
        raise OptionError(f"{here}.window", str(exc)) from None
    notes.extend(f"{here}: {note}" for note in rendering.notes)
    return levels, rendering.label, notes


def _placement(ds: Dataset, info: ImageInfo, frame: dict, rect: BoxRect, magnification: str,
               here: str, path: str, output: Output, levels: np.ndarray) -> tuple[Placement, str, float | None]:
    """How the frame is sized in its box, the resampling method, and Requested Image Size."""
    rows, columns = levels.shape[:2]
    if frame["true_size"]:
        spacing = physical_spacing(ds, frame["frame"])
        if spacing is None:
            raise OptionError(f"{here}.true_size", f"{path} has no Pixel Spacing or Imager Pixel Spacing, "
                                                   f"so its true size is unknown")
        placement = place_true_size(rows, columns, spacing, output.dpi)
        if placement.columns > rect.width or placement.rows > rect.height:
            mm = MM_PER_INCH / output.dpi
            raise OptionError(f"{here}.true_size",
                              f"at true size the image is {columns * spacing[1]:.1f} x {rows * spacing[0]:.1f} mm, "
                              f"larger than its box ({rect.width * mm:.1f} x {rect.height * mm:.1f} mm)")
        method = magnification if magnification != "NONE" else "REPLICATE"
        return placement, method, round(columns * spacing[1], 3)
    requested = frame["requested_image_size"]
    if requested and not frame["native_size"]:   # formatted to that width here (native: the printer scales)
        width = requested
        column_mm = width / columns
        placement = place_true_size(rows, columns, (column_mm * pixel_aspect(ds, frame["frame"]), column_mm),
                                    output.dpi)
        if placement.columns > rect.width or placement.rows > rect.height:
            mm = MM_PER_INCH / output.dpi
            raise OptionError(f"{here}.requested_image_size",
                              f"at {width:g} mm wide the image is {placement.columns * mm:.1f} x "
                              f"{placement.rows * mm:.1f} mm, larger than its box ({rect.width * mm:.1f} x "
                              f"{rect.height * mm:.1f} mm)")
        method = magnification if magnification != "NONE" else "REPLICATE"
        return placement, method, width
    if magnification == "NONE":
        return place_cropped(rows, columns, rect.width, rect.height), "NONE", requested
    if frame["native_size"] and rows <= rect.height and columns <= rect.width:
        # the pixels as they are, one for one: the printer's own magnification scales them
        return Placement(rows, columns, 1.0, 1.0), "NONE", requested
    aspect = pixel_aspect(ds, frame["frame"])
    return place_fitted(rows, columns, aspect, rect.width, rect.height), magnification, requested


def render_frame(frame: dict, ds: Dataset, info: ImageInfo, path: str, here: str, rect: BoxRect,
                 magnification: str, output: Output, computed: dict[str, str]) -> RenderedFrame:
    """One normalised frame -> the pixels of its box (sized to the image, not padded)."""
    number = frame["frame"]
    if number >= info.frames:
        raise OptionError(f"{here}.frame", f"frame {number!r} does not exist: {path} has "
                                           f"{info.frames} frame{'s' if info.frames != 1 else ''}")
    arr = decode_frame(ds, path, number)
    levels, window_label, notes = _levels(ds, info, arr, frame, here, output)
    placement, method, requested = _placement(ds, info, frame, rect, magnification, here, path, output, levels)
    levels = placement.crop(levels)
    if method != "NONE":
        levels = resample(levels, placement.rows, placement.columns, method)

    if output.colour and levels.ndim == 2 and any(ink_from(m).coloured
                                                  for m in frame["graphics"] + frame["annotations"]):
        levels = np.repeat(levels[:, :, None], 3, axis=2)     # so coloured marks keep their colour
    if frame["overlays"]:
        notes.extend(f"{here}: {n}" for n in burn_overlays(levels, ds, number, placement, output.out_max))
    blocks = []
    for k, graphic in enumerate(frame["graphics"]):
        ink = ink_from(graphic)
        if graphic["type"] != SCALE_BAR:
            draw_shape(levels, graphic, placement, output.dpi, ink, output.out_max)
            continue
        spacing = physical_spacing(ds, number)
        if spacing is None:
            raise OptionError(f"{here}.graphics[{k}]", f"a scale bar needs the image's pixel spacing and "
                                                       f"{path} has none")
        image_width = info.columns * spacing[1]
        if graphic["length_mm"] > image_width:
            raise OptionError(f"{here}.graphics[{k}].length_mm", f"{graphic['length_mm']:g} mm is longer "
                                                                 f"than the image is wide ({image_width:.1f} mm)")
        blocks.append((graphic["at"], scale_bar_block(graphic, spacing, placement, output.dpi, ink)))
    computed = {**computed, "Window": window_label, "Frame": str(number + 1), "Frames": str(info.frames)}
    blocks = annotation_blocks(frame["annotations"], ds, number, computed, output.dpi, ink_from,
                               levels.shape[:2]) + blocks
    notes.extend(f"{here}: {n}" for n in paint_blocks(levels, blocks, output.dpi, output.out_max))

    pixels = quantise(levels, output.out_max)
    if output.colour and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return RenderedFrame(pixels, requested, tuple(notes))


def _place(canvas: np.ndarray, rect: BoxRect, pixels: np.ndarray) -> None:
    """Centre ``pixels`` (never larger than ``rect``) in ``rect`` on the canvas."""
    h, w = pixels.shape[:2]
    y, x = rect.y + (rect.height - h) // 2, rect.x + (rect.width - w) // 2
    canvas[y:y + h, x:x + w] = pixels


def _density_value(density: str | None, film: dict, output: Output):
    fraction = density_fraction(density or DEFAULT_DENSITY, film["min_density"], film["max_density"])
    return int(round(fraction * (255 if output.colour else output.out_max)))


def format_film(film: dict, images: Mapping[str, str | Path], profile: PrinterProfile,
                index: int = 0) -> FilmSheet:
    """Format one film of a job (see the option schema in :mod:`hcserver.formatter`) for a printer.

    ``images`` maps each frame's ``"image"`` to a DICOM file. Frames fill the
    boxes in order, except those that name a ``position``; CUSTOM films place
    them by ``rect_mm`` and are composed into one box. Each box's pixels are
    the image sized for its box (their own size, not padded), with overlays,
    graphics and annotations burnt in.

    The colour mode follows ``profile.color``: True makes every box RGB (grey
    images are repeated over three channels, so a job is all colour or all
    grey); False prints colour images as grey (luminance) and says so in
    ``notes``. Polarity is carried by each box, not applied to its pixels
    (except on CUSTOM films).

    Raises :class:`OptionError` (a ValueError) naming ``films[index]`` and the
    field for bad options, impossible layouts, unknown image keys, missing
    frames, windows the image lacks, true size that does not fit; and
    :class:`UnprintableImage` (its reason naming the frame) for unreadable images.
    """
    where = f"films[{index}]"
    film = check_film_options(film, where)
    film_size, orientation, layout = film["film_size"], film["orientation"], film["layout"]
    try:
        size = film_pixels(film_size, orientation, profile.dpi)
    except ValueError as exc:
        raise OptionError(where, f"printer: {exc}") from None
    magnification = film["magnification"] or profile.magnification
    if magnification not in MAGNIFICATIONS:
        raise OptionError(f"{where}.magnification", f"{magnification!r} is not one of: "
                                                    f"{', '.join(MAGNIFICATIONS)}")
    if profile.bit_depth not in (8, 12):
        raise OptionError(where, f"printer bit depth {profile.bit_depth!r} is not 8 or 12")
    colour = bool(profile.color)
    output = Output(colour, 8 if colour else profile.bit_depth, profile.dpi)
    custom = is_custom(layout)
    rects = box_rects(layout, orientation, film_size, profile.dpi) if not custom else ()
    free = iter(p for p in range(1, len(rects) + 1) if p not in {f["position"] for f in film["frames"]})

    sources = _Images(images, profile.max_pixels)
    notes: list[str] = list(profile.notes)
    boxes: list[ImageBox] = []
    canvas: np.ndarray | None = None      # a composed film (CUSTOM, or as the profile says): its frames go on it
    if custom or profile.compose:
        shape = (size[1], size[0], 3) if colour else (size[1], size[0])
        canvas = np.full(shape, _density_value(film["border_density"], film, output),
                         dtype=np.uint8 if output.out_max == 255 else np.uint16)
        empty = _density_value(film["empty_image_density"], film, output)
        for rect in rects:       # the image boxes of a composed layout, empty until a frame fills one
            canvas[rect.y:rect.y + rect.height, rect.x:rect.x + rect.width] = empty
    for j, frame in enumerate(film["frames"]):
        here = f"{where}.frames[{j}]"
        if custom:
            rect = custom_rect(frame["rect_mm"], film_size, orientation, profile.dpi)
            position = 1
        else:
            position = frame["position"] if frame["position"] is not None else next(free)
            rect = rects[position - 1]
        try:
            path, ds, info = sources.get(frame["image"], here)
            rendered = render_frame(frame, ds, info, path, here, rect, frame["magnification"] or magnification,
                                    output, {"Film": str(index + 1), "Box": str(position)})
        except UnprintableImage as exc:
            raise UnprintableImage(exc.path, f"{exc.reason} ({here})") from None
        notes.extend(rendered.notes)
        if canvas is not None:
            pixels = rendered.pixels
            if frame["polarity"] == "REVERSE":
                pixels = (255 if colour else output.out_max) - pixels
            _place(canvas, rect, pixels)
        else:
            boxes.append(ImageBox(position=position, pixels=rendered.pixels, polarity=frame["polarity"],
                                  magnification=frame["magnification"], smoothing=frame["smoothing"],
                                  requested_image_size_mm=rendered.requested_image_size_mm))

    if canvas is not None:
        boxes = [ImageBox(position=1, pixels=canvas, polarity="NORMAL")]
        rects = (BoxRect(0, 0, size[0], size[1]),)
        layout = "STANDARD\\1,1"
    boxes.sort(key=lambda box: box.position)
    lut = None if film["presentation_lut"] is None else lut_for(film["presentation_lut"], output.bit_depth)
    if lut is not None and profile.burn_presentation_lut:
        if colour:
            raise OptionError(f"{where}.presentation_lut", "a colour film has no Presentation LUT to burn in")
        if not can_burn_in(film["presentation_lut"]):
            raise OptionError(f"{where}.presentation_lut", f"{lut.shape} cannot be burnt into the pixels "
                                                           "(it needs the printer's densities)")
        boxes = [replace(box, pixels=burn_in(box.pixels, lut, box.polarity)) for box in boxes]
        lut = None
    return FilmSheet(
        index=index,
        display_format=layout,
        film_size=film_size,
        orientation=orientation,
        film_pixels=size,
        rects=tuple(rects),
        boxes=tuple(boxes),
        bit_depth=output.bit_depth,
        color=colour,
        magnification=magnification,
        smoothing=film["smoothing"],
        border_density=film["border_density"],
        empty_image_density=film["empty_image_density"],
        min_density=film["min_density"],
        max_density=film["max_density"],
        trim=film["trim"],
        configuration_information=film["configuration_information"],
        notes=tuple(notes),
        annotation_boxes=tuple(film.get("annotation_boxes") or ()),
        presentation_lut=lut,
    )


__all__ = ["MAGNIFICATIONS", "POLARITIES", "fit_size", "format_film", "render_frame"]
