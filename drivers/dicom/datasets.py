"""What the Print SCU puts in each request, as data: one table of attributes per request.

Each :class:`Attribute` of a :class:`Spec` says

* where its value comes from: ``value``, a function of the request's inputs (one of the
  ``*Inputs`` classes below), or a :class:`Fixed` value; a value of None is not sent;
* which printer settings it needs (``needs``): without them it is never sent;
* how the conformance statement describes it: ``presence`` and ``source`` as PS3.2 tables
  show them, and ``text``.

:func:`build` makes a request's dataset from its spec (:mod:`hcserver.drivers.dicom.scu`
sends nothing else), and the conformance statement renders its attribute tables from the
same specs, so the two cannot drift apart.

The texts are ``string.Template`` strings: ``$name`` is a value of the configuration the
statement is for, filled in by the statement (``hcserver.conformance``). A :class:`Varies`
text reads differently in the statement for all printers and in one printer's.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from hcserver.drivers.base import JobTicket
from hcserver.drivers.dicom.mapped import MappedReader, whole_mapping
from hcserver.drivers.dicom.status_policy import SOP_CLASS_UIDS
from hcserver.drivers.settings import PrinterConfig
from hcserver.formatter.film import FilmSheet, ImageBox
from hcserver.formatter.plut import PresentationLUT

# Presence of Value and Source, as PS3.2 attribute tables show them.
ALWAYS, ANAP = "ALWAYS", "ANAP"
USER, CONFIG, AUTO, PRINTER = "USER", "CONFIG", "AUTO", "Printer"

#: Printer settings, e.g. ``{"presentation_lut": True}``: True asks for a set (true, non-empty)
#: value, False for an unset one, anything else for that value.
Settings = Mapping[str, Any]


def has_settings(printer: PrinterConfig, settings: Settings) -> bool:
    """Whether ``printer`` has ``settings`` (see :data:`Settings`)."""
    for name, wanted in settings.items():
        value = getattr(printer, name)
        if wanted is True or wanted is False:
            if bool(value) is not wanted:
                return False
        elif value != wanted:
            return False
    return True


@dataclass(frozen=True)
class Varies:
    """A text that differs between the statement for all printers (``general``) and the one for
    a single printer: the first of ``cases`` whose settings that printer has, else ``general``."""

    general: str
    cases: tuple[tuple[Settings, str], ...] = ()

    def pick(self, printer: PrinterConfig | None) -> str:
        if printer is not None:
            for settings, text in self.cases:
                if has_settings(printer, settings):
                    return text
        return self.general


def by_bit_depth(general: str, eight: str, twelve: str) -> Varies:
    return Varies(general, (({"bit_depth": 12}, twelve), ({}, eight)))


@dataclass(frozen=True)
class Fixed:
    """A value that never changes; the statement shows it, followed by ``note``."""

    value: Any
    note: str = ""


@dataclass(frozen=True)
class Attribute:
    """One attribute of a request (see the module docstring)."""

    keyword: str
    value: Callable[[Any], Any] | Fixed | None   # None: requested (N-GET), not sent
    presence: str
    source: str
    text: str | Varies = ""                      # "" for a Fixed value: the value itself
    needs: Settings = field(default_factory=dict)   # printer settings without which it is never sent
    items: tuple[Attribute, ...] = ()            # a sequence's one item; ``value`` gives its inputs
    vr: str | Varies | None = None               # when the dictionary's is ambiguous (Pixel Data)
    wire_vr: Callable[[Any], str] | None = None  # the VR sent, when it depends on the inputs


@dataclass(frozen=True)
class Spec:
    """The attributes of one request: ``operation`` on ``sop_class`` (status policy names)."""

    sop_class: str
    operation: str
    attributes: tuple[Attribute, ...]


def build(spec: Spec, inputs: Any, printer: PrinterConfig) -> Dataset:
    """The dataset of a request, from its spec and inputs, for ``printer``."""
    return _build(spec.attributes, inputs, printer)


def _build(attributes: tuple[Attribute, ...], inputs: Any, printer: PrinterConfig) -> Dataset:
    ds = Dataset()
    for a in attributes:
        if not has_settings(printer, a.needs):
            continue
        if a.value is None:          # requested by N-GET, never sent
            continue
        value = a.value.value if isinstance(a.value, Fixed) else a.value(inputs)
        if value is None:
            continue
        if a.items:
            value = [_build(a.items, value, printer)]
        vr = a.wire_vr(inputs) if a.wire_vr is not None else a.vr
        if isinstance(value, memoryview) and isinstance(vr, str):
            # pydicom writes any buffer, but warns when a value of an O* VR is not bytes
            ds.add(DataElement(a.keyword, vr, value, validation_mode=config.IGNORE))
        elif isinstance(vr, str):
            ds.add_new(a.keyword, vr, value)
        else:                   # the dictionary's VR
            setattr(ds, a.keyword, value)
    return ds


# ---------------------------------------------------------------------------
# The inputs of each request.

@dataclass(frozen=True)
class SessionInputs:
    printer: PrinterConfig
    ticket: JobTicket
    plut_uid: str | None          # the Presentation LUT created for the job, if any


@dataclass(frozen=True)
class FilmBoxInputs:
    printer: PrinterConfig
    sheet: FilmSheet
    film_session_uid: str
    plut_uid: str | None
    annotated: bool               # the film's annotation texts go to Basic Annotation Boxes


@dataclass(frozen=True)
class Pixels:
    """An image box's pixels as they are sent: (rows, cols) grey or (rows, cols, 3) RGB."""

    array: np.ndarray
    bits: int                     # 8 or 12


