"""Pixels that live in a file mapping, sent without keeping the mapping's pages in memory.

A big film's pixels come from the formatting process in a file the daemon maps
(hcserver.formatting). pydicom encodes a request into memory, copying the image box's item
once more to measure its length, so a 48.7 MB box held the mapped pixels, the item and the
encoded request at once: three films' worth. Given a readable buffer instead of the bytes
(pydicom's "buffered" element values), pydicom streams the pixels into the request, and
:class:`MappedReader` lets the kernel take back each part of the mapping once it has been read
(``MADV_DONTNEED``: the pages stay in the page cache; read again, e.g. for a retry, they come
back from it). So the request is built with two films' worth of memory, not three.
"""
from __future__ import annotations

import io
import mmap

import numpy as np

#: the mapping is given back in steps of this many bytes as it is read
RELEASE_STEP = 1 << 20


def whole_mapping(array: np.ndarray) -> mmap.mmap | None:
    """The file mapping ``array`` is, byte for byte, if it is one (else None)."""
    if not array.flags.c_contiguous:
        return None
    base = array.base
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):     # np.frombuffer's view of the mapping
        base = base.obj
    if not isinstance(base, mmap.mmap) or base.closed or len(base) != array.nbytes or not array.nbytes:
        return None
    start = np.frombuffer(base, np.uint8, count=1)
    return base if start.ctypes.data == array.ctypes.data else None


class MappedReader(io.BufferedIOBase):
    """A read-only, seekable stream of a mapping's bytes that gives back what it has read."""

    def __init__(self, mapping: mmap.mmap):
        super().__init__()
        self._mapping = mapping
        self._pos = 0
        self._kept_from = 0       # the mapping before this offset has been given back

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._mapping)}[whence]
        self._pos = max(0, base + offset)
        self._kept_from = min(self._kept_from, self._pos - self._pos % mmap.PAGESIZE)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._mapping) if size is None or size < 0 else min(len(self._mapping), self._pos + size)
        chunk = self._mapping[self._pos:end]
        self._pos = max(self._pos, end)
        self._give_back()
        return chunk

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def _give_back(self) -> None:
        end = len(self._mapping)
        done = end if self._pos >= end else self._pos - self._pos % mmap.PAGESIZE
        if done > self._kept_from and (done - self._kept_from >= RELEASE_STEP or done == end):
            self._mapping.madvise(mmap.MADV_DONTNEED, self._kept_from, done - self._kept_from)
            self._kept_from = done
