"""Fixtures shared by the test modules (a plugin of tests/conftest.py: a test names them as
parameters, nothing is imported): pydicom's images, a preview daemon, DICOM drivers and the
printer simulator.

A test that uses a fixture starting a DICOM or PostgreSQL peer, or a daemon process, is marked
for it here, so the fast tier (``-m "not slow and not dicom and not postgres"``) never starts one.
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

# marker: the fixtures that make a test need it
MARKED_FIXTURES = {
    "dicom": {"dcmprscp", "dcmprscp_factory", "dcmprscp_shim", "sim", "drivers"},
    "postgres": {"postgres_server", "postgres_url"},
    "slow": {"daemon", "hcserver"},   # a daemon process takes a second or more to start
}


@pytest.hookimpl(tryfirst=True)   # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKED_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


@pytest.fixture
def images():
    return {name: bundled(name) for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")}


@pytest.fixture
def daemon():
    process = DaemonProcess(PREVIEW_CONFIG).start()
    yield process
    process.cleanup()


@pytest.fixture
def hcserver():
    """Starts daemons of the given configurations (each waited for), and cleans them up."""
    started: list[DaemonProcess] = []

    def start(config: str) -> DaemonProcess:
        daemon = DaemonProcess(config).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.cleanup()


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
