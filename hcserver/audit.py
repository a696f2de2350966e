"""The audit log: who submitted, canceled, held, released, moved or reprioritised which job,
and who administered which printer, and when — one JSON object per line. Refused actions are
there too, with ``refused`` (the error code) and ``why`` (the refusal's words), and remote
clients refused at ``auth``.

It names users, jobs and printers, never patients: a refusal whose words may quote what the
client sent (a job spec's label or annotations, an image's name, the configuration) is recorded
by its code alone.

The file is 0600 (its lines name users and jobs) and each line is fsynced before the request is
answered: an action the client was told about is in the log after a power cut too. It is
opened for each line, so a log rotation (rename, then a new file) needs no signal.
"""
from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from hcserver.errors import ErrorCode
from hcserver.statefiles import fsync_directory, open_private, private_directory

#: Refusals whose message may quote the client's data (or the configuration): code only.
CODE_ONLY = frozenset({ErrorCode.INVALID_SPEC, ErrorCode.UNPRINTABLE_IMAGE, ErrorCode.IMAGE_TOO_LARGE,
                       ErrorCode.UNPRINTABLE, ErrorCode.BAD_CONFIG, ErrorCode.INTERNAL})


class AuditLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.parent.exists():
            private_directory(self.path.parent)
        self._lock = threading.Lock()

    def record(self, who: str, action: str, **details) -> None:
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "who": who,
                 "action": action, **details}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            fd, created = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            with open(fd, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            if created:
                fsync_directory(self.path.parent)

    def refused(self, who: str, action: str, code: str, why: str, **details) -> None:
        """An action refused (or failed) with error ``code`` and message ``why``."""
        if code in CODE_ONLY:
            self.record(who, action, refused=code, **details)
        else:
            self.record(who, action, refused=code, why=why, **details)
