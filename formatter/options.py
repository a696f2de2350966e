"""The film and frame options of a job: validation and normalisation.

:func:`check_frame_options` and :func:`check_film_options` are what the
server runs at submit, so a bad option is refused with the field named;
:func:`hcserver.formatter.format_film` runs them again, so it never prints from an
unchecked spec. Both return a new, normalised dict (every option present,
defaults filled, names upper-cased where DICOM spells them so) and raise
:class:`OptionError` (a ValueError) whose message starts with the field path,
e.g. ``films[0].frames[2].annotations[1].at: 'middle' is not one of: …``.

The schema is documented in :mod:`hcserver.formatter` (the package docstring).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hcserver.formatter import plut
from hcserver.formatter.annotations import template_problem
from hcserver.formatter.composition import density_level
from hcserver.formatter.geometry import (
    FILM_SIZES,
    MAGNIFICATIONS,
    ORIENTATIONS,
    canonical_layout,
    custom_rect_problem,
    film_box_count,
    film_size_mm,
    is_custom,
    validate_layout,
)
from hcserver.formatter.graphics import GRAPHIC_TYPES, SCALE_BAR
from hcserver.formatter.imaging import VOI_FUNCTIONS
from hcserver.formatter.paint import POSITIONS
from hcserver.formatter.source import ImageInfo

POLARITIES = ("NORMAL", "REVERSE")
FRAME_OPTIONS = ("image", "frame", "position", "window", "voi_function", "polarity", "contrast",
                 "brightness", "true_size", "annotations", "graphics", "overlays", "rect_mm", "native_size",
                 "magnification", "smoothing", "requested_image_size")
FILM_OPTIONS = ("film_size", "orientation", "layout", "magnification", "smoothing", "border_density",
                "empty_image_density", "trim", "min_density", "max_density", "configuration_information",
                "annotation_boxes", "bit_depth", "presentation_lut", "frames")
BIT_DEPTHS = (8, 12)
REQUESTED_IMAGE_SIZE_RANGE = (0.0, 1000.0)   # mm, exclusive .. inclusive
MAX_ANNOTATION_BOXES = 16
INK_OPTIONS = ("grey", "color", "outline")
MAX_ANNOTATIONS = 32
MAX_GRAPHICS = 256
MAX_POINTS = 10000
CONTRAST_RANGE = (0.0, 10.0)      # exclusive .. inclusive
BRIGHTNESS_RANGE = (-1.0, 1.0)
SIZE_MM_RANGE = (0.5, 50.0)
WINDOW_LIMIT = 1e9                # larger centres or widths are mistakes, not windows
WIDTH_MM_RANGE = (0.05, 10.0)
_WINDOW_SHAPES = ('{"center": number, "width": number > 0}, {"index": whole number >= 0}, '
                  '{"explanation": text} or "auto"')


class OptionError(ValueError):
    """A bad option: ``field`` is its path (``films[0].frames[1].window``), ``problem`` the why."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")

    def __reduce__(self):   # rebuilt from its fields when it comes back from a formatting process
        return type(self), (self.field, self.problem)


def _path(where: str) -> str:
    return where[:-1] if where.endswith(".") else where


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(float(value)))


