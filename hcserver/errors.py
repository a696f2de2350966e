"""The error codes of the socket protocol: what a refused request's ``error.code`` says.

One list, so the queue, the server and the client speak of the same refusals. Codes are
stable: clients and scripts test them.
"""
from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    # the message itself (hcserver.protocol)
    BAD_FRAME = "bad-frame"                 # not an hcserver message: the connection closes
    TOO_LARGE = "too-large"                 # a header or attachment over its limit
    TRUNCATED = "truncated"                 # the connection closed in the middle of a message
    BAD_JSON = "bad-json"                   # the header is not a JSON object
    STALLED = "stalled"                     # no data for stall_timeout_s in the middle of a message
    BUSY = "busy"                           # max_pending_upload_bytes are being received: try again
    TOO_MANY_CONNECTIONS = "too-many-connections"   # max_connections(_per_user) reached: refused at connect
    UNAUTHENTICATED = "unauthenticated"     # a remote client without a valid token
    THROTTLED = "throttled"                 # too many failed token attempts from the client's address
    UNKNOWN_OP = "unknown-op"
    BAD_REQUEST = "bad-request"             # a missing or ill-typed argument
    FORBIDDEN = "forbidden"                 # not the job's owner, or not an administrator
    INTERNAL = "internal"                   # a bug: it costs the request, never the server
    DATABASE_UNAVAILABLE = "database-unavailable"   # the queue database cannot be written or read (disk full, ...)
    # what the request names
    UNKNOWN_JOB = "unknown-job"
    UNKNOWN_PRINTER = "unknown-printer"
    INVALID_STATE = "invalid-state"         # the job's state does not allow it
    LEASE_LOST = "lease-lost"               # another node prints the job now (never sent to clients)
    # submitting and uploading
    INVALID_SPEC = "invalid-spec"
    NOT_ACCEPTING = "not-accepting"
    QUEUE_LIMIT = "queue-limit"
    SPOOL_FULL = "spool-full"
    SPOOL_ERROR = "spool-error"
    UNPRINTABLE_IMAGE = "unprintable-image"
    IMAGE_TOO_LARGE = "image-too-large"
    UPLOAD_QUOTA = "upload-quota"           # the owner's uploads not yet submitted are at their limit
    UNPRINTABLE = "unprintable"             # a preview could not be formatted
    BAD_CONFIG = "bad-config"               # a reload found the configuration file wrong
    # probing a printer
    PRINTER_BUSY = "printer-busy"           # it is printing a job (or another node drives it)
    NOT_DICOM = "not-dicom"                 # only a DICOM printer can be probed
