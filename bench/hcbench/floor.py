"""The transfer floor: a bare pynetdicom loop, no queue, no formatting.

One association (TCP_NODELAY on our side), one film session, then per film:
N-CREATE film box, N-SET of each image box with pixels prepared once,
N-ACTION print, N-DELETE film box; N-DELETE film session; release. This is
what the same films cost on the wire with the same library, pydicom's
encoding of each request included.
"""
from __future__ import annotations

import socket
import time

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE

META = "1.2.840.10008.5.1.1.9"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
IMAGE_BOX = "1.2.840.10008.5.1.1.4"


def _image(pixels: np.ndarray) -> Dataset:
    img = Dataset()
    img.SamplesPerPixel = 1
    img.PhotometricInterpretation = "MONOCHROME2"
    img.Rows, img.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    img.PixelAspectRatio = [1, 1]
    img.BitsAllocated, img.BitsStored, img.HighBit = 8, 8, 7
    img.PixelRepresentation = 0
    img.add_new(0x7FE00010, "OB", np.ascontiguousarray(pixels).tobytes())
    return img


def _ok(status, what: str) -> None:
    if status is None or "Status" not in status or int(status.Status) not in (0x0000, 0xB600, 0xB605):
        raise RuntimeError(f"{what}: unexpected status {status!r}")


def print_films(host: str, port: int, ae_title: str, images: list[np.ndarray], films: int,
                layout: str = "STANDARD\\2,2", per_film: int = 4, film_size: str = "14INX17IN",
                magnification: str = "NONE") -> dict:
    """Print ``films`` films; returns total wall and per-film times (seconds)."""
    ae = AE(ae_title="FLOOR")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    ae.add_requested_context(META, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    prepared = [_image(px) for px in images]
    per_film_s = []
    t0 = time.perf_counter()
    assoc = ae.associate(host, port, ae_title=ae_title)
    if not assoc.is_established:
        raise RuntimeError("the floor's association was not accepted")
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        fs_uid = generate_uid()
        fs = Dataset()
        fs.NumberOfCopies = 1
        fs.PrintPriority = "MED"
        st, _ = assoc.send_n_create(fs, FILM_SESSION, fs_uid, meta_uid=META)
        _ok(st, "N-CREATE film session")
        k = 0
        t_last_action = t0
        for _ in range(films):
            t_film = time.perf_counter()
            fb_uid = generate_uid()
            fb = Dataset()
            fb.ImageDisplayFormat = layout
            fb.FilmOrientation = "PORTRAIT"
            fb.FilmSizeID = film_size
            fb.MagnificationType = magnification
            ref = Dataset()
            ref.ReferencedSOPClassUID = FILM_SESSION
            ref.ReferencedSOPInstanceUID = fs_uid
            fb.ReferencedFilmSessionSequence = [ref]
            st, rsp = assoc.send_n_create(fb, FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-CREATE film box")
            for pos, item in enumerate(rsp.ReferencedImageBoxSequence[:per_film], start=1):
                ds = Dataset()
                ds.ImageBoxPosition = pos
                ds.Polarity = "NORMAL"
                ds.BasicGrayscaleImageSequence = [prepared[k % len(prepared)]]
                k += 1
                st, _ = assoc.send_n_set(ds, IMAGE_BOX, item.ReferencedSOPInstanceUID, meta_uid=META)
                _ok(st, "N-SET image box")
            st, _ = assoc.send_n_action(None, 1, FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-ACTION film box")
            t_last_action = time.perf_counter()
            st = assoc.send_n_delete(FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-DELETE film box")
            per_film_s.append(time.perf_counter() - t_film)
        st = assoc.send_n_delete(FILM_SESSION, fs_uid, meta_uid=META)
        _ok(st, "N-DELETE film session")
    finally:
        assoc.release()
    wall = t_last_action - t0
    return {"films": films, "wall_s": wall, "per_film_s": per_film_s, "films_per_min": films / wall * 60}
