"""What the formatter says of an image it cannot print: :class:`UnprintableImage`, naming the
file and, in words, why (raised by hcserver.formatter.screening, .source and .pipeline)."""
from __future__ import annotations

import os


class UnprintableImage(ValueError):
    """An image that cannot be printed; ``str(e) == f"{path}: {reason}"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):   # rebuilt from its fields when it comes back from a formatting process
        return type(self), (self.path, self.reason)


class ImageTooLarge(UnprintableImage):
    """An image whose declared size exceeds the budget; refused before any pixel is decoded."""