@dataclass(frozen=True)
class ImageBoxInputs:
    box: ImageBox
    pixels: Pixels


@dataclass(frozen=True)
class AnnotationInputs:
    printer: PrinterConfig
    position: int                 # 1-based, in the order of the film's texts
    text: str


def _given(value: Any) -> Any:
    """A job value as sent: None (not sent) when the job leaves it out or empty."""
    return None if value is None or value == "" else value


def _ds_number(value: float) -> str:
    """A DS value (at most 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def _pixel_bytes(px: Pixels) -> memoryview | MappedReader:
    """The pixels as the bytes of their array, lent rather than copied: a 14x17 in film at
    320 dpi and 12 bits is 48.7 MB, and it is encoded once more by the request anyway; pixels
    in a file mapping are streamed from it (hcserver.drivers.dicom.mapped)."""
    data = np.ascontiguousarray(px.array)
    if data.dtype.byteorder == ">":
        data = data.astype("<u2")
    mapping = whole_mapping(data)
    return data.data.cast("B") if mapping is None else MappedReader(mapping)


def _reference(class_uid: str, text: str) -> tuple[Attribute, ...]:
    """The item of a Referenced ... Sequence; its inputs are the referenced instance's UID."""
    return (Attribute("ReferencedSOPClassUID", Fixed(class_uid), ALWAYS, AUTO),
            Attribute("ReferencedSOPInstanceUID", lambda uid: uid, ALWAYS, AUTO, text))


_PLUT_REFERENCE = _reference(SOP_CLASS_UIDS["presentation-lut"], "The Presentation LUT created for the job.")


# ---------------------------------------------------------------------------
# The requests.

#: N-ACTION on the Film Box or Film Session: its Action Type ID, print (no Action Information is sent).
PRINT_ACTION = 1

#: N-GET Printer: the Attribute Identifier List (requested, not sent).
PRINTER_STATUS = Spec("printer", "N-GET", (
    Attribute("PrinterStatus", None, ALWAYS, PRINTER,
              "Provided by the printer: `NORMAL`, `WARNING` or `FAILURE`."),
    Attribute("PrinterStatusInfo", None, ANAP, PRINTER,
              "Provided by the printer, e.g. `FILM JAM`, `SUPPLY LOW`."),
))

