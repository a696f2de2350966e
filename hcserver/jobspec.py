"""Job spec validation: a client's JSON spec → a normalised job, or an error naming the field.

Normalising fills every default from the printer's configuration, so what the
queue stores is exactly what will be printed. Rules where the design is silent:

* A field given as ``null`` is the same as a field left out: it takes the default.
* ``printer`` left out: the first printer in the configuration.
* ``printer`` may name a pool: the job is normalised for every member and must come out the
  same on each (:meth:`JobSpecValidator._for_pool`), so whichever member takes it prints what
  was checked. A job one member cannot print is refused, naming that member.
* Instead of ``films`` a spec may give ``images`` (a list of image references or
  frame objects) with optional film-level fields (``layout``, ``film_size``,
  ``orientation``, …): the images are laid out in order over as many films as
  the layout needs.
* Unknown keys are refused, so a typo never silently prints the wrong thing.
* Enumerations are case-insensitive (``"high"``, ``"portrait"``, ``"cubic"``), and a film size
  may leave out its unit (``14x17`` is ``14INX17IN``): a person typing them should not have to
  know DICOM's spelling. What is stored is DICOM's.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hcserver import formatter
from hcserver.config import PrinterConfig, ServerConfig
from hcserver.configpools import PoolConfig
from hcserver.filmplan import PlanError, plan_film
from hcserver.formatter.geometry import MAGNIFICATIONS, ORIENTATIONS, film_size_id
from hcserver.states import PRIORITIES

MAX_COPIES = 99
JOB_KEYS = {"printer", "priority", "copies", "medium_type", "film_destination", "label", "films", "images"}
FILM_KEYS = set(formatter.FILM_OPTIONS) - {"frames"}
FRAME_KEYS = set(formatter.FRAME_OPTIONS)


class SpecError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.problem = field, message


def _get(spec: dict, key: str, default):
    """A field's value; left out or null means the default."""
    value = spec.get(key)
    return default if value is None else value


