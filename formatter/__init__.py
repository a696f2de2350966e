"""The formatter: DICOM images + a film spec -> the pixels of every image box.

Pure functions (numpy); the only I/O is reading the source datasets.

Modules, one concept each:

* :mod:`hcserver.formatter.film` - the FilmSheet contract handed to drivers
* :mod:`hcserver.formatter.unprintable` - UnprintableImage: why an image cannot be printed
* :mod:`hcserver.formatter.screening` - a file's element headers walked before pydicom parses it
* :mod:`hcserver.formatter.source` - reading and decoding DICOM files, submit-time checks
* :mod:`hcserver.formatter.options` - the film and frame options: validation, normalisation
* :mod:`hcserver.formatter.imaging` - modality LUT, VOI/window, MONOCHROME1, contrast, colour
* :mod:`hcserver.formatter.geometry` - film sizes, display formats, box rectangles, CUSTOM rectangles
* :mod:`hcserver.formatter.autolayout` - choosing a STANDARD layout for a number of images
* :mod:`hcserver.formatter.sizing` - fitted, cropped and true-size placement of an image in its box
* :mod:`hcserver.formatter.resample` - magnification (REPLICATE, BILINEAR, CUBIC)
* :mod:`hcserver.formatter.paint` - inks, coverage masks and positioned blocks on box levels
* :mod:`hcserver.formatter.annotations` - text templates over DICOM attributes
* :mod:`hcserver.formatter.graphics` - lines, polylines, rectangles, ellipses, scale bar
* :mod:`hcserver.formatter.overlay_planes` - DICOM overlay planes (60xx) burnt in
* :mod:`hcserver.formatter.plut` - a film's Presentation LUT: checked, made for a bit depth, burnt in
* :mod:`hcserver.formatter.pipeline` - :func:`format_film`
* :mod:`hcserver.formatter.composition` - the whole film as one image (preview)

Public API
----------
``format_film(film, images, profile, index=0) -> FilmSheet``
    format one film; ``images`` maps frame ``image`` keys to files.
``compose(sheet) -> ndarray``
    the film as one image, from the very box pixels (preview).
``inspect_image(path, max_pixels=MAX_IMAGE_PIXELS, decode=True, data=None) -> ImageInfo``
    submit-time check that a file (or its bytes, ``data``) is a printable image (else
    UnprintableImage; ImageTooLarge when its declared rows x columns x frames x samples per
    pixel exceed ``max_pixels``, found before anything is decoded).
``read_dataset(path, max_pixels, data=None) -> Dataset`` and ``inspect_dataset(ds, path, decode)``
    the two halves of ``inspect_image``, for a caller that also reads the data set's attributes.
``screen(data, name)``
    cheap checks of an upload's bytes before they are stored: UnprintableImage if they are not
    DICOM (no 'DICM' prefix and no data set at their start, or no sequence of data elements).
``check_film_options(film, where, images=None) -> dict`` and
``check_frame_options(frame, where, image=None) -> dict``
    submit-time validation and normalisation; raise :class:`OptionError`
    (a ValueError with ``.field``) whose message starts with the field path.
``auto_layout(count, film_size, orientation, allowed=()) -> str``
    the STANDARD\\C,R layout for ``count`` images when a job gives none.
``film_box_count``, ``validate_layout``, ``canonical_layout``, ``film_pixels``, ``box_rects``
    film geometry.

Film options (a film of a job spec)
-----------------------------------
``film_size``
    a DICOM Film Size ID (:data:`FILM_SIZES`), required.
``orientation``
    ``PORTRAIT`` (default) or ``LANDSCAPE``.
``layout``
    Image Display Format, required: ``STANDARD\\C,R``, ``ROW\\n1,n2,…``,
    ``COL\\n1,n2,…``, ``SLIDE``, ``SUPERSLIDE`` or ``CUSTOM`` (every frame then
    gives ``rect_mm`` inside the film and no ``position``; the film is composed
    here and sent as one ``STANDARD\\1,1`` box; at most 100 frames).
``magnification``
    ``REPLICATE``, ``BILINEAR``, ``CUBIC`` or ``NONE``; default: the printer's.
``bit_depth``
    8 or 12: the bits of the grey pixels asked for (default: the printer's). The formatter makes
    what the profile says (``PrinterProfile.bit_depth``), which the server fits to the printer
    (``hcserver.filmplan``).
``presentation_lut``
    ``IDENTITY``, ``LIN OD``, ``{"gamma": g}`` or ``{"descriptor": [256|4096, 0, 10..16], "data": [...]}``
    (:mod:`hcserver.formatter.plut`). Sent with the film (``FilmSheet.presentation_lut``, as a table at
    the film's bit depth), or burnt into its pixels when ``PrinterProfile.burn_presentation_lut``.
``border_density``, ``empty_image_density``
    ``BLACK`` (default), ``WHITE`` or hundredths of optical density.
``min_density``, ``max_density``
    whole numbers 0..65535 (hundredths of OD).
``smoothing``, ``trim``, ``configuration_information``
    passed to the printer as given.
``annotation_boxes``
    texts for the printer's Basic Annotation Boxes (film-level text the printer draws itself,
    in annotation position order; printable ASCII, at most 16); only for printers configured
    with ``annotation_box = true``.
``frames``
    a non-empty list of frames (below), at most one per image box.

Frame options
-------------
``image``
    the image reference (resolved by the server); ``frame``: 0-based frame
    number (default 0); ``position``: 1-based image box (default: the next free).
``window``
    ``{"center": c, "width": w > 0}`` (in modality units, e.g. HU),
    ``{"index": n >= 0}`` (the image's n-th VOI: VOI LUT Sequence items first,
    then its Window Center/Width pairs), ``{"explanation": "BONE"}`` (matched
    against Window Center & Width Explanation / LUT Explanation, ignoring
    case), or ``"auto"`` (0.5th..99.5th percentile of the frame's values).
    Default: the image's first VOI, else automatic. Ignored (with a note) for
    colour images.
``voi_function``
    ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``; default: the image's VOI LUT
    Function, else LINEAR.
``polarity``
    ``NORMAL`` (default) or ``REVERSE``.
``contrast``
    factor about mid-grey, > 0 and <= 10 (default 1); ``brightness``: -1..1
    of the full output range, added after contrast (default 0).
``true_size``
    true/false (default false): print at the physical size from Pixel
    Spacing (else Imager Pixel Spacing), within one printer pixel; refused if
    the image has no spacing or does not fit its box at that size.
``native_size``
    true/false (default false): the frame's pixels one for one, not resampled to its box,
    when they fit in it at the printer's dpi (else fitted as usual); the printer's own
    magnification then scales them. For images whose pixels are already what the printer
    should get (an image box a Print SCU sent).
``annotations``
    up to 32 of ``{"text": template, "at": position, "size_mm": 3,
    "grey"|"color": …, "outline": true}``; ``at`` is one of ``top-left``,
    ``top``, ``top-right``, ``left``, ``right``, ``bottom-left``, ``bottom``,
    ``bottom-right``; a template is text with ``{Field}``s: any DICOM keyword
    (missing ones print nothing) or ``{Window}`` ("C 40 W 400"), ``{Frame}``
    (1-based), ``{Frames}``, ``{Film}`` (1-based), ``{Box}``; a template, a
    field's format width or precision (``{PatientID:>10}``) and the printed
    text are at most 1024 characters (longer values are cut). ``size_mm``: the
    capital-letter height on the film, 0.5..50 (default 3).
``graphics``
    up to 256, in image pixel coordinates ((0, 0) = the image's top-left
    corner, (Columns, Rows) = its bottom-right corner):
    ``{"type": "line"|"rectangle", "points": [[x0, y0], [x1, y1]]}``,
    ``{"type": "polyline", "points": [[x, y], …], "closed": false}``,
    ``{"type": "ellipse", "center": [x, y], "radii": [rx, ry]}``, each with
    optional ``"width_mm"`` (line width on the film, 0.05..10, default 0.35);
    ``{"type": "scale-bar", "length_mm": 50, "at": "bottom-right", "size_mm": 3}``
    (a bar that long in the patient, from the pixel spacing; refused without
    one or longer than the image). All take the ink options.
``overlays``
    true (default) / false: burn the image's overlay planes (60xx) in.
``rect_mm``
    ``[x, y, width, height]`` in mm from the film's top-left corner; CUSTOM
    layouts only, where it is required.
``magnification``, ``smoothing``
    the frame's image box's own (Magnification Type, Smoothing Type), else the
    film's; the magnification is also how the frame is resampled.
``requested_image_size``
    the image's width on the film in mm (> 0, at most 1000): the frame is
    formatted to that width, aspect ratio kept, and its box carries Requested
    Image Size; refused if it does not fit its box, and together with
    ``true_size``. With ``native_size`` the pixels are left as they are and
    the printer scales them to that width.

A profile with ``compose`` makes any layout a composed film, as CUSTOM is: its
frames are drawn into their boxes on one film-sized image (empty boxes in the
Empty Image Density), sent as one ``STANDARD\\1,1`` box.

Ink options of annotations and graphics: ``"grey": 0..1`` (1 = white) or
``"color": "#rrggbb"`` / ``[r, g, b]`` (luminance on a grey film); default
white. ``"outline": false`` drops the contrasting outline (black around light
inks, white around dark ones) that keeps marks legible on any picture.
Overlay planes are burnt white with a black outline.

All marks (overlay planes, graphics, annotations) are painted after
windowing, at the printer's resolution, into the box pixels the driver sends;
with Polarity REVERSE the printer inverts them with the image.
"""