#: N-GET Printer Configuration Retrieval: what comes back. It is asked with no Attribute Identifier
#: List (all attributes), which for this SOP class is this one sequence.
PRINTER_CONFIGURATION = Spec("printer-configuration", "N-GET", (
    Attribute("PrinterConfigurationSequence", None, ALWAYS, PRINTER,
              "Provided by the printer (asked with no Attribute Identifier List, that is all attributes): per "
              "item, e.g. the SOP classes it supports, its memory and printing bit depths, the media installed, "
              "minimum and maximum density. Shown by `hcq echo` and `hcq printers`, never used to decide "
              "anything."),
))

#: N-GET Print Job: what is asked of each print job being followed (requested, not sent).
PRINT_JOB_STATUS = Spec("print-job", "N-GET", (
    Attribute("ExecutionStatus", None, ALWAYS, PRINTER, "Provided by the printer: `PENDING`, `PRINTING`, `DONE` "
              "or `FAILURE`."),
    Attribute("ExecutionStatusInfo", None, ANAP, PRINTER, "Provided by the printer, e.g. `FILM JAM`."),
))

def _lut_data(lut: PresentationLUT) -> bytes:
    return np.asarray(lut.data, dtype="<u2").tobytes()


#: N-CREATE Presentation LUT; its inputs are the :class:`~hcserver.formatter.plut.PresentationLUT`.
PRESENTATION_LUT = Spec("presentation-lut", "N-CREATE", (
    Attribute("PresentationLUTShape", lambda lut: lut.shape, ANAP, USER,
              "The film's presentation_lut when it is a shape, `IDENTITY` or `LIN OD`; `IDENTITY` for a film that "
              "gives none. Not sent with a Presentation LUT Sequence."),
    Attribute("PresentationLUTSequence", lambda lut: lut if lut.shape is None else None, ANAP, USER,
              "One item: the film's presentation_lut when it is a table (`{\"descriptor\", \"data\"}`, "
              "sampled to one entry per input value of the image's bit depth) or a gamma (made into a table of "
              "12-bit entries, one per input value).",
              items=(Attribute("LUTDescriptor", lambda lut: list(lut.descriptor), ALWAYS, USER,
                               "Entries (256 for 8-bit images, 4096 for 12-bit ones), 0, the bits of an entry "
                               "(10 to 16).", vr="US"),
                     Attribute("LUTData", _lut_data, ALWAYS, USER, "The P-values, one per input value.",
                               vr="OW"))),
))


def _from_job(name: str) -> Varies:
    job = f"The job's {name}, else the printer's defaults.{name} ($default_{name})"
    return Varies(f"{job}; restricted to the printer's {name}s. Sent only when one of them is set.",
                  (({}, f"{job}; one of ${name}s. Sent only when one of them is set."),))


FILM_SESSION = Spec("film-session", "N-CREATE", (
    Attribute("NumberOfCopies", lambda s: max(1, int(s.ticket.copies)), ALWAYS, USER,
              "The job's copies, 1 to $max_copies (default: the printer's defaults.copies, $default_copies)."),
    Attribute("PrintPriority", lambda s: (s.ticket.priority or "MED").upper(), ALWAYS, USER,
              "`HIGH`, `MED` or `LOW`: the job's priority (default: the printer's defaults.priority, "
              "$default_priority)."),
    Attribute("MediumType", lambda s: s.ticket.medium_type or s.printer.defaults.medium_type or None,
              ANAP, USER, _from_job("medium_type")),
    Attribute("FilmDestination", lambda s: s.ticket.film_destination or s.printer.defaults.film_destination or None,
              ANAP, USER, _from_job("film_destination")),
    Attribute("FilmSessionLabel", lambda s: s.ticket.label[:64] if s.ticket.label else None, ANAP, USER,
              "The job's label, its first 64 characters. Sent only when the job has one."),
    Attribute("MemoryAllocation", lambda s: s.printer.memory_allocation or None, ANAP, CONFIG,
              Varies("The printer's memory_allocation (kilobytes). Sent only when it is configured.", (
                  ({"memory_allocation": True}, "$memory_allocation (this printer's memory_allocation, kilobytes)."),
                  ({}, "Not sent: this printer has no memory_allocation.")))),
    Attribute("ReferencedPresentationLUTSequence", lambda s: s.plut_uid, ANAP, AUTO,
              Varies("Only with presentation_lut = true and plut_in_film_session = true, when the printer "
                     "accepted the Presentation LUT SOP class.",
                     (({}, "Only when the printer accepted the Presentation LUT SOP class (plut_in_film_session "
                           "= true)."),)),
              needs={"presentation_lut": True, "plut_in_film_session": True}, items=_PLUT_REFERENCE),
))


