"""The requests about images: upload one into the spool (within the owner's quota), and render
a spec's films as the printer would get them (preview)."""
from __future__ import annotations

import errno
import io
from typing import TYPE_CHECKING

from hcserver import formatter
from hcserver.errors import ErrorCode
from hcserver.formatting import FormattingCrashed
from hcserver.server.requests import IMAGE_REF_PREFIX, Call, RequestError
from hcserver.spool import SpoolError
from hcserver.uploads import QuotaExceeded

if TYPE_CHECKING:
    from hcserver.server.operations import Operations


def upload(ops: Operations, call: Call) -> dict:
    """Store one image in the spool, within the owner's upload quota (hcserver.uploads)."""
    name = call.args["name"]
    try:
        reservation = ops.quota.reserve(call.peer.name, len(call.attachment), ops.config.max_upload_bytes_per_owner)
    except QuotaExceeded as exc:
        raise RequestError(ErrorCode.UPLOAD_QUOTA, f"{name}: {exc}") from None
    with reservation:
        answer = _store_upload(ops, name, call.attachment)
        reservation.keep(answer["image"][len(IMAGE_REF_PREFIX):])
    return answer


def _store_upload(ops: Operations, name: str, attachment: bytes | bytearray) -> dict:
    """Store one image in the spool; refuse it at once if it cannot be printed."""
    if not attachment:
        raise RequestError(ErrorCode.BAD_REQUEST, "upload needs the image bytes as the attachment")
    try:
        formatter.screen(attachment, name)   # what is not DICOM costs no hashing and no spool space
    except formatter.UnprintableImage as exc:
        raise RequestError(ErrorCode.UNPRINTABLE_IMAGE, f"{name}: {exc.reason}") from None
    free = ops.spool.free_bytes()
    if free - len(attachment) < ops.config.min_free_spool_bytes:
        raise RequestError(ErrorCode.SPOOL_FULL, f"{name}: the spool has only {free >> 20} MiB free (at least "
                                                 f"{ops.config.min_free_spool_bytes >> 20} MiB must stay free); "
                                                 f"queued jobs are kept")
    try:
        digest = ops.spool.put(attachment)
    except SpoolError as exc:
        raise RequestError(ErrorCode.SPOOL_FULL if exc.errno == errno.ENOSPC else ErrorCode.SPOOL_ERROR,
                           f"{name}: {exc}") from None
    try:
        info = ops.image_info(digest)
    except formatter.UnprintableImage as exc:
        ops.spool.remove(digest, min_age_s=0)   # no job can use it: do not keep it
        too_large = isinstance(exc, formatter.ImageTooLarge)
        code = ErrorCode.IMAGE_TOO_LARGE if too_large else ErrorCode.UNPRINTABLE_IMAGE
        raise RequestError(code, f"{name}: {exc.reason}") from None
    return {"image": IMAGE_REF_PREFIX + digest, "frames": info.frames, "rows": info.rows,
            "columns": info.columns, "color": info.color}


def preview(ops: Operations, call: Call) -> dict:
    """Render the films of a spec exactly as the printer would get them, as PNGs."""
    job = ops.normalise(call.args["spec"])
    printer = ops.config.printers[ops.config.members(job["printer"])[0]]   # a pool's: as its first printer prints it
    sizes, blob = [], io.BytesIO()
    for index, film in enumerate(job["films"]):
        try:
            sheet = ops.formatting.format_job_film(printer, film, job["color"] and printer.color, index,
                                                   ops.spool.path).result()
        except (formatter.UnprintableImage, ValueError) as exc:
            raise RequestError(ErrorCode.UNPRINTABLE, f"film {index + 1}: {exc}") from None
        except FormattingCrashed as exc:
            raise RequestError(ErrorCode.UNPRINTABLE, f"film {index + 1}: the formatting process ended "
                                                      f"unexpectedly ({exc})") from None
        png = formatter.film_png(sheet)
        sizes.append(len(png))
        blob.write(png)
    return {"films": sizes, "_attachment": blob.getvalue()}