import importlib
from typing import TYPE_CHECKING, Any

# The public API, by the module that defines each name. Importing the package costs nothing:
# a name is imported from its module when first used, so ``hcserver.formatter.geometry`` or
# the film sizes can be read without loading the image pipeline (numpy, scikit-image, pydicom).
_EXPORTS = {
    "auto_layout": "autolayout",
    "compose": "composition", "film_png": "composition",
    "BoxRect": "film", "FilmSheet": "film", "ImageBox": "film", "PrinterProfile": "film",
    "FILM_SIZES": "geometry", "MAGNIFICATIONS": "geometry", "ORIENTATIONS": "geometry",
    "box_rects": "geometry", "canonical_layout": "geometry", "film_box_count": "geometry",
    "film_pixels": "geometry", "validate_layout": "geometry",
    "FILM_OPTIONS": "options", "FRAME_OPTIONS": "options", "OptionError": "options",
    "check_film_options": "options", "check_frame_options": "options",
    "format_film": "pipeline",
    "ImageInfo": "source", "MAX_IMAGE_PIXELS": "film",
    "ImageTooLarge": "unprintable", "UnprintableImage": "unprintable",
    "inspect_dataset": "source", "inspect_image": "source", "read_dataset": "source", "screen": "screening",
}
if TYPE_CHECKING:   # what the lazy names are, for type checkers (see __getattr__)
    from hcserver.formatter.autolayout import auto_layout
    from hcserver.formatter.composition import compose, film_png
    from hcserver.formatter.film import MAX_IMAGE_PIXELS, BoxRect, FilmSheet, ImageBox, PrinterProfile
    from hcserver.formatter.geometry import (
        FILM_SIZES,
        MAGNIFICATIONS,
        ORIENTATIONS,
        box_rects,
        canonical_layout,
        film_box_count,
        film_pixels,
        validate_layout,
    )
    from hcserver.formatter.options import (
        FILM_OPTIONS,
        FRAME_OPTIONS,
        OptionError,
        check_film_options,
        check_frame_options,
    )
    from hcserver.formatter.pipeline import format_film
    from hcserver.formatter.screening import screen
    from hcserver.formatter.source import ImageInfo, inspect_dataset, inspect_image, read_dataset
    from hcserver.formatter.unprintable import ImageTooLarge, UnprintableImage


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