def _film(field_name: str) -> Callable[[FilmBoxInputs], Any]:
    return lambda f: _given(getattr(f.sheet, field_name))


_SENT_WHEN_GIVEN = "Sent only when the job gives it."

FILM_BOX = Spec("film-box", "N-CREATE", (
    Attribute("ImageDisplayFormat", lambda f: f.sheet.display_format, ALWAYS, USER, Varies(
        "The film's layout: $layouts (default: defaults.layout, $default_layout). A `CUSTOM` layout, and one "
        "the printer's display_formats do not list where they list `STANDARD\\1,1` (with a warning on the job), "
        "is composed by this server into one image and sent as `STANDARD\\1,1`.",
        (({}, "The film's layout: $layouts (default: defaults.layout, $default_layout); this printer accepts "
              "$display_formats. A `CUSTOM` layout, and one this printer does not list where it lists "
              "`STANDARD\\1,1` (with a warning on the job), is composed by this server into one image and sent "
              "as `STANDARD\\1,1`."),))),
    Attribute("AnnotationDisplayFormatID", lambda f: f.printer.annotation_display_format_id if f.annotated else None,
              ANAP, CONFIG, Varies(
                  "The printer's annotation_display_format_id. Sent only with annotation_box = true, when the film "
                  "has annotation texts and the printer accepted the Basic Annotation Box SOP class.",
                  (({}, "$annotation_display_format_id (this printer's annotation_display_format_id). Sent only "
                        "when the film has annotation texts and the printer accepted the Basic Annotation Box SOP "
                        "class."),)),
              needs={"annotation_box": True}),
    Attribute("FilmOrientation", _film("orientation"), ALWAYS, USER,
              "`PORTRAIT` or `LANDSCAPE`: the film's orientation (default: defaults.orientation, "
              "$default_orientation)."),
    Attribute("FilmSizeID", _film("film_size"), ALWAYS, USER, Varies(
        "The film's film_size, one of the printer's film_sizes (default: defaults.film_size, $default_film_size).",
        (({}, "The film's film_size, one of $film_sizes (default: defaults.film_size, $default_film_size)."),))),
    Attribute("MagnificationType", _film("magnification"), ALWAYS, USER, Varies(
        "The film's magnification, one of the printer's magnification_types (default: defaults.magnification, "
        "$default_magnification).",
        (({}, "The film's magnification, one of $magnification_types (default: defaults.magnification, "
              "$default_magnification)."),))),
    Attribute("SmoothingType", _film("smoothing"), ANAP, USER,
              f"The film's smoothing, one of the printer's smoothing_types when it lists them. {_SENT_WHEN_GIVEN}"),
    Attribute("BorderDensity", _film("border_density"), ANAP, USER, f"The film's border_density. {_SENT_WHEN_GIVEN}"),
    Attribute("EmptyImageDensity", _film("empty_image_density"), ANAP, USER,
              f"The film's empty_image_density. {_SENT_WHEN_GIVEN}"),
    Attribute("MinDensity", _film("min_density"), ANAP, USER,
              f"The film's min_density (0-65535). {_SENT_WHEN_GIVEN}"),
    Attribute("MaxDensity", _film("max_density"), ANAP, USER,
              f"The film's max_density (0-65535). {_SENT_WHEN_GIVEN}"),
    Attribute("Trim", _film("trim"), ANAP, USER, f"The film's trim (`YES` or `NO` in DICOM). {_SENT_WHEN_GIVEN}"),
    Attribute("ConfigurationInformation",
              lambda f: f.sheet.configuration_information or f.printer.configuration_information or None,
              ANAP, CONFIG, Varies(
                  "The film's configuration_information, else the printer's configuration_information. "
                  "Sent only when one of them is set.",
                  (({}, "The film's configuration_information, else this printer's ($configuration_information). "
                        "Sent only when one of them is set."),))),
    Attribute("ReferencedFilmSessionSequence", lambda f: f.film_session_uid, ALWAYS, AUTO, "One item.",
              items=_reference(SOP_CLASS_UIDS["film-session"],
                               "The Film Session's: the Affected SOP Instance UID of its N-CREATE response, else "
                               "the one this server proposed.")),
    Attribute("ReferencedPresentationLUTSequence", lambda f: f.plut_uid, ANAP, AUTO,
              Varies("Only with presentation_lut = true and plut_in_film_session = false, when the printer "
                     "accepted the Presentation LUT SOP class.",
                     (({}, "Only when the printer accepted the Presentation LUT SOP class."),)),
              needs={"presentation_lut": True, "plut_in_film_session": False}, items=_PLUT_REFERENCE),
))


