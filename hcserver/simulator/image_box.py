"""The Basic Grayscale and Basic Color Image Box SOP classes: N-SET of an image box, the one
operation on them, checks the image's pixel module against what the printer takes and keeps
the pixels for the film's record and picture."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from hcserver.simulator.records import json_value, plut_record
from hcserver.simulator.sop import SOP_NAMES, BasicColorImageBox
from hcserver.simulator.state import AssocState, Result, copy_ds

if TYPE_CHECKING:
    from hcserver.simulator.scp import PrinterSimulator


def set_image_box(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    ib = st.image_boxes.get(inst or "")
    if ib is None:
        return Result(0x0112, comment="no such image box")
    sop = str(event.request.RequestedSOPClassUID)
    if sop != ib.sop_class:
        return Result(0x0119, comment=f"image box is a {SOP_NAMES[ib.sop_class]}")
    mods = event.modification_list
    color = ib.sop_class == BasicColorImageBox
    seq_kw = "BasicColorImageSequence" if color else "BasicGrayscaleImageSequence"
    seq = mods.get(seq_kw)
    if not seq:
        other = "BasicGrayscaleImageSequence" if color else "BasicColorImageSequence"
        if other in mods:
            return Result(0x0106, comment=f"{other} sent to a {SOP_NAMES[ib.sop_class]}")
        return Result(0x0121, comment=f"{seq_kw} missing")
    err = sim.capabilities.check_image_box(mods)
    if err:
        return err
    item = seq[0]
    for kw in ("Rows", "Columns", "PixelData"):
        if item.get(kw) in (None, b"", 0):
            return Result(0x0121, comment=f"{kw} missing")
    rows, cols = int(item.Rows), int(item.Columns)
    spp = int(item.get("SamplesPerPixel", 3 if color else 1))
    pi = str(item.get("PhotometricInterpretation", "RGB" if color else "MONOCHROME2")).upper()
    ba = int(item.get("BitsAllocated", 8))
    bs = int(item.get("BitsStored", ba))
    hb = int(item.get("HighBit", bs - 1))
    pr = int(item.get("PixelRepresentation", 0))
    planar = int(item.get("PlanarConfiguration", 0) or 0)
    if color:
        if spp != 3 or pi != "RGB" or ba != 8 or bs != 8:
            return Result(0x0106, comment="colour images: RGB, 3 samples, 8 bits")
        if planar not in (0, 1):
            return Result(0x0106, comment="Planar Configuration must be 0 or 1")
    else:
        if spp != 1 or pi not in ("MONOCHROME1", "MONOCHROME2"):
            return Result(0x0106, comment="grayscale images: MONOCHROME1/2, 1 sample")
        if (ba, bs) not in ((8, 8), (16, 12)):
            return Result(0x0106, comment="Bits Allocated/Stored must be 8/8 or 16/12")
        if bs == 12 and not sim.supports_12bit:
            return Result(0x0106, comment="this printer takes 8-bit images only")
    if hb != bs - 1 or pr != 0:
        return Result(0x0106, comment="High Bit must be Bits Stored - 1, unsigned")
    expected = rows * cols * spp * (ba // 8)
    pixels = bytes(item.PixelData)
    if len(pixels) < expected:
        return Result(0x0106, comment=f"Pixel Data {len(pixels)} bytes, expected {expected}")
    pixels = pixels[:expected]
    polarity = str(mods.get("Polarity") or "NORMAL").upper()
    if polarity not in ("NORMAL", "REVERSE"):
        return Result(0x0106, comment="Polarity must be NORMAL or REVERSE")
    ib.attrs = copy_ds(mods, skip=(seq_kw,))
    ib.pixels = pixels
    ib.info = {
        "position": ib.position,
        "requested_position": json_value(mods.get("ImagePosition"), "US"),
        "uid": ib.uid,
        "sop_class": SOP_NAMES[ib.sop_class],
        "rows": rows,
        "columns": cols,
        "samples_per_pixel": spp,
        "photometric_interpretation": pi,
        "planar_configuration": planar if color else None,
        "bits_allocated": ba,
        "bits_stored": bs,
        "high_bit": hb,
        "polarity": polarity,
        "magnification_type": mods.get("MagnificationType"),
        "smoothing_type": mods.get("SmoothingType"),
        "requested_image_size": json_value(mods.get("RequestedImageSize"), "DS"),
        "requested_decimate_crop_behavior": mods.get("RequestedDecimateCropBehavior"),
        "configuration_information": mods.get("ConfigurationInformation"),
        "presentation_lut": plut_record(st, mods),
        "pixel_bytes": expected,
        "md5": hashlib.md5(pixels).hexdigest(),
    }
    return Result(0x0000)