def _is_whole(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def _object(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise OptionError(field, f"expected an object, got {value!r}")
    return value


def _known(value: dict, allowed, field: str) -> None:
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise OptionError(f"{field}.{extra[0]}", f"unknown field (allowed: {', '.join(allowed)})")


def _choice(value, allowed: tuple[str, ...], field: str, upper: bool = True) -> str:
    """One of ``allowed``, matched ignoring case (DICOM terms upper case, ours lower case)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str):
        text = text.upper() if upper else text.lower()
    if text not in allowed:
        raise OptionError(field, f"{value!r} is not one of: {', '.join(allowed)}")
    return text


def _number(value, field: str, low: float, high: float, low_open: bool = False) -> float:
    if not _is_number(value) or value > high or value < low or (low_open and value == low):
        bound = f"more than {low:g}" if low_open else f"from {low:g}"
        raise OptionError(field, f"expected a number {bound} to {high:g}, got {value!r}")
    return float(value)


def _point(value, field: str) -> list[float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_number(v) for v in value)):
        raise OptionError(field, f"expected [x, y] in image pixels, got {value!r}")
    return [float(value[0]), float(value[1])]


def _list(value, field: str, limit: int) -> list:
    if not isinstance(value, list):
        raise OptionError(field, f"expected a list, got {value!r}")
    if len(value) > limit:
        raise OptionError(field, f"{len(value)} items exceed the limit of {limit}")
    return value


def _ink(item: dict, field: str) -> dict:
    out: dict[str, Any] = {"grey": None, "color": None, "outline": True}
    if item.get("grey") is not None and item.get("color") is not None:
        raise OptionError(f"{field}.color", "give grey or color, not both")
    if item.get("grey") is not None:
        out["grey"] = _number(item["grey"], f"{field}.grey", 0.0, 1.0)
    color = item.get("color")
    if color is not None:
        if isinstance(color, str) and len(color) == 7 and color[0] == "#":
            try:
                out["color"] = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
            except ValueError:
                out["color"] = None
        elif (isinstance(color, (list, tuple)) and len(color) == 3
              and all(_is_whole(v) and 0 <= v <= 255 for v in color)):
            out["color"] = list(color)
        if out["color"] is None:
            raise OptionError(f"{field}.color", f"expected \"#rrggbb\" or [r, g, b] from 0 to 255, got {color!r}")
    if "outline" in item:
        if not isinstance(item["outline"], bool):
            raise OptionError(f"{field}.outline", f"expected true or false, got {item['outline']!r}")
        out["outline"] = item["outline"]
    return out


def _window(value, field: str, image: ImageInfo | None):
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        raise OptionError(field, f"{value!r}: expected {_WINDOW_SHAPES}")
    if not isinstance(value, dict):
        raise OptionError(field, f"expected {_WINDOW_SHAPES}, got {value!r}")
    keys = set(value)
    if keys == {"center", "width"}:
        if (not all(_is_number(value[k]) for k in keys) or not 0 < value["width"] <= WINDOW_LIMIT
                or abs(value["center"]) > WINDOW_LIMIT):
            raise OptionError(field, f"expected {{\"center\": number, \"width\": number > 0}} (each at most "
                                     f"{WINDOW_LIMIT:g} in size), got {value!r}")
        return {"center": value["center"], "width": value["width"]}
    if keys == {"index"}:
        index = value["index"]
        if not _is_whole(index) or index < 0:
            raise OptionError(f"{field}.index", f"expected a whole number >= 0, got {index!r}")
        if image is not None and not image.color and index >= len(image.vois):
            have = len(image.vois)
            raise OptionError(f"{field}.index", f"{index}: the image has {have or 'no'} VOI transform"
                                                f"{'s' if have != 1 else ''} (windows or VOI LUTs)")
        return {"index": index}
    if keys == {"explanation"}:
        text = value["explanation"]
        if not isinstance(text, str) or not text.strip():
            raise OptionError(f"{field}.explanation", f"expected a non-empty text, got {text!r}")
        if image is not None and not image.color:
            known = [v for v in image.vois if v]
            if text.strip().casefold() not in {v.casefold() for v in known}:
                raise OptionError(f"{field}.explanation",
                                  f"{text!r}: the image has no such window (its explanations: "
                                  f"{', '.join(repr(v) for v in known) or 'none'})")
        return {"explanation": text.strip()}
    raise OptionError(field, f"expected {_WINDOW_SHAPES}, got {value!r}")


def _annotation(item, field: str) -> dict:
    item = _object(item, field)
    _known(item, ("text", "at", "size_mm") + INK_OPTIONS, field)
    if "text" not in item:
        raise OptionError(f"{field}.text", "missing")
    problem = template_problem(item["text"])
    if problem:
        raise OptionError(f"{field}.text", problem)
    if "at" not in item:
        raise OptionError(f"{field}.at", f"missing (one of: {', '.join(POSITIONS)})")
    out = {"text": item["text"], "at": _choice(item["at"], POSITIONS, f"{field}.at", upper=False),
           "size_mm": None}
    if item.get("size_mm") is not None:
        out["size_mm"] = _number(item["size_mm"], f"{field}.size_mm", *SIZE_MM_RANGE)
    out.update(_ink(item, field))
    return out


def _graphic(item, field: str, image: ImageInfo | None) -> dict:
    item = _object(item, field)
    kind = _choice(item.get("type"), GRAPHIC_TYPES, f"{field}.type", upper=False)
    if kind == SCALE_BAR:
        _known(item, ("type", "length_mm", "at", "size_mm") + INK_OPTIONS, field)
        out: dict[str, Any] = {
            "type": kind,
            "length_mm": _number(item.get("length_mm"), f"{field}.length_mm", 0.0, 10000.0, low_open=True),
            "at": _choice(item.get("at", "bottom-right"), POSITIONS, f"{field}.at", upper=False),
            "size_mm": None}
        if item.get("size_mm") is not None:
            out["size_mm"] = _number(item["size_mm"], f"{field}.size_mm", *SIZE_MM_RANGE)
        if image is not None:
            if image.spacing_mm is None:
                raise OptionError(field, "a scale bar needs the image's pixel spacing (Pixel Spacing or "
                                         "Imager Pixel Spacing) and the image has none")
            width = image.columns * image.spacing_mm[1]
            if out["length_mm"] > width:
                raise OptionError(f"{field}.length_mm", f"{out['length_mm']:g} mm is longer than the image "
                                                        f"is wide ({width:.1f} mm)")
        out.update(_ink(item, field))
        return out
    shape_keys = {"line": ("points",), "rectangle": ("points",), "polyline": ("points", "closed"),
                  "ellipse": ("center", "radii")}[kind]
    _known(item, ("type", "width_mm") + shape_keys + INK_OPTIONS, field)
    out = {"type": kind, "width_mm": None}
    if kind == "ellipse":
        for key in ("center", "radii"):
            if key not in item:
                raise OptionError(f"{field}.{key}", "missing")
        out["center"] = _point(item["center"], f"{field}.center")
        radii = item["radii"]
        if (not isinstance(radii, (list, tuple)) or len(radii) != 2
                or not all(_is_number(r) and r > 0 for r in radii)):
            raise OptionError(f"{field}.radii", f"expected [rx, ry] > 0 in image pixels, got {radii!r}")
        out["radii"] = [float(radii[0]), float(radii[1])]
    else:
        points = _list(item.get("points"), f"{field}.points", MAX_POINTS)
        need = "at least 2" if kind == "polyline" else "exactly 2"
        if len(points) < 2 or (kind != "polyline" and len(points) != 2):
            raise OptionError(f"{field}.points", f"a {kind} needs {need} points, got {len(points)}")
        out["points"] = [_point(p, f"{field}.points[{i}]") for i, p in enumerate(points)]
        if kind == "polyline":
            closed = item.get("closed", False)
            if not isinstance(closed, bool):
                raise OptionError(f"{field}.closed", f"expected true or false, got {closed!r}")
            out["closed"] = closed
    if item.get("width_mm") is not None:
        out["width_mm"] = _number(item["width_mm"], f"{field}.width_mm", *WIDTH_MM_RANGE)
    out.update(_ink(item, field))
    return out


def check_frame_options(frame, where: str, image: ImageInfo | None = None) -> dict:
    """Validate and normalise one frame's options (see the schema in :mod:`hcserver.formatter`).

    ``where`` is the frame's path (``films[0].frames[2]``). With ``image`` (the
    :class:`ImageInfo` of the frame's image) the checks that depend on the image
    are made too: the frame number, a window index or explanation, true size and
    scale bars needing a pixel spacing. Raises :class:`OptionError`.
    """
    where = _path(where)
    if isinstance(frame, str):
        frame = {"image": frame}
    frame = _object(frame, where)
    _known(frame, FRAME_OPTIONS, where)
    out: dict = {"image": frame.get("image")}
    number = frame.get("frame", 0)
    number = 0 if number is None else number
    if not _is_whole(number) or number < 0:
        raise OptionError(f"{where}.frame", f"expected a whole number >= 0, got {number!r}")
    if image is not None and number >= image.frames:
        raise OptionError(f"{where}.frame", f"frame {number} does not exist: the image has {image.frames} "
                                            f"frame{'s' if image.frames != 1 else ''}")
    out["frame"] = number
    position = frame.get("position")
    if position is not None and (not _is_whole(position) or position < 1):
        raise OptionError(f"{where}.position", f"expected a whole number >= 1, got {position!r}")
    out["position"] = position
    out["window"] = _window(frame.get("window"), f"{where}.window", image)
    function = frame.get("voi_function")
    out["voi_function"] = None if function is None else _choice(function, VOI_FUNCTIONS, f"{where}.voi_function")
    out["polarity"] = _choice(frame.get("polarity") or "NORMAL", POLARITIES, f"{where}.polarity")
    contrast = frame.get("contrast")
    out["contrast"] = 1.0 if contrast is None else _number(contrast, f"{where}.contrast", *CONTRAST_RANGE,
                                                           low_open=True)
    brightness = frame.get("brightness")
    out["brightness"] = 0.0 if brightness is None else _number(brightness, f"{where}.brightness",
                                                               *BRIGHTNESS_RANGE)
    true_size = frame.get("true_size", False)
    if not isinstance(true_size, bool):
        raise OptionError(f"{where}.true_size", f"expected true or false, got {true_size!r}")
    if true_size and image is not None and image.spacing_mm is None:
        raise OptionError(f"{where}.true_size", "the image has no Pixel Spacing or Imager Pixel Spacing, "
                                                "so its true size is unknown")
    out["true_size"] = true_size
    native = frame.get("native_size", False)
    if not isinstance(native, bool):
        raise OptionError(f"{where}.native_size", f"expected true or false, got {native!r}")
    if native and true_size:
        raise OptionError(f"{where}.native_size", "give native_size or true_size, not both")
    out["native_size"] = native
    annotations = _list(frame.get("annotations") or [], f"{where}.annotations", MAX_ANNOTATIONS)
    out["annotations"] = [_annotation(a, f"{where}.annotations[{i}]") for i, a in enumerate(annotations)]
    graphics = _list(frame.get("graphics") or [], f"{where}.graphics", MAX_GRAPHICS)
    out["graphics"] = [_graphic(g, f"{where}.graphics[{i}]", image) for i, g in enumerate(graphics)]
    overlays = frame.get("overlays", True)
    overlays = True if overlays is None else overlays
    if not isinstance(overlays, bool):
        raise OptionError(f"{where}.overlays", f"expected true or false, got {overlays!r}")
    out["overlays"] = overlays
    rect = frame.get("rect_mm")
    if rect is not None:
        if (not isinstance(rect, (list, tuple)) or len(rect) != 4 or not all(_is_number(v) for v in rect)
                or rect[2] <= 0 or rect[3] <= 0):
            raise OptionError(f"{where}.rect_mm", f"expected [x, y, width, height] in mm (width, height > 0), "
                                                  f"got {rect!r}")
        rect = [float(v) for v in rect]
    out["rect_mm"] = rect
    magnification = frame.get("magnification")
    out["magnification"] = None if magnification is None else _choice(magnification, MAGNIFICATIONS,
                                                                       f"{where}.magnification")
    out["smoothing"] = _text(frame, "smoothing", where)
    size = frame.get("requested_image_size")
    if size is not None:
        size = _number(size, f"{where}.requested_image_size", *REQUESTED_IMAGE_SIZE_RANGE, low_open=True)
        if true_size:
            raise OptionError(f"{where}.requested_image_size", "give true_size or requested_image_size, not both "
                                                               "(true size is the width from Pixel Spacing)")
    out["requested_image_size"] = size
    return out


def _text(film: dict, key: str, where: str) -> str | None:
    value = film.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise OptionError(f"{where}.{key}", f"expected a non-empty text, got {value!r}")
    return value


def check_film_options(film, where: str, images: Mapping[str, ImageInfo] | None = None) -> dict:
    """Validate and normalise one film and its frames (see the schema in :mod:`hcserver.formatter`).

    ``where`` is the film's path (``films[0]``). ``images`` optionally maps each
    frame's ``image`` to its :class:`ImageInfo` for the image-dependent frame
    checks. Film rules: a known film size and orientation, a valid layout, at
    most as many frames as boxes, distinct positions inside the layout; with
    ``CUSTOM``, every frame has a ``rect_mm`` inside the film and no
    ``position``; other layouts take no ``rect_mm``. Raises :class:`OptionError`.
    """
    where = _path(where)
    film = _object(film, where)
    _known(film, FILM_OPTIONS, where)
    film_size = film.get("film_size")
    if film_size not in FILM_SIZES:
        raise OptionError(f"{where}.film_size", f"{film_size!r} is not one of: {', '.join(FILM_SIZES)}"
                          if film_size is not None else "missing")
    orientation = _choice(film.get("orientation") or "PORTRAIT", ORIENTATIONS, f"{where}.orientation")
    layout = film.get("layout")
    if not isinstance(layout, str):
        raise OptionError(f"{where}.layout", "missing" if layout is None else f"expected a display format, "
                                                                             f"got {layout!r}")
    try:
        validate_layout(layout, orientation, film_size)
        layout = canonical_layout(layout)
    except ValueError as exc:
        raise OptionError(f"{where}.layout", str(exc)) from None
    out = {"film_size": film_size, "orientation": orientation, "layout": layout}
    magnification = film.get("magnification")
    out["magnification"] = None if magnification is None else _choice(magnification, MAGNIFICATIONS,
                                                                       f"{where}.magnification")
    for key in ("smoothing", "trim", "configuration_information"):
        out[key] = _text(film, key, where)
    bit_depth = film.get("bit_depth")
    if bit_depth is not None and (not _is_whole(bit_depth) or bit_depth not in BIT_DEPTHS):
        raise OptionError(f"{where}.bit_depth", f"expected 8 or 12, got {bit_depth!r}")
    out["bit_depth"] = bit_depth
    lut = film.get("presentation_lut")
    try:
        out["presentation_lut"] = None if lut is None else plut.check(lut)
    except plut.LutError as exc:
        raise OptionError(f"{where}.presentation_lut" + (f".{exc.field}" if exc.field else ""), exc.problem) from None
    texts = film.get("annotation_boxes") or []
    if (not isinstance(texts, list) or len(texts) > MAX_ANNOTATION_BOXES
            or not all(isinstance(t, str) and t.isascii() and t.isprintable() for t in texts)):
        raise OptionError(f"{where}.annotation_boxes", f"expected at most {MAX_ANNOTATION_BOXES} texts of "
                                                       f"printable ASCII (the printer's annotation boxes)")
    out["annotation_boxes"] = texts
    for key in ("min_density", "max_density"):
        value = film.get(key)
        if value is not None and (not _is_whole(value) or not 0 <= value <= 65535):
            raise OptionError(f"{where}.{key}", f"expected a whole number from 0 to 65535, got {value!r}")
        out[key] = value
    for key in ("border_density", "empty_image_density"):
        value = film.get(key)
        if _is_whole(value):
            value = str(value)
        if value is not None:
            try:
                if not isinstance(value, str):
                    raise ValueError(f"density {value!r}: expected BLACK, WHITE or a density in "
                                     f"hundredths of OD")
                density_level(value, out["min_density"], out["max_density"])
            except ValueError as exc:
                raise OptionError(f"{where}.{key}", str(exc)) from None
            value = value.strip().upper()
        out[key] = value
    frames = film.get("frames")
    if not isinstance(frames, list) or not frames:
        raise OptionError(f"{where}.frames", f"expected a non-empty list of frames, got {frames!r}")
    infos = images or {}
    normalised = []
    for i, frame in enumerate(frames):
        image = frame.get("image") if isinstance(frame, dict) else frame
        info = infos.get(image) if isinstance(image, str) else None
        normalised.append(check_frame_options(frame, f"{where}.frames[{i}]", info))
    boxes = film_box_count(layout)
    if len(normalised) > boxes:
        most = "frames at most" if is_custom(layout) else "image box" if boxes == 1 else "image boxes"
        raise OptionError(f"{where}.frames", f"{len(normalised)} frames do not fit layout {layout} "
                                             f"({boxes} {most})")
    custom = is_custom(layout)
    taken: dict[int, int] = {}
    for i, frame in enumerate(normalised):
        field = f"{where}.frames[{i}]"
        if custom:
            if frame["position"] is not None:
                raise OptionError(f"{field}.position", "a CUSTOM film places its frames by rect_mm, not by "
                                                       "position")
            if frame["rect_mm"] is None:
                width, height = film_size_mm(film_size, orientation)
                raise OptionError(f"{field}.rect_mm", f"missing: a CUSTOM film needs [x, y, width, height] in "
                                                      f"mm for every frame (the film is {width:g} x "
                                                      f"{height:g} mm)")
            problem = custom_rect_problem(frame["rect_mm"], film_size, orientation)
            if problem:
                raise OptionError(f"{field}.rect_mm", problem)
            continue
        if frame["rect_mm"] is not None:
            raise OptionError(f"{field}.rect_mm", f"only for layout CUSTOM (this film's layout is {layout})")
        position = frame["position"]
        if position is None:
            continue
        if position > boxes:
            raise OptionError(f"{field}.position", f"{position!r} is not an image box of layout {layout} "
                                                   f"(1..{boxes})")
        if position in taken:
            raise OptionError(f"{field}.position", f"box {position} is already used by frames[{taken[position]}]")
        taken[position] = i
    out["frames"] = normalised
    return out