_GRAYSCALE_PIXELS = (
    Attribute("SamplesPerPixel", Fixed(1), ALWAYS, AUTO),
    Attribute("PhotometricInterpretation", Fixed("MONOCHROME2"), ALWAYS, AUTO),
    Attribute("Rows", lambda px: int(px.array.shape[0]), ALWAYS, AUTO, "The image's rows in printer pixels."),
    Attribute("Columns", lambda px: int(px.array.shape[1]), ALWAYS, AUTO, "The image's columns in printer pixels."),
    Attribute("PixelAspectRatio", Fixed([1, 1]), ALWAYS, AUTO),
    Attribute("BitsAllocated", lambda px: 8 if px.bits == 8 else 16, ALWAYS, AUTO,
              by_bit_depth("`8`, or `16` with bit_depth = 12", "`8`", "`16`")),
    Attribute("BitsStored", lambda px: 8 if px.bits == 8 else 12, ALWAYS, AUTO,
              by_bit_depth("`8`, or `12` with bit_depth = 12", "`8`", "`12`")),
    Attribute("HighBit", lambda px: 7 if px.bits == 8 else 11, ALWAYS, AUTO,
              by_bit_depth("`7`, or `11` with bit_depth = 12", "`7`", "`11`")),
    Attribute("PixelRepresentation", Fixed(0, "(unsigned)"), ALWAYS, AUTO),
    Attribute("PixelData", _pixel_bytes, ALWAYS, AUTO,
              by_bit_depth("The pixels: OB with 8 bits, OW with 12 bits (bit_depth = 12; a film asking for 12 "
                           "bits on a printer with bit_depth = 8 is formatted at 8, with a warning on the job).",
                           "8-bit pixels (bit_depth = 8).", "12-bit pixels (bit_depth = 12)."),
              vr=by_bit_depth("OB or OW", "OB", "OW"), wire_vr=lambda px: "OB" if px.bits == 8 else "OW"),
)

