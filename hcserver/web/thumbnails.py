"""A job's films as small pictures, from the very pixels sent to the printer: the film is
formatted again from the job's stored spec through the same formatting processes and the same
code as printing (hcserver.formatting), for the printer as it is configured now, then shrunk.
Only the job's owner and administrators are shown them (the caller checks)."""
from __future__ import annotations

import io
import threading
from collections import OrderedDict

from PIL import Image

from hcserver import formatter
from hcserver.formatting import FormattingCrashed
from hcserver.server import Operations
from hcserver.spool import Spool

#: The longer side of a thumbnail, in pixels.
SIDE = 360
#: Thumbnails kept in memory (a few pages' worth); the rest are formatted again.
KEPT = 64
#: Seconds a film may take to format (a large film on a busy machine).
FORMAT_TIMEOUT_S = 120


class Thumbnails:
    def __init__(self, ops: Operations, spool: Spool):
        self.ops, self.spool = ops, spool
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple, bytes] = OrderedDict()

    def film(self, job_id: int, printer_name: str, index: int) -> bytes | None:
        """Film ``index`` of the job as a PNG thumbnail; None if there is no such film, its printer
        was removed, or its images are no longer kept (the history was purged)."""
        printer = self.ops.config.printers.get(printer_name)
        if printer is None:
            return None
        key = (job_id, index, repr(printer))
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        films = self.ops.queue.attempts.film_specs(job_id)
        if not 0 <= index < len(films):
            return None
        digests = {frame["image"] for film in films for frame in film["frames"]}
        if not all(self.spool.exists(digest) for digest in digests):
            return None
        # As the job was normalised (hcserver.jobspec): colour when the printer prints colour
        # and an image of the job is in colour.
        color = printer.color and any(self.ops.image_info(digest).color for digest in digests)
        try:
            sheet = self.ops.formatting.format_job_film(printer, films[index], color, index,
                                                        self.spool.path).result(FORMAT_TIMEOUT_S)
        except (formatter.UnprintableImage, ValueError, FormattingCrashed, TimeoutError, OSError):
            return None   # as it would fail printing: the job's events say why
        picture = Image.open(io.BytesIO(formatter.film_png(sheet)))
        picture.thumbnail((SIDE, SIDE))
        out = io.BytesIO()
        picture.save(out, format="PNG")
        png = out.getvalue()
        with self._lock:
            self._kept[key] = png
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return png
