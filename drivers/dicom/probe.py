"""Capability probing: what a printer accepts, found without printing anything (``hcq probe``).

On one association (:class:`~hcserver.drivers.dicom.association.PrintAssociation`, proposing the
Meta SOP classes and every optional class, :data:`PROPOSED`) a probe asks, in this order:

1. which SOP classes the printer accepted (association negotiation);
2. N-GET Printer, the attributes of its module (Printer Status, Printer Name, Manufacturer, ...;
   a printer that refuses some, for its status only), and N-GET Printer Configuration Retrieval,
   all attributes, when the printer accepted that class;
3. per medium type, then per film destination: N-CREATE of a Basic Film Session with it, and its
   N-DELETE at once (many printers hold one film session at a time);
4. when the printer accepted the Presentation LUT class: N-CREATE of an IDENTITY LUT, and a film
   session that references it (deleted at once);
5. in one film session without any of these: N-CREATE of a Basic Film Box per film size (layout
   ``STANDARD\\1,1``), per display format (at a film size the printer took) and per magnification
   type, each deleted at once; a film box that references the Presentation LUT;
6. bit depth: a film box with one image box N-SET with a 16x16 image of 12 bits (Bits Stored 12),
   then one of 8 bits, each film box deleted without being printed. A bit depth refused is tried
   again with the Presentation LUT referenced (from the film box, else, once that film session is
   deleted, from a film session of its own): some printers take images only with a LUT that
   matches them;
7. the annotation boxes a film box gets for the printer's Annotation Display Format ID, when the
   printer accepted Basic Annotation Box;
8. the N-DELETE of the Presentation LUT, and the release of the association.

Never an N-ACTION: nothing is printed. Every request is judged by its status alone (a success or
warning is accepted; the refusal, its meaning and the printer's Error Comment are kept) and the
probe goes on after a refusal. A printer may accept anything: only the common values below (and
the values the printer's configuration lists) are tried, so a probe sends a bounded number of
requests (at most :data:`MAX_REQUESTS`, within :data:`TIME_LIMIT_S`). Display formats are tried
in PORTRAIT (DCMTK's dcmprscp, for one, takes a landscape layout as its portrait transpose). When
the association ends (an abort, a closed connection, a request that got no answer) or a limit is
reached, the probe stops there and reports what it had learnt and why it stopped.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from hcserver.drivers.base import PrintFailure
from hcserver.drivers.dicom.annex_n import category_of
from hcserver.drivers.dicom.association import (
    COLOR_META,
    GRAYSCALE_META,
    PRINTER_INSTANCE,
    SOP_CLASSES,
    SOP_NAMES,
    ConnectionLost,
    PrintAssociation,
)
from hcserver.drivers.dicom.datasets import (
    COLOR_IMAGE_BOX,
    GRAYSCALE_IMAGE_BOX,
    PRESENTATION_LUT,
    PRINTER_STATUS,
    ImageBoxInputs,
    Pixels,
    build,
)
from hcserver.drivers.dicom.probe_result import CLASS_NAMES, ProbeResult, Tried, derive_settings
from hcserver.drivers.dicom.status_policy import meaning_of
from hcserver.drivers.settings import PrinterConfig, Station
from hcserver.formatter.film import ImageBox
from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS
from hcserver.formatter.plut import PresentationLUT

#: The well-known instance of Printer Configuration Retrieval (PS3.4 H.4.11).
PRINTER_CONFIGURATION_INSTANCE = "1.2.840.10008.5.1.1.17.376"

_CLASS_UIDS = {"grayscale-meta": GRAYSCALE_META, "color-meta": COLOR_META,
               **{name: SOP_CLASSES[name] for name in CLASS_NAMES if name in SOP_CLASSES}}
_CLASS_NAME_OF = {uid: name for name, uid in _CLASS_UIDS.items()}
#: What a probe proposes: every class it may ask about.
PROPOSED = [_CLASS_UIDS[name] for name in CLASS_NAMES]

# The common values tried (PS3.3 C.13.1 and C.13.3 defined terms; the usual layouts), besides the
# printer's configured ones.
MEDIUM_TYPES = ("PAPER", "CLEAR FILM", "BLUE FILM", "MAMMO CLEAR FILM", "MAMMO BLUE FILM")
FILM_DESTINATIONS = ("MAGAZINE", "PROCESSOR", "BIN_1", "BIN_2")
DISPLAY_FORMATS = tuple(f"STANDARD\\{c},{r}" for c, r in (
    (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3), (3, 5), (4, 4), (4, 5), (5, 4),
    (4, 6), (5, 5), (5, 6), (5, 7), (6, 5)))
#: The Printer's attributes asked for (PS3.3 C.13.9, the Printer Module).
PRINTER_MODULE = ("PrinterStatus", "PrinterStatusInfo", "PrinterName", "Manufacturer", "ManufacturerModelName",
                  "DeviceSerialNumber", "SoftwareVersions", "DateOfLastCalibration", "TimeOfLastCalibration")
BASE_FORMAT = "STANDARD\\1,1"   # IHE's minimum: what every Print SCP should take
BIT_DEPTHS = (12, 8)

MAX_REQUESTS = 300
TIME_LIMIT_S = 300.0
_TEST_IMAGE = 16   # rows and columns of the image a bit depth is tried with


class _Stop(Exception):
    """The probe cannot go on: the association ended, or a limit was reached."""


def _candidates(common: Iterable[str], configured: Iterable[str]) -> list[str]:
    """The common values, then the configured ones not among them."""
    out: list[str] = []
    for value in (*common, *configured):
        if value not in out:
            out.append(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _attributes(ds: Dataset | None) -> dict[str, Any]:
    """A response's attributes by keyword, as text (SOP classes by name); sequences as lists."""
    out: dict[str, Any] = {}
    for elem in ds or []:
        if elem.tag.group == 0 or not elem.keyword or elem.VR in ("OB", "OW", "UN"):
            continue
        if elem.VR == "SQ":
            out[elem.keyword] = [_attributes(item) for item in elem.value]
        elif elem.keyword == "SOPClassesSupported":
            values = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
            out[elem.keyword] = [SOP_NAMES.get(str(v), _CLASS_NAME_OF.get(str(v), str(v))) for v in values]
        else:
            out[elem.keyword] = _text(elem.value)
    return out


