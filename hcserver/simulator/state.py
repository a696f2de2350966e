"""What the simulator keeps per association: the film sessions, film boxes, image boxes,
annotation boxes and Presentation LUTs the SCU created (their lifetime is the association's),
and the registry of the associations in use."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid


@dataclass
class Result:
    """What an operation answers: a status, an attribute list, the instance it created."""

    status: int
    ds: Dataset | None = None
    instance_uid: str | None = None
    comment: str | None = None


@dataclass
class ImageBox:
    uid: str
    film_box_uid: str
    position: int
    sop_class: str
    attrs: Dataset | None = None
    pixels: bytes | None = None
    info: dict[str, Any] | None = None


@dataclass
class FilmBox:
    uid: str
    session_uid: str
    attrs: Dataset
    layout_kind: str
    rects: list[tuple[float, float, float, float]]
    color: bool
    image_boxes: list[str] = field(default_factory=list)
    annotation_boxes: list[str] = field(default_factory=list)


@dataclass
class FilmSession:
    uid: str
    attrs: Dataset
    film_boxes: list[str] = field(default_factory=list)


class AssocState:
    """What one association created (Film Session lifetime is the association)."""

    def __init__(self, assoc: Any) -> None:
        self.calling_ae = str(getattr(assoc.requestor, "ae_title", "") or "").strip()
        self.called_ae = str(getattr(assoc.acceptor, "ae_title", "") or "").strip()
        try:
            self.peer = f"{assoc.requestor.address}:{assoc.requestor.port}"
        except Exception:  # pragma: no cover
            self.peer = ""
        self.sessions: dict[str, FilmSession] = {}
        self.film_boxes: dict[str, FilmBox] = {}
        self.image_boxes: dict[str, ImageBox] = {}
        self.annotations: dict[str, dict[str, Any]] = {}
        self.pluts: dict[str, Dataset] = {}
        self.send_lock = threading.Lock()
        self.misnumber: int | None = None   # answer this Message ID with the wrong one (a fault)
        # request Message ID -> (event, context UID) to send right behind its response
        self.after: dict[int, tuple[tuple[str, str], str]] = {}
        # Message ID -> log entry of an N-EVENT-REPORT sent without waiting for its answer
        self.unanswered: dict[int, dict[str, Any]] = {}

    def new_uid(self, inst: str | None) -> tuple[str | None, Result | None]:
        """The UID of an instance to create: the SCU's (refused if taken), or a new one."""
        if inst:
            if inst in self.sessions or inst in self.film_boxes or inst in self.pluts or inst in self.image_boxes:
                return None, Result(0x0111, comment="duplicate SOP instance")
            return inst, None
        return str(generate_uid()), None

    def drop_film_box(self, uid: str) -> None:
        """Forget a film box and the image and annotation boxes in it."""
        fb = self.film_boxes.pop(uid, None)
        if fb is None:
            return
        for ib in fb.image_boxes:
            self.image_boxes.pop(ib, None)
        for ab in fb.annotation_boxes:
            self.annotations.pop(ab, None)


class Associations:
    """The state of each association in use, by pynetdicom Association. The lock also guards
    the states' pending events (``after`` and ``unanswered``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._states: dict[Any, AssocState] = {}
        self.peak = 0                  # most associations in use (sending requests) at once

    def state(self, assoc: Any) -> AssocState:
        """The association's state; the first call (its first request) puts it in use."""
        with self.lock:
            st = self._states.get(assoc)
            if st is None:
                st = self._states[assoc] = AssocState(assoc)
                self.peak = max(self.peak, len(self._states))
            return st

    def get(self, assoc: Any) -> AssocState | None:
        with self.lock:
            return self._states.get(assoc)

    def pop(self, assoc: Any) -> AssocState | None:
        with self.lock:
            return self._states.pop(assoc, None)

    def established(self) -> list[tuple[Any, AssocState]]:
        with self.lock:
            return [(a, st) for a, st in self._states.items() if a.is_established]

    def clear(self) -> None:
        with self.lock:
            self._states.clear()

    def __len__(self) -> int:
        with self.lock:
            return len(self._states)


def copy_ds(ds: Dataset | None, skip: Iterable[str] = ()) -> Dataset:
    """A dataset's elements but the command group's (and those named in ``skip``)."""
    out = Dataset()
    if ds is None:
        return out
    skip = set(skip)
    for elem in ds:
        if elem.tag.group == 0 or elem.keyword in skip:
            continue
        out.add(elem)
    return out
