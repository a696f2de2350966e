"""format_film: one normalised film of a job -> a :class:`FilmSheet` ready for a driver.

Per frame: read the dataset (once per image file per film), decode the chosen
frame, turn it into output levels (:mod:`formatter.imaging`), fit it into its
image box keeping the physical aspect ratio (:func:`fit_size`), resample with
the film's magnification type (:mod:`formatter.resample`) and round to 8-bit,
12-bit or RGB pixels.

The VOI/window is applied at the source resolution, before magnification, as
a print SCP does with the pixels it receives; interpolation then works on
float levels, so no precision is lost to rounding before the final step.

Cost, measured on one core for a 14INX17IN film at 320 dpi, STANDARD\\4,5 of
512x512 CT images (boxes about 1058x1058), CUBIC: about 115 ms per film
(read+decode ~0.8 ms, grayscale LUT ~1 ms, resampling ~3.5 ms, rounding
~0.7 ms per image); compose() adds about 8 ms.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from .compose import density_level
from .film import FilmSheet, ImageBox, PrinterProfile
from .geometry import box_rects, canonical_layout, film_pixels, parse_layout, validate_layout
from .imaging import grey_levels, luminance, pixel_aspect, quantise, rgb_unit
from .resample import resample
from .source import ImageInfo, UnprintableImage, check_image, decode_frame, read_dataset

MAGNIFICATIONS = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")
POLARITIES = ("NORMAL", "REVERSE")


def fit_size(rows: int, columns: int, aspect: float, box_width: int, box_height: int) -> tuple[int, int]:
    """(rows, columns) of an image scaled to fill a box, aspect ratio kept.

    ``aspect`` is the physical height / width of one source pixel.
    """
    tall, wide = rows * aspect, float(columns)
    if box_width * tall <= box_height * wide:        # the width limits
        return min(box_height, max(1, round(tall * box_width / wide))), box_width
    return box_height, min(box_width, max(1, round(wide * box_height / tall)))


def crop_to(levels: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """The centre of ``levels``, at most rows x columns (magnification NONE)."""
    h, w = levels.shape[:2]
    top, left = max(0, (h - rows) // 2), max(0, (w - columns) // 2)
    return levels[top:top + min(h, rows), left:left + min(w, columns)]


def _positions(frames: list, boxes: int, layout: str, where: str) -> list[int]:
    if len(frames) > boxes:
        raise ValueError(f"{where}.frames: {len(frames)} frames do not fit layout {layout} "
                         f"({boxes} image boxes)")
    taken: dict[int, int] = {}
    for j, frame in enumerate(frames):
        position = frame.get("position")
        if position is None:
            continue
        if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= boxes:
            raise ValueError(f"{where}.frames[{j}].position: {position!r} is not an image box of layout "
                             f"{layout} (1..{boxes})")
        if position in taken:
            raise ValueError(f"{where}.frames[{j}].position: box {position} is already used by "
                             f"frames[{taken[position]}]")
        taken[position] = j
    free = iter(p for p in range(1, boxes + 1) if p not in taken)
    return [frame["position"] if frame.get("position") is not None else next(free) for frame in frames]


def _choice(value, allowed: tuple[str, ...], field: str) -> str:
    text = str(value).strip().upper() if value is not None else ""
    if text not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return text


def format_film(film: dict, images: Mapping[str, str | Path], profile: PrinterProfile,
                index: int = 0) -> FilmSheet:
    """Format one normalised film (see the job spec) for a printer.

    ``images`` maps each frame's ``"image"`` key to a DICOM file. Frames fill
    the boxes in order, except those that name a ``position``. Each box's
    pixels are the image scaled to fit its box (their own size, not padded).

    The colour mode follows ``profile.color``: True makes every box RGB (grey
    images are repeated over three channels, so a job is all colour or all
    grey); False prints colour images as grey (luminance) and says so in
    ``notes``. Polarity is carried by each box, not applied to its pixels.

    Frame ``annotations`` and ``overlays`` are accepted and ignored for now.

    Raises ValueError naming ``films[index]`` and the frame for impossible
    layouts, unknown image keys, missing frames, bad positions or windows, and
    :class:`UnprintableImage` (its reason naming the frame) for unreadable images.
    """
    where = f"films[{index}]"
    film_size = film.get("film_size")
    orientation = film.get("orientation") or "PORTRAIT"
    layout = film.get("layout")
    try:
        validate_layout(layout, orientation, film_size)
        layout = canonical_layout(layout)
        grid = parse_layout(layout, orientation)
        size = film_pixels(film_size, orientation, profile.dpi)
        rects = box_rects(layout, orientation, film_size, profile.dpi)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    magnification = _choice(film.get("magnification") or profile.magnification, MAGNIFICATIONS,
                            f"{where}.magnification")
    if profile.bit_depth not in (8, 12):
        raise ValueError(f"{where}: printer bit depth {profile.bit_depth!r} is not 8 or 12")
    colour = bool(profile.color)
    bit_depth = 8 if colour else profile.bit_depth
    out_max = 255 if bit_depth == 8 else 4095
    for key in ("border_density", "empty_image_density"):
        try:
            density_level(film.get(key), film.get("min_density"), film.get("max_density"))
        except ValueError as exc:
            raise ValueError(f"{where}.{key}: {exc}") from None

    frames = list(film.get("frames") or [])
    positions = _positions(frames, grid.boxes, layout, where)
    datasets: dict[str, tuple[Dataset, ImageInfo]] = {}
    notes: list[str] = []
    boxes: list[ImageBox] = []
    for j, (frame, position) in enumerate(zip(frames, positions)):
        here = f"{where}.frames[{j}]"
        key = frame.get("image")
        if key not in images:
            raise ValueError(f"{here}.image: unknown image {key!r}")
        path = os.fspath(images[key])
        polarity = _choice(frame.get("polarity") or "NORMAL", POLARITIES, f"{here}.polarity")
        try:
            if path not in datasets:
                ds = read_dataset(path)
                datasets[path] = (ds, check_image(ds, path))
            ds, info = datasets[path]
            number = frame.get("frame", 0) or 0
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < info.frames:
                raise ValueError(f"{here}.frame: frame {number!r} does not exist: {path} has "
                                 f"{info.frames} frame{'s' if info.frames != 1 else ''}")
            arr = decode_frame(ds, path, number)
        except UnprintableImage as exc:
            raise UnprintableImage(exc.path, f"{exc.reason} ({here})") from None

        if info.color:
            if frame.get("window") is not None:
                notes.append(f"{here}: window ignored: the image is colour ({info.photometric})")
            rgb = rgb_unit(ds, arr)
            if colour:
                levels = rgb
                levels *= 255.0
                levels += 0.5
            else:
                levels = luminance(rgb)
                levels *= float(out_max)
                levels += 0.5
                notes.append(f"{here}: colour image ({info.photometric}) printed as grey on a "
                             f"grayscale film")
        else:
            try:
                levels, note = grey_levels(ds, arr, number, frame.get("window"), out_max)
            except ValueError as exc:
                raise ValueError(f"{here}.window: {exc}") from None
            if note:
                notes.append(f"{here}: {note}")

        rect = rects[position - 1]
        if magnification == "NONE":
            levels = crop_to(levels, rect.height, rect.width)
        else:
            rows, columns = fit_size(levels.shape[0], levels.shape[1], pixel_aspect(ds, number),
                                     rect.width, rect.height)
            levels = resample(levels, rows, columns, magnification)
        pixels = quantise(levels, out_max)
        if colour and pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        boxes.append(ImageBox(position=position, pixels=pixels, polarity=polarity))

    boxes.sort(key=lambda box: box.position)
    return FilmSheet(
        index=index,
        display_format=layout,
        film_size=film_size,
        orientation=orientation,
        film_pixels=size,
        rects=rects,
        boxes=tuple(boxes),
        bit_depth=bit_depth,
        color=colour,
        magnification=magnification,
        smoothing=film.get("smoothing"),
        border_density=film.get("border_density"),
        empty_image_density=film.get("empty_image_density"),
        min_density=film.get("min_density"),
        max_density=film.get("max_density"),
        trim=film.get("trim"),
        configuration_information=film.get("configuration_information"),
        notes=tuple(notes),
    )