class _Probe:
    """One probe of one printer (see the module docstring).

    ``session`` is the film session the film boxes are made in (``session_plut``: it references
    the Presentation LUT), ``plut`` the Presentation LUT; both live as long as the association
    (PS3.4 H.4). A printer that refuses to delete a film session or film box (N-DELETE is optional
    for it) may hold it, and refuse the next one: the association is then renewed, and the film
    session and LUT made again on the new one.
    """

    def __init__(self, printer: PrinterConfig, station: Station, time_limit_s: float, max_requests: int):
        self.printer, self.station = printer, station
        self.deadline = time.monotonic() + time_limit_s
        self.time_limit_s, self.max_requests = time_limit_s, max_requests
        self.result = ProbeResult(printer.name)
        self.link: PrintAssociation | None = None
        self.meta: str | None = None
        self.trying: str | None = None     # the list of values being tried (ProbeResult.TRIED_LISTS)
        self.session: str | None = None
        self.session_plut = False
        self.plut: str | None = None

    # -- the exchange ---------------------------------------------------------------
    def ask(self, operation: str, sop: str, call: Callable[[Any, str | None, int], Any]
            ) -> tuple[int, Dataset, Dataset | None]:
        """One request: (status, status dataset, attribute list); _Stop when it cannot be asked or
        got no answer."""
        assert self.link is not None
        if self.result.requests >= self.max_requests:
            raise _Stop(f"stopped after {self.result.requests} requests, the probe's limit")
        if time.monotonic() > self.deadline:
            raise _Stop(f"stopped after {self.time_limit_s:g} s, the probe's time limit")
        self.result.requests += 1
        try:
            answer, _ = self.link.send(operation, sop, self.meta, call)
        except ConnectionLost as exc:      # the association was aborted there
            raise _Stop(exc.reason) from exc
        except PrintFailure as exc:        # a request pynetdicom could not encode
            raise _Stop(exc.reason) from exc
        status, attrs = answer if isinstance(answer, tuple) else (answer, None)
        return int(status.Status), status, attrs

    def judge(self, value: str, sop: str, operation: str, code: int, status: Dataset) -> Tried:
        ok = category_of(code) in ("success", "warning")
        return Tried(value, ok, code, meaning_of(code, sop, operation), _text(status.get("ErrorComment", "")).strip())

    def delete(self, sop: str, uid: str) -> None:
        code, status, _ = self.ask("N-DELETE", sop, lambda a, m, i: a.send_n_delete(
            SOP_CLASSES[sop], uid, msg_id=i, meta_uid=m if sop in ("film-session", "film-box") else None))
        if category_of(code) in ("success", "warning"):
            return
        note = f"N-DELETE {sop} refused: {self.judge('', sop, 'N-DELETE', code, status).answer}"
        if sop in ("film-session", "film-box"):
            note += "; what it holds ends with a new association"
            self._renew()
        if note not in self.result.notes:
            self.result.notes.append(note)

    def _open(self) -> None:
        try:
            self.link = PrintAssociation.open(self.printer, self.station, list(PROPOSED))
        except PrintFailure as exc:
            raise _Stop(exc.reason) from exc
        self.result.associations += 1

    def _renew(self) -> None:
        """A new association, with the film session and Presentation LUT made again on it."""
        assert self.link is not None
        self.link.release()
        self._open()
        if self.plut is not None:
            self.plut = self._create_plut(record=False)
        if self.session is not None:
            self.session = self._base_session(self.session_plut)

    # -- the steps --------------------------------------------------------------------
    def run(self) -> ProbeResult:
        start = time.monotonic()
        try:
            self._open()
            self._steps()
        except _Stop as stop:
            self.result.stopped = str(stop)
            self.result.cut_short = self.trying
        finally:
            if self.link is not None:
                events = self.link.take_events()
                if events:
                    self.result.notes.append(f"the printer sent {len(events)} N-EVENT-REPORT(s) meanwhile: "
                                             + "; ".join(f"{e.status} {e.info}".strip() for e in events))
                if self.link.is_alive:
                    self.link.release()
        self.result.seconds = time.monotonic() - start
        self.result.settings = derive_settings(self.result, self.printer)
        return self.result

    def _steps(self) -> None:
        self._classes()
        self._printer()
        self._sessions()
        if self.result.sop_classes.get("presentation-lut"):
            self.trying = "presentation_lut"
            self.plut = self._create_plut()
            if self.plut is not None:
                self.result.presentation_lut.append(self._try_session("film-session", {
                    "ReferencedPresentationLUTSequence": _references("presentation-lut", self.plut)}))
        self.trying = None
        self.session = self._base_session(plut=False)
        if self.session is None:
            return
        base = self._film_boxes()
        if base is not None and self.plut is not None:
            self.trying = "presentation_lut"
            self.result.presentation_lut.append(self._try_box("film-box", *base, plut=True))
        if base is not None:
            self.trying = "bit_depths"
            self._bit_depths(base)
            if self.result.sop_classes.get("annotation-box"):
                self.trying = "annotation"
                self.result.annotation.append(self._try_annotation(*base))
        self.trying = None
        self._end_session()
        if base is not None and self.plut is not None:
            self.trying = "bit_depths"
            self._bit_depths_with_plut_in_session(base)
        self.trying = None
        if self.plut is not None:
            plut, self.plut = self.plut, None
            self.delete("presentation-lut", plut)

    def _classes(self) -> None:
        assert self.link is not None
        self.result.sop_classes = {name: self.link.accepts(uid) for name, uid in _CLASS_UIDS.items()}
        for meta in (GRAYSCALE_META, COLOR_META):
            if self.link.accepts(meta):
                self.meta = meta
                return
        raise _Stop("the printer accepted neither Basic Grayscale nor Basic Color Print Management Meta")

    def _printer(self) -> None:
        printer_class = SOP_CLASSES["printer"]
        code, status, attrs = self.ask("N-GET", "printer", lambda a, m, i: a.send_n_get(
            [tag_for_keyword(k) for k in PRINTER_MODULE], printer_class, PRINTER_INSTANCE, msg_id=i, meta_uid=m))
        if category_of(code) not in ("success", "warning"):
            # a printer that keeps the rest to itself (DCMTK's answers 0x0105), asked for its status
            tags = [tag_for_keyword(a.keyword) for a in PRINTER_STATUS.attributes]
            code, status, attrs = self.ask("N-GET", "printer", lambda a, m, i: a.send_n_get(
                tags, printer_class, PRINTER_INSTANCE, msg_id=i, meta_uid=m))
        if category_of(code) not in ("success", "warning"):
            refused = self.judge("", "printer", "N-GET", code, status)
            self.result.notes.append(f"N-GET Printer refused: {refused.answer}")
        self.result.printer_attributes = _attributes(attrs)
        if not self.result.sop_classes.get("printer-configuration"):
            return
        config_class = SOP_CLASSES["printer-configuration"]
        code, status, attrs = self.ask("N-GET", "printer-configuration", lambda a, m, i: a.send_n_get(
            [], config_class, PRINTER_CONFIGURATION_INSTANCE, msg_id=i))
        if category_of(code) in ("success", "warning"):
            self.result.configuration = _attributes(attrs).get("PrinterConfigurationSequence", [])
        else:
            self.result.notes.append("N-GET Printer Configuration Retrieval refused: "
                                     + self.judge("", "printer-configuration", "N-GET", code, status).answer)

    # -- film sessions ----------------------------------------------------------------
    def _create_session(self, attrs: dict[str, Any]) -> tuple[int, Dataset, str]:
        ds = Dataset()
        ds.NumberOfCopies = 1
        for keyword, value in attrs.items():
            setattr(ds, keyword, value)
        uid = generate_uid()
        code, status, _ = self.ask("N-CREATE", "film-session", lambda a, m, i: a.send_n_create(
            ds, SOP_CLASSES["film-session"], uid, msg_id=i, meta_uid=m))
        assert self.link is not None
        return code, status, self.link.last_created_uid or uid

    def _try_session(self, value: str, attrs: dict[str, Any]) -> Tried:
        code, status, uid = self._create_session(attrs)
        tried = self.judge(value, "film-session", "N-CREATE", code, status)
        if tried.accepted:
            self.delete("film-session", uid)
        return tried

    def _sessions(self) -> None:
        self.trying = "medium_types"
        for medium in _candidates(MEDIUM_TYPES, self.printer.medium_types):
            self.result.medium_types.append(self._try_session(medium, {"MediumType": medium}))
        self.trying = "film_destinations"
        for destination in _candidates(FILM_DESTINATIONS, self.printer.film_destinations):
            self.result.film_destinations.append(self._try_session(destination, {"FilmDestination": destination}))

    def _base_session(self, plut: bool) -> str | None:
        """The film session the film boxes go in (``plut``: it references the Presentation LUT)."""
        attrs = {"ReferencedPresentationLUTSequence": _references("presentation-lut", self.plut)} \
            if plut and self.plut is not None else {}
        code, status, uid = self._create_session(attrs)
        if category_of(code) in ("success", "warning"):
            self.session_plut = plut
            return uid
        self.result.notes.append(f"a film session{' referencing the Presentation LUT' if plut else ''} was refused "
                                 f"({self.judge('', 'film-session', 'N-CREATE', code, status).answer}): film boxes "
                                 "not tried in it")
        return None

    def _end_session(self) -> None:
        session, self.session = self.session, None    # not made again if the association is renewed
        if session is not None:
            self.delete("film-session", session)

    # -- film boxes -------------------------------------------------------------------
    def _create_box(self, layout: str, film_size: str | None, magnification: str | None = None,
                    plut: bool = False, **extra: Any) -> tuple[int, Dataset, str, Dataset | None]:
        # the attributes a job's film box sends (datasets.FILM_BOX) that a probe varies
        assert self.session is not None
        ds = Dataset()
        ds.ImageDisplayFormat = layout
        ds.FilmOrientation = "PORTRAIT"
        if film_size:
            ds.FilmSizeID = film_size
        if magnification:
            ds.MagnificationType = magnification
        for keyword, value in extra.items():
            setattr(ds, keyword, value)
        ds.ReferencedFilmSessionSequence = _references("film-session", self.session)
        if plut and self.plut is not None:
            ds.ReferencedPresentationLUTSequence = _references("presentation-lut", self.plut)
        uid = generate_uid()
        code, status, attrs = self.ask("N-CREATE", "film-box", lambda a, m, i: a.send_n_create(
            ds, SOP_CLASSES["film-box"], uid, msg_id=i, meta_uid=m))
        assert self.link is not None
        return code, status, self.link.last_created_uid or uid, attrs

    def _try_box(self, value: str, layout: str, film_size: str | None, magnification: str | None = None,
                 plut: bool = False) -> Tried:
        code, status, uid, _ = self._create_box(layout, film_size, magnification, plut)
        tried = self.judge(value, "film-box", "N-CREATE", code, status)
        if tried.accepted:
            self.delete("film-box", uid)
        return tried

    def _film_boxes(self) -> tuple[str, str | None] | None:
        """Film sizes, display formats and magnification types; returns the layout and film size
        (None: the printer's default) that the other film boxes are made with."""
        layouts = _candidates(DISPLAY_FORMATS, self.printer.display_formats)
        self.trying = "display_formats"
        base_layout = next((layout for layout in [BASE_FORMAT, *layouts]
                            if self._try_box(layout, layout, None).accepted), None)
        if base_layout is None:
            self.result.notes.append("no display format tried was accepted: film boxes not probed further")
            return None
        self.trying = "film_sizes"
        for size in _candidates(FILM_SIZES, self.printer.film_sizes):
            self.result.film_sizes.append(self._try_box(size, base_layout, size))
        sizes = [t.value for t in self.result.film_sizes if t.accepted]
        base_size = self.printer.defaults.film_size if self.printer.defaults.film_size in sizes else \
            (sizes[0] if sizes else None)
        self.trying = "display_formats"
        for layout in layouts:
            self.result.display_formats.append(self._try_box(layout, layout, base_size))
        self.trying = "magnification_types"
        for magnification in _candidates(MAGNIFICATIONS, self.printer.magnification_types):
            self.result.magnification_types.append(self._try_box(magnification, base_layout, base_size,
                                                                 magnification))
        return base_layout, base_size

    def _try_annotation(self, layout: str, film_size: str | None) -> Tried:
        format_id = self.printer.annotation_display_format_id
        code, status, box, attrs = self._create_box(layout, film_size, AnnotationDisplayFormatID=format_id)
        tried = self.judge(format_id, "film-box", "N-CREATE", code, status)
        if not tried.accepted:
            return tried
        self.delete("film-box", box)
        boxes = len(attrs.get("ReferencedBasicAnnotationBoxSequence") or []) if attrs is not None else 0
        return Tried(format_id, boxes > 0, tried.status, f"{boxes} annotation box(es)", tried.comment)

    # -- bit depth ----------------------------------------------------------------------
    def _bit_depths(self, base: tuple[str, str | None]) -> None:
        """Each bit depth without a Presentation LUT; one refused is tried again with the LUT
        referenced from the film box, when the printer takes it there (some printers take
        images only with a Presentation LUT that matches them)."""
        on_box = "film-box" in [t.value for t in self.result.presentation_lut if t.accepted]
        for bits in BIT_DEPTHS:
            tried = self._try_bits(base, bits)
            if tried is not None and not tried.accepted and self.plut is not None and on_box:
                again = self._try_bits(base, bits, plut=True)
                if again is not None and again.accepted:
                    tried = _with_plut(again, "film box")
            if tried is not None:
                self.result.bit_depths.append(tried)

    def _bit_depths_with_plut_in_session(self, base: tuple[str, str | None]) -> None:
        """Bit depths refused so far, in a film session that references the Presentation LUT, when
        the printer takes it there only."""
        levels = [t.value for t in self.result.presentation_lut if t.accepted]
        refused = [t for t in self.result.bit_depths if not t.accepted]
        if not refused or "film-session" not in levels or "film-box" in levels:
            return
        self.session = self._base_session(plut=True)
        if self.session is None:
            return
        for old in refused:
            again = self._try_bits(base, int(old.value))
            if again is not None and again.accepted:
                self.result.bit_depths[self.result.bit_depths.index(old)] = _with_plut(again, "film session")
        self._end_session()

    def _try_bits(self, base: tuple[str, str | None], bits: int, plut: bool = False) -> Tried | None:
        """One image box N-SET with a small image of ``bits`` bits, in a film box deleted after."""
        code, status, box, attrs = self._create_box(*base, plut=plut)
        if category_of(code) not in ("success", "warning"):
            self.result.notes.append(f"bit depth {bits}: the film box was refused: "
                                     + self.judge("", "film-box", "N-CREATE", code, status).answer)
            return None
        tried = self._set_image_box(attrs, bits)
        self.delete("film-box", box)    # unprinted
        return tried

    def _set_image_box(self, film_box: Dataset | None, bits: int) -> Tried | None:
        refs = film_box.get("ReferencedImageBoxSequence") if film_box is not None else None
        if not refs:
            self.result.notes.append(f"bit depth {bits}: the film box response holds no image boxes")
            return None
        class_uid = _text(refs[0].get("ReferencedSOPClassUID", "")).strip()
        sop = SOP_NAMES.get(class_uid, "grayscale-image-box")
        if sop == "color-image-box" and bits != 8:
            self.result.notes.append(f"bit depth {bits}: the printer's image boxes are colour boxes (8 bits)")
            return None
        pixels = _test_pixels(bits, color=sop == "color-image-box")
        ds = build(COLOR_IMAGE_BOX if sop == "color-image-box" else GRAYSCALE_IMAGE_BOX,
                   ImageBoxInputs(ImageBox(position=1, pixels=pixels.array), pixels), self.printer)
        instance = _text(refs[0].get("ReferencedSOPInstanceUID", "")).strip()
        code, status, _ = self.ask("N-SET", sop, lambda a, m, i: a.send_n_set(
            ds, class_uid or SOP_CLASSES[sop], instance, msg_id=i, meta_uid=m))
        return self.judge(str(bits), sop, "N-SET", code, status)

    # -- Presentation LUT ---------------------------------------------------------------
    def _create_plut(self, record: bool = True) -> str | None:
        ds = build(PRESENTATION_LUT, PresentationLUT(shape="IDENTITY"), self.printer)
        uid = generate_uid()
        code, status, _ = self.ask("N-CREATE", "presentation-lut", lambda a, m, i: a.send_n_create(
            ds, SOP_CLASSES["presentation-lut"], uid, msg_id=i))
        created = self.judge("created", "presentation-lut", "N-CREATE", code, status)
        if record:
            self.result.presentation_lut.append(created)
        if not created.accepted:
            return None
        assert self.link is not None
        return self.link.last_created_uid or uid