def _str(spec: dict, key: str, where: str, default: str | None, longest: int = 64) -> str | None:
    """A text field. Printers get these in the DICOM default character repertoire, so only
    printable ASCII is accepted (at most 64 characters, a DICOM LO value, unless ``longest``)."""
    value = _get(spec, key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SpecError(f"{where}{key}", f"expected a non-empty string, got {value!r}")
    if value is not None and not (value.isascii() and value.isprintable() and len(value) <= longest):
        raise SpecError(f"{where}{key}", f"{value!r}: use at most {longest} printable ASCII characters "
                                         f"(the DICOM default character repertoire)")
    return value


def _int(spec: dict, key: str, where: str, default: int | None, low: int, high: int) -> int | None:
    value = _get(spec, key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{where}{key}", f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def _choice(value: Any, field: str, allowed: tuple[str, ...] | list[str], empty_means_any: bool = False) -> Any:
    if value is None or (empty_means_any and not allowed):
        return value
    if value not in allowed:
        raise SpecError(field, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def _difference(a: Any, b: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """The first field (its path) where two normalised jobs differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _difference(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((found for i, (x, y) in enumerate(zip(a, b)) if (found := _difference(x, y, f"{where}[{i}]"))),
                    None)
    return None if a == b else (where, a, b)


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def _film_size(film: dict, where: str, printer: PrinterConfig) -> str:
    """The film's size as DICOM names it (see :func:`film_size_id`), one the printer takes."""
    given = _str(film, "film_size", where, printer.defaults.film_size) or printer.defaults.film_size
    return _choice(film_size_id(given), f"{where}film_size", printer.film_sizes)


def _orientation(film: dict, where: str, printer: PrinterConfig) -> str:
    given = _str(film, "orientation", where, printer.defaults.orientation) or printer.defaults.orientation
    return _choice(given.upper(), f"{where}orientation", ORIENTATIONS)


def _unknown(spec: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise SpecError(f"{where}{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


class JobSpecValidator:
    """Validates specs against the configured printers and the uploaded images."""

    def __init__(self, config: ServerConfig, resolve_image: Callable[[str, str], str],
                 image_info: Callable[[str], formatter.ImageInfo]):
        self.config = config
        self.resolve_image = resolve_image   # (reference, field) -> spool digest, or SpecError
        self.image_info = image_info         # digest -> ImageInfo (cached by the caller)

    def normalise(self, spec: Any) -> dict:
        if not isinstance(spec, dict):
            raise SpecError("", "a job spec must be a JSON object")
        _unknown(spec, JOB_KEYS | (FILM_KEYS if "images" in spec else set()), "")
        name = _str(spec, "printer", "", next(iter(self.config.printers)))
        if name in self.config.pools:
            return self._for_pool(spec, self.config.pools[name])
        if name not in self.config.printers:
            pools = f"; pools: {', '.join(self.config.pools)}" if self.config.pools else ""
            raise SpecError("printer", f"unknown printer {name!r} (configured: {', '.join(self.config.printers)}"
                                       f"{pools})")
        return self._for_printer(spec, self.config.printers[name])

    def _for_pool(self, spec: dict, pool: PoolConfig) -> dict:
        """A job for a pool: normalised for each member, which must each accept it and complete
        it the same way (a default one member fills in differently, e.g. its film size, must be
        given in the job). Its ``color`` says whether it has colour images."""
        jobs = []
        for member in pool.printers:
            try:
                jobs.append(self._for_printer(spec, self.config.printers[member]))
            except SpecError as exc:
                raise SpecError(exc.field, f"{exc.problem} (printer {member} of pool {pool.name})") from None
        for member, job in zip(pool.printers[1:], jobs[1:]):
            differs = _difference({**jobs[0], "printer": None, "color": None}, {**job, "printer": None, "color": None})
            if differs:
                field, first, other = differs
                raise SpecError(field, f"printers {pool.printers[0]} and {member} of pool {pool.name} would print "
                                       f"{first!r} and {other!r}: give it in the job, so that it prints the same "
                                       "on either")
        # Whether it has colour images: each member prints them in colour only if it is a colour printer.
        color = any(self.image_info(frame["image"]).color for film in jobs[0]["films"] for frame in film["frames"])
        return {**jobs[0], "printer": pool.name, "color": color}

    def _for_printer(self, spec: dict, printer: PrinterConfig) -> dict:
        name = printer.name
        defaults = printer.defaults
        priority = _get(spec, "priority", defaults.priority)
        if isinstance(priority, str):
            priority = priority.lower()
        _choice(priority, "priority", PRIORITIES)
        job = {
            "printer": name,
            "priority": priority,
            "copies": _int(spec, "copies", "", defaults.copies, 1, MAX_COPIES),
            "medium_type": _choice(_str(spec, "medium_type", "", defaults.medium_type), "medium_type",
                                   printer.medium_types, empty_means_any=True),
            "film_destination": _choice(_str(spec, "film_destination", "", defaults.film_destination),
                                        "film_destination", printer.film_destinations, empty_means_any=True),
            "label": _str(spec, "label", "", None),
        }
        if ("films" in spec) == ("images" in spec):
            raise SpecError("films", "give either films (each with its frames) or images (laid out "
                                     "automatically), not both and not neither")
        films = self._films_from_images(spec, printer) if "images" in spec else spec["films"]
        if not isinstance(films, list) or not films:
            raise SpecError("films", "expected a non-empty list of films")
        if len(films) > self.config.max_films_per_job:
            raise SpecError("films", f"{len(films)} films exceed the limit of {self.config.max_films_per_job} "
                                     f"per job")
        job["films"] = [self._film(film, printer, f"films[{i}].") for i, film in enumerate(films)]
        if printer.presentation_lut and printer.plut_in_film_session:
            luts = [film.get("presentation_lut") for film in job["films"]]
            other = next((i for i, lut in enumerate(luts) if lut != luts[0]), None)
            if other is not None:
                raise SpecError(f"films[{other}].presentation_lut",
                                f"printer {name!r} takes the Presentation LUT on the film session "
                                "(plut_in_film_session = true): every film of a job must have the same one")
        job["color"] = printer.color and any(
            self.image_info(frame["image"]).color for film in job["films"] for frame in film["frames"])
        return job

    def _films_from_images(self, spec: dict, printer: PrinterConfig) -> list[dict]:
        """Lay ``images`` out over as many films as needed: with the spec's layout, else the
        printer's default layout, else the standard layout that fits them best."""
        images = spec["images"]
        if not isinstance(images, list) or not images:
            raise SpecError("images", "expected a non-empty list of images")
        film = {key: spec[key] for key in FILM_KEYS if key in spec}
        layout = _get(film, "layout", printer.defaults.layout)
        if layout is None:
            # checked before the layout is chosen for them: a size or orientation the printer
            # cannot take is the spec's error, named, not the layout chooser's
            film_size, orientation = _film_size(film, "", printer), _orientation(film, "", printer)
            try:
                layout = formatter.auto_layout(len(images), film_size, orientation, printer.display_formats)
            except ValueError as exc:
                raise SpecError("layout", f"no layout given, and none chosen: {exc}") from None
            film["layout"] = layout
        try:
            per_film = formatter.film_box_count(layout)
        except ValueError as exc:
            raise SpecError("layout", str(exc)) from None
        frames = [image if isinstance(image, dict) else {"image": image} for image in images]
        return [{**film, "frames": frames[i:i + per_film]} for i in range(0, len(frames), per_film)]

    def _film(self, film: Any, printer: PrinterConfig, where: str) -> dict:
        """Printer-level checks and defaults here; the rendering options are the formatter's."""
        if not isinstance(film, dict):
            raise SpecError(where.rstrip("."), "expected an object")
        _unknown(film, FILM_KEYS | {"frames"}, where)
        d = printer.defaults
        film_size, orientation = _film_size(film, where, printer), _orientation(film, where, printer)
        frames = film.get("frames")
        if not isinstance(frames, list) or not frames:
            raise SpecError(f"{where}frames", "expected a non-empty list of frames")
        layout = _str(film, "layout", where, d.layout) or formatter.auto_layout(
            len(frames), film_size, orientation, printer.display_formats)
        magnifications = [m for m in MAGNIFICATIONS if m in printer.magnification_types]
        magnification = _choice(_upper(_str(film, "magnification", where, d.magnification)), f"{where}magnification",
                                magnifications)
        resolved = [self._frame(frame, f"{where}frames[{i}].", magnifications) for i, frame in enumerate(frames)]
        candidate = {**film, "film_size": film_size, "orientation": orientation, "layout": layout,
                     "magnification": magnification, "frames": resolved,
                     "configuration_information": _str(film, "configuration_information", where,
                                                       printer.configuration_information, longest=1024)}
        for key in ("smoothing", "border_density", "empty_image_density", "trim"):
            candidate[key] = _str(film, key, where, None)
        candidate["smoothing"] = _choice(candidate["smoothing"], f"{where}smoothing", printer.smoothing_types,
                                         empty_means_any=True)
        for i, frame in enumerate(resolved):
            if isinstance(frame.get("smoothing"), str):
                _choice(frame["smoothing"], f"{where}frames[{i}].smoothing", printer.smoothing_types,
                        empty_means_any=True)
        if film.get("annotation_boxes") and not printer.annotation_box:
            raise SpecError(f"{where}annotation_boxes", f"printer {printer.name!r} is not configured for "
                                                        f"annotation boxes (annotation_box = true)")
        infos = {frame["image"]: self.image_info(frame["image"]) for frame in resolved}
        try:
            checked = formatter.check_film_options(candidate, where.rstrip("."), infos)
            plan_film(checked, printer, where)     # refused here if no fallback fits the printer
        except (formatter.OptionError, PlanError) as exc:
            raise SpecError(exc.field, exc.problem) from None
        return checked

    def _frame(self, frame: Any, where: str, magnifications: list[str]) -> dict:
        """The frame with its image reference resolved to the spool digest (options: formatter)."""
        if isinstance(frame, str):
            frame = {"image": frame}
        if not isinstance(frame, dict):
            raise SpecError(where.rstrip("."), "expected an object or an image reference")
        _unknown(frame, FRAME_KEYS, where)
        if "image" not in frame:
            raise SpecError(f"{where}image", "missing")
        if frame.get("magnification") is not None:   # an image box's own, among the printer's like the film's
            _choice(_upper(_str(frame, "magnification", where, None)), f"{where}magnification", magnifications)
        return {**frame, "image": self.resolve_image(frame["image"], f"{where}image")}
