"""Annotation texts are bounded: a format spec's width or precision at submit (checked without
building the text it asks for), and every formatted text and its rendering when a film is
formatted. Peak memory (VmHWM from /proc) of the daemon and of its formatting processes is
measured against a bound that one unbounded text would pass; their address space is capped a few
GB above their size, so that a regression fails these tests instead of exhausting the machine."""
from __future__ import annotations

import io
import resource

import pytest
from PIL import Image

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hostile_files import native_image
from tests.support.proc import MB, descendants, peak_rss, reset_peak_rss

pytestmark = pytest.mark.slow   # the tests share a daemon process, started for the module

RSS_BOUND = 600 * MB


def cap(pid: int) -> None:
    size = int(next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("VmSize:"))) * 1024
    resource.prlimit(pid, resource.RLIMIT_AS, (size + (3 << 30), size + (3 << 30)))


@pytest.fixture(scope="module")
def server():
    process = DaemonProcess(PREVIEW_CONFIG).start()
    for pid in [process.proc.pid, *descendants(process.proc.pid)]:   # new formatting processes inherit it
        cap(pid)
    yield process
    process.cleanup()


def spec(image: str, text: str, size_mm: float | None = None) -> dict:
    annotation = {"text": text, "at": "top-left", **({"size_mm": size_mm} if size_mm else {})}
    return {"printer": "film", "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                          "frames": [{"image": image, "annotations": [annotation]}]}]}


@pytest.mark.parametrize("width", [10_000_000, 1_000_000_000])
def test_a_huge_field_width_is_refused_at_submit_without_building_it(server, images, width):
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        with pytest.raises(ClientError) as refused:
            hc.submit(spec(images["CT_small.dcm"], f"{{PatientName:<{width}}}"), hold=True)
        assert refused.value.code == "invalid-spec"
        assert str(refused.value) == (f"films[0].frames[0].annotations[0].text: {{PatientName:<{width}}}: a width "
                                      f"of {width} characters (at most 1024)")
        assert hc.list() == []
    assert peak_rss(server.proc.pid) < RSS_BOUND


def test_a_huge_precision_or_template_is_refused_at_submit(server, images):
    with server.client() as hc:
        with pytest.raises(ClientError, match=r"\{PatientName:\.5000\}: a precision of 5000 characters "
                                              r"\(at most 1024\)$"):
            hc.submit(spec(images["CT_small.dcm"], "{PatientName:.5000}"), hold=True)
        with pytest.raises(ClientError, match=r"annotations\[0\]\.text: a template of 2000 characters: "
                                              r"at most 1024$"):
            hc.submit(spec(images["CT_small.dcm"], "x" * 2000), hold=True)


def test_a_long_attribute_is_printed_within_bounds(server, tmp_path):
    """200,000 characters of Text Value (UT), 50 mm tall: unbounded, a text mask of about 20 GB."""
    image = native_image(tmp_path / "text.dcm", 64, 64, TextValue="W" * 200_000)
    workers = descendants(server.proc.pid)
    for pid in workers:
        reset_peak_rss(pid)
    with server.client() as hc:
        films = hc.preview(spec(str(image), "{TextValue}", size_mm=50))
        plain = hc.preview(spec(str(image), "", size_mm=50))
    assert Image.open(io.BytesIO(films[0])).size == (320, 400)
    assert films[0] != plain[0]     # the text is printed, as far as the box reaches
    peaks = {pid: peak_rss(pid) for pid in descendants(server.proc.pid)}
    print(f"formatting processes' peak RSS: {', '.join(f'{p / MB:.0f} MB' for p in peaks.values())}")
    assert max(peaks.values()) < RSS_BOUND
