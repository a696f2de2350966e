"""Formatter benchmark: milliseconds per film, on one core.

The film: 14INX17IN PORTRAIT at 320 dpi, STANDARD\\4,5, twenty synthetic
512x512 CT images (16-bit, rescaled to HU), each windowed (C 40 W 400),
magnified with CUBIC to about 1060x1060 printer pixels and annotated at its
four corners (patient and study, image number, window, slice). Every run
formats the whole film from the files: reading, decoding, windowing,
resampling, painting and rounding. Rendered texts are cached by the
formatter; that cache is cleared before each run so every film pays for
assembling its own texts, as a film of a new patient would (the glyphs
themselves stay cached for the life of the process, as in the server).

Run: ``python bench/formatter_bench.py [--runs N]``. Thread pools of numpy's
BLAS are limited to one thread and the process is pinned to one CPU when the
platform allows it. The target is 150 ms per film.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_name] = "1"     # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from pydicom.uid import CTImageStorage  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hcserver import formatter  # noqa: E402
from hcserver.formatter.annotations import text_masks  # noqa: E402
from tests.support.images import new_dataset  # noqa: E402

TARGET_MS = 150.0
ANNOTATIONS = [
    {"text": "{PatientName}  {PatientID}\n{StudyDate}  {StudyDescription}", "at": "top-left"},
    {"text": "Im {InstanceNumber}/{ImagesInAcquisition}", "at": "top-right"},
    {"text": "{Window}", "at": "bottom-left"},
    {"text": "{SliceThickness} mm  {SliceLocation}", "at": "bottom-right"},
]


def synthetic_ct(number: int, rng: np.random.Generator) -> np.ndarray:
    """A 512x512 CT slice in stored values (HU + 1024): body, organs, bone, noise."""
    y, x = np.mgrid[-256:256, -256:256].astype(np.float32)
    hu = np.full((512, 512), -1000.0, np.float32)
    hu[(x / 220) ** 2 + (y / 170) ** 2 < 1] = 40.0                          # soft tissue
    hu[((x + 80) / 60) ** 2 + ((y + 10) / 80) ** 2 < 1] = -800.0             # lungs
    hu[((x - 80) / 60) ** 2 + ((y + 10) / 80) ** 2 < 1] = -800.0
    hu[(x / 25) ** 2 + ((y - 120 + number) / 25) ** 2 < 1] = 700.0           # vertebra
    hu[((x - 30) / 40) ** 2 + ((y - 40) / 35) ** 2 < 1] = 60.0 + number      # an organ
    hu += rng.normal(0, 12, hu.shape).astype(np.float32)
    return np.clip(hu + 1024, 0, 4095).astype(np.uint16)


def write_ct(path: Path, number: int, pixels: np.ndarray) -> None:
    ds = new_dataset(CTImageStorage)
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "BENCH^Film", "B-0001"
    ds.StudyDate, ds.StudyDescription = "20240131", "CHEST"
    ds.InstanceNumber, ds.ImagesInAcquisition = number, 20
    ds.SliceThickness, ds.SliceLocation = "2.5", f"{-100 + 2.5 * number:.1f}"
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelSpacing = [0.7, 0.7]
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def pin_one_cpu() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="films to time (default 15)")
    args = parser.parse_args()
    pinned = pin_one_cpu()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for number in range(1, 21):
            path = Path(tmp) / f"ct{number:02d}.dcm"
            write_ct(path, number, synthetic_ct(number, rng))
            images[f"ct{number}"] = str(path)
        film = {"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\4,5",
                "magnification": "CUBIC",
                "frames": [{"image": key, "window": {"center": 40, "width": 400}, "annotations": ANNOTATIONS}
                           for key in images]}
        profile = formatter.PrinterProfile(dpi=320, bit_depth=8, magnification="CUBIC")
        start = time.perf_counter()
        sheet = formatter.format_film(film, images, profile)           # first film: fonts, glyphs, bands
        first_ms = (time.perf_counter() - start) * 1000.0
        times = []
        for _ in range(args.runs):
            text_masks.cache_clear()
            start = time.perf_counter()
            formatter.format_film(film, images, profile)
            times.append((time.perf_counter() - start) * 1000.0)
        start = time.perf_counter()
        formatter.compose(sheet)
        compose_ms = (time.perf_counter() - start) * 1000.0
    median = statistics.median(times)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [median, median, median]
    box = sheet.boxes[0].pixels.shape
    print(f"film: 14INX17IN PORTRAIT, STANDARD\\4,5 at 320 dpi ({sheet.film_pixels[0]}x{sheet.film_pixels[1]}), "
          f"20 CT 512x512 -> {box[1]}x{box[0]} CUBIC, windowed, 4 annotations each; {pinned}")
    print(f"runs: {len(times)}  median {median:.1f} ms/film  min {min(times):.1f}  max {max(times):.1f}  "
          f"IQR {q[0]:.1f}..{q[2]:.1f}")
    print(f"target {TARGET_MS:.0f} ms/film: median/target = {median / TARGET_MS:.2f} "
          f"({'within' if median <= TARGET_MS else 'over'} target)")
    print(f"first film of the process (loads the font, renders glyphs, builds resampling bands): "
          f"{first_ms:.1f} ms; compose (preview of the same film): {compose_ms:.1f} ms")
    print(json.dumps({"median_ms": round(median, 1), "min_ms": round(min(times), 1),
                      "max_ms": round(max(times), 1), "runs": len(times), "target_ms": TARGET_MS,
                      "ratio": round(median / TARGET_MS, 2), "first_film_ms": round(first_ms, 1)}))


if __name__ == "__main__":
    main()