def _with_plut(tried: Tried, level: str) -> Tried:
    return Tried(tried.value, True, tried.status,
                 f"{tried.meaning}; only with a Presentation LUT referenced from the {level}", tried.comment)


def _references(sop: str, uid: str) -> Sequence:
    """A Referenced ... Sequence of one item."""
    item = Dataset()
    item.ReferencedSOPClassUID = SOP_CLASSES[sop]
    item.ReferencedSOPInstanceUID = uid
    return Sequence([item])


def _test_pixels(bits: int, *, color: bool) -> Pixels:
    """A small gradient of ``bits`` bits (RGB for a colour image box)."""
    top = (1 << bits) - 1
    ramp = (np.arange(_TEST_IMAGE * _TEST_IMAGE).reshape(_TEST_IMAGE, _TEST_IMAGE) * top // (_TEST_IMAGE ** 2 - 1))
    if color:
        return Pixels(np.repeat(ramp.astype(np.uint8)[:, :, None], 3, axis=2), 8)
    return Pixels(ramp.astype(np.uint16 if bits > 8 else np.uint8), bits)


def probe(printer: PrinterConfig, station: Station, *, time_limit_s: float = TIME_LIMIT_S,
          max_requests: int = MAX_REQUESTS) -> ProbeResult:
    """Probe ``printer`` on an association of its own (see the module docstring). Never raises for
    what the printer does: a probe that could not start or finish says why in ``stopped``."""
    return _Probe(printer, station, time_limit_s, max_requests).run()
