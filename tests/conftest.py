import pytest
from pydicom.data import get_testdata_file

from tests.daemon import DaemonProcess

PREVIEW_CONFIG = """
[server]
state_dir = "@STATE@"
retry_interval_s = 1

[printers.film]
driver = "preview"
dpi = 40

[printers.other]
driver = "preview"
dpi = 40
"""


def pydicom_file(name: str) -> str:
    """A test image bundled with pydicom (never one it would download)."""
    path = get_testdata_file(name, download=False)
    assert path, f"pydicom does not bundle {name}"
    return str(path)


@pytest.fixture
def images():
    return {name: pydicom_file(name) for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")}


@pytest.fixture
def daemon():
    process = DaemonProcess(PREVIEW_CONFIG).start()
    yield process
    process.cleanup()
