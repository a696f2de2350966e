"""Fixtures shared by the test modules (a plugin of tests/conftest.py: a test names them as
parameters, nothing is imported): pydicom's images, a preview daemon, DICOM drivers and the
printer simulator.
"""
from __future__ import annotations

import pytest

from hcserver.config import PrinterConfig
from hcserver.drivers.dicom import DicomDriver
from hcserver.simulator import PrinterSimulator
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.images import bundled
from tests.support.scu import SERVER


@pytest.fixture
def images():
    return {name: bundled(name) for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")}


@pytest.fixture
def daemon():
    process = DaemonProcess(PREVIEW_CONFIG).start()
    yield process
    process.cleanup()


@pytest.fixture
def drivers():
    """Build DICOM drivers; all are closed after the test."""
    made: list[DicomDriver] = []

    def make(config: PrinterConfig) -> DicomDriver:
        d = DicomDriver(config, SERVER.station)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def sim(tmp_path):
    """A printer simulator (AE title HCSIM) on a free port, its films in tmp_path/films."""
    with PrinterSimulator(port=0, ae_title="HCSIM", out_dir=tmp_path / "films") as s:
        yield s
