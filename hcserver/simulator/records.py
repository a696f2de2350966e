"""What the simulator received: one log entry per DIMSE request (and per N-EVENT-REPORT it
sent), and one *film record* per printed film, kept in memory and, with an output directory,
in files:

* ``out_dir/film_NNNN.png``: the image boxes composed on a sheet, to eyeball;
* ``out_dir/film_NNNN.json``: the record (see :meth:`Records.add_film`);
* one line appended to ``out_dir/films.jsonl`` (flushed and fsync'ed), so
  another process can count printed films even if the simulator is killed.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from hcserver.simulator.render import render_film
from hcserver.simulator.sop import SOP_ALIASES
from hcserver.simulator.state import AssocState, FilmBox, FilmSession

LOG = logging.getLogger(__name__)


class Records:
    """The log and the films, for the simulator's owner to read while it runs."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.RLock())
        self._films: list[dict[str, Any]] = []
        self._log: list[dict[str, Any]] = []
        self._film_no = 0
        self.out_dir: Path | None = None

    def open(self, out_dir: Path | None) -> None:
        """Write films to ``out_dir`` (None: none), numbered on from those already there."""
        self.out_dir = out_dir
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            existing = [int(m.group(1)) for p in out_dir.glob("film_*.json")
                        if (m := re.fullmatch(r"film_(\d+)\.json", p.name))]
            self._film_no = max(existing, default=0)

    @property
    def films(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._films)

    @property
    def log(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._log)

    def received_count(self, operation: str | None = None, sop_class: str | None = None) -> int:
        """How many DIMSE requests were received (by operation / SOP class name or UID)."""
        names = SOP_ALIASES.get(sop_class, frozenset({sop_class})) if sop_class else None
        with self._changed:
            return sum(1 for e in self._log
                       if e.get("direction") == "in"
                       and (e["operation"] == operation.upper() if operation
                            else e["operation"] != "A-ASSOCIATE")
                       and (names is None or e["sop_class_uid"] in names))

    def wait_for_films(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` films were printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._films) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def reset(self) -> None:
        """Forget the in-memory films and log (files are left alone)."""
        with self._changed:
            self._films.clear()
            self._log.clear()

    def add_log(self, entry: dict[str, Any]) -> None:
        entry.setdefault("time", datetime.now(UTC).isoformat(timespec="milliseconds"))
        with self._changed:
            self._log.append(entry)
            self._changed.notify_all()
        status = entry.get("status")
        LOG.info("%s %s %s %s %s -> %s%s",
                 entry.get("calling_ae") or "-",
                 "<-" if entry.get("direction") == "out" else "->",
                 entry["operation"], entry.get("sop_class") or "-",
                 entry.get("instance_uid") or "-",
                 "no answer" if status is None else f"0x{status:04X}",
                 f" [fault: {entry['fault']}]" if entry.get("fault") else "")

    def add_film(self, st: AssocState, session: FilmSession, fb: FilmBox, status: int) -> None:
        """Record one printed film.

        The record (also ``film_NNNN.json`` and a line of ``films.jsonl``)::

            film, time, calling_ae, called_ae, peer, status (answered), color,
            film_session: {uid, number_of_copies, print_priority, medium_type,
                           film_destination, label, presentation_lut, attributes}
            film_box: {uid, image_display_format, layout, image_boxes_total,
                       film_orientation, film_size_id, magnification_type,
                       smoothing_type, border_density, empty_image_density,
                       min_density, max_density, trim, configuration_information,
                       requested_resolution_id, illumination,
                       reflected_ambient_light, presentation_lut, attributes}
            image_boxes: [{position, rows, columns, bits_allocated, bits_stored,
                           high_bit, photometric_interpretation,
                           samples_per_pixel, planar_configuration, polarity,
                           requested_image_size, magnification_type, md5,
                           pixel_bytes, ...}]   (only the boxes that were set)
            annotations: [{position, text}], png, json (file names or None)

        ``md5`` is over the pixel bytes as received, without a padding byte.
        """
        record = film_record(st, session, fb, status)
        with self._changed:
            self._film_no += 1
            n = self._film_no
        record["film"] = n
        line = None
        if self.out_dir is not None:
            # the slow part (rendering) outside the lock, so that other
            # associations are not held up
            png = self.out_dir / f"film_{n:04d}.png"
            try:
                render_film(st, fb).save(png)
                record["png"] = png.name
            except Exception:  # the record matters more than the picture
                LOG.exception("could not render film %d", n)
            record["json"] = f"film_{n:04d}.json"
            (self.out_dir / record["json"]).write_text(json.dumps(record, indent=2, sort_keys=True))
            line = json.dumps(record, sort_keys=True)
        with self._changed:
            if line is not None:
                assert self.out_dir is not None
                with open(self.out_dir / "films.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            self._films.append(record)
            self._changed.notify_all()
        LOG.info("%s printed film %d: %s %s %s, %d image(s)", st.calling_ae or "-", n,
                 record["film_box"]["image_display_format"], record["film_box"]["film_size_id"],
                 record["film_box"]["film_orientation"], len(record["image_boxes"]))


def film_record(st: AssocState, session: FilmSession, fb: FilmBox, status: int) -> dict[str, Any]:
    """The record of a film (see :meth:`Records.add_film`), its number and files not yet known."""
    a = fb.attrs
    s = session.attrs
    images = [info for u in fb.image_boxes if (info := st.image_boxes[u].info)]
    return {
        "film": 0,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "calling_ae": st.calling_ae,
        "called_ae": st.called_ae,
        "peer": st.peer,
        "status": status,
        "color": fb.color,
        "film_session": {
            "uid": session.uid,
            "number_of_copies": int(s.get("NumberOfCopies", 1) or 1),
            "print_priority": s.get("PrintPriority"),
            "medium_type": s.get("MediumType"),
            "film_destination": s.get("FilmDestination"),
            "label": s.get("FilmSessionLabel"),
            "presentation_lut": plut_record(st, s),
            "attributes": ds_to_json(s),
        },
        "film_box": {
            "uid": fb.uid,
            "image_display_format": str(a.get("ImageDisplayFormat")),
            "layout": fb.layout_kind,
            "image_boxes_total": len(fb.rects),
            "film_orientation": a.get("FilmOrientation"),
            "film_size_id": a.get("FilmSizeID"),
            "magnification_type": a.get("MagnificationType"),
            "smoothing_type": a.get("SmoothingType"),
            "border_density": a.get("BorderDensity"),
            "empty_image_density": a.get("EmptyImageDensity"),
            "min_density": json_value(a.get("MinDensity"), "US"),
            "max_density": json_value(a.get("MaxDensity"), "US"),
            "trim": a.get("Trim"),
            "configuration_information": a.get("ConfigurationInformation"),
            "requested_resolution_id": a.get("RequestedResolutionID"),
            "illumination": json_value(a.get("Illumination"), "US"),
            "reflected_ambient_light": json_value(a.get("ReflectedAmbientLight"), "US"),
            "annotation_display_format_id": a.get("AnnotationDisplayFormatID"),
            "presentation_lut": plut_record(st, a),
            "attributes": ds_to_json(a),
        },
        "image_boxes": [dict(i) for i in images],
        "annotations": [{"position": st.annotations[u]["position"], "text": st.annotations[u]["text"]}
                        for u in fb.annotation_boxes if u in st.annotations],
        "png": None,
        "json": None,
    }


def plut_record(st: AssocState, attrs: Dataset) -> dict[str, Any] | None:
    """The Presentation LUT that ``attrs`` reference, as recorded (None: none referenced)."""
    seq = attrs.get("ReferencedPresentationLUTSequence")
    if not seq:
        return None
    uid = str(seq[0].get("ReferencedSOPInstanceUID", ""))
    plut = st.pluts.get(uid)
    out: dict[str, Any] = {"uid": uid}
    if plut is not None:
        if "PresentationLUTShape" in plut:
            out["shape"] = str(plut.PresentationLUTShape)
        if plut.get("PresentationLUTSequence"):
            item = plut.PresentationLUTSequence[0]
            out["lut_descriptor"] = json_value(item.get("LUTDescriptor"), "US")
            out["lut_explanation"] = item.get("LUTExplanation")
    return out


def json_value(elem_value: Any, vr: str) -> Any:
    if vr == "SQ":
        return [ds_to_json(item) for item in elem_value]
    if isinstance(elem_value, (bytes, bytearray)):
        return f"<{len(elem_value)} bytes>"
    if isinstance(elem_value, MultiValue) or isinstance(elem_value, list):
        return [json_value(v, vr) for v in elem_value]
    if elem_value is None or isinstance(elem_value, (bool, str)):
        return elem_value
    if isinstance(elem_value, int):
        return int(elem_value)
    if isinstance(elem_value, float):
        return float(elem_value)
    return str(elem_value)


def ds_to_json(ds: Dataset | None) -> dict[str, Any]:
    """A JSON-friendly dict of a dataset, by keyword; Pixel Data left out."""
    out: dict[str, Any] = {}
    if ds is None:
        return out
    for elem in ds:
        if elem.tag.group == 0 or elem.tag == 0x7FE00010:
            continue
        key = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        try:
            out[key] = json_value(elem.value, elem.VR)
        except Exception:  # pragma: no cover - odd private data
            out[key] = str(elem.value)
    return out
