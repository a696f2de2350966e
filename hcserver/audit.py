"""The audit log: who submitted, canceled, held, released, moved or reprioritised which job,
and who administered which printer, and when — one JSON object per line."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, who: str, action: str, **details) -> None:
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "who": who,
                 "action": action, **details}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line)