_COLOR_PIXELS = (
    Attribute("SamplesPerPixel", Fixed(3), ALWAYS, AUTO),
    Attribute("PhotometricInterpretation", Fixed("RGB"), ALWAYS, AUTO),
    Attribute("PlanarConfiguration", Fixed(0, "(colour-by-pixel)"), ALWAYS, AUTO),
    Attribute("Rows", lambda px: int(px.array.shape[0]), ALWAYS, AUTO, "The image's rows in printer pixels."),
    Attribute("Columns", lambda px: int(px.array.shape[1]), ALWAYS, AUTO, "The image's columns in printer pixels."),
    Attribute("PixelAspectRatio", Fixed([1, 1]), ALWAYS, AUTO),
    Attribute("BitsAllocated", Fixed(8), ALWAYS, AUTO),
    Attribute("BitsStored", Fixed(8), ALWAYS, AUTO),
    Attribute("HighBit", Fixed(7), ALWAYS, AUTO),
    Attribute("PixelRepresentation", Fixed(0, "(unsigned)"), ALWAYS, AUTO),
    Attribute("PixelData", _pixel_bytes, ALWAYS, AUTO,
              "8-bit RGB pixels. A grayscale film on a colour image box is sent with R = G = B.", vr="OB"),
)


def _image_box(sequence: str, pixels: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    return (
        Attribute("ImageBoxPosition", lambda b: b.box.position, ALWAYS, AUTO,
                  "The image box's position (1 to the number of boxes of the display format); boxes without an "
                  "image are not sent."),
        Attribute("Polarity", lambda b: b.box.polarity or "NORMAL", ALWAYS, USER,
                  "`NORMAL` or `REVERSE`: the frame's polarity (default `NORMAL`). For a `CUSTOM` layout this "
                  "server inverts the pixels itself and sends `NORMAL`."),
        Attribute("MagnificationType", lambda b: b.box.magnification or None, ANAP, USER,
                  "The frame's own magnification, one of the printer's magnification_types, when it has one (the "
                  "Film Box's applies otherwise)."),
        Attribute("SmoothingType", lambda b: b.box.smoothing or None, ANAP, USER,
                  "The frame's own smoothing, one of the printer's smoothing_types when it lists them, when it has "
                  "one (the Film Box's applies otherwise)."),
        Attribute("RequestedImageSize",
                  lambda b: _ds_number(float(b.box.requested_image_size_mm)) if b.box.requested_image_size_mm
                  else None, ANAP, USER,
                  "Width in mm of the image: the frame's requested_image_size, or for a frame printed at true size "
                  "its width from Pixel Spacing (the pixels are formatted to that width); not sent otherwise."),
        Attribute(sequence, lambda b: b.pixels, ALWAYS, AUTO, Varies(
            "One item: the image, formatted by this server to the box's size in printer pixels (the printer's dpi).",
            (({}, "One item: the image, formatted by this server to the box's size in printer pixels (the "
                  "printer's dpi, $dpi)."),)), items=pixels),
    )


GRAYSCALE_IMAGE_BOX = Spec("grayscale-image-box", "N-SET", _image_box("BasicGrayscaleImageSequence",
                                                                     _GRAYSCALE_PIXELS))
COLOR_IMAGE_BOX = Spec("color-image-box", "N-SET", _image_box("BasicColorImageSequence", _COLOR_PIXELS))

ANNOTATION_BOX = Spec("annotation-box", "N-SET", (
    Attribute("AnnotationPosition", lambda a: a.position, ALWAYS, AUTO,
              "The text's place among the film's annotation texts (1, 2, …); it goes to the annotation box of the "
              "same place in the Film Box N-CREATE response."),
    Attribute("TextString", lambda a: a.text[:a.printer.annotation_text_length], ALWAYS, USER, Varies(
        "One of the film's annotation texts, cut to the printer's annotation_text_length.",
        (({}, "One of the film's annotation texts, cut to $annotation_text_length characters (this printer's "
              "annotation_text_length)."),))),
))

#: Every request with attributes, in the order of a job.
SPECS = (PRINTER_STATUS, PRINTER_CONFIGURATION, PRESENTATION_LUT, FILM_SESSION, FILM_BOX, GRAYSCALE_IMAGE_BOX,
         COLOR_IMAGE_BOX, ANNOTATION_BOX, PRINT_JOB_STATUS)
