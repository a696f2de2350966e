"""The film orientations a film spec may name (PS3.3 C.13.8, Film Orientation).

A module of its own, importing nothing: ``hcq`` offers them as choices and should not pay
for the film geometry to start up (:mod:`hcserver.formatter.geometry` re-exports them).
"""
from __future__ import annotations

ORIENTATIONS = ("PORTRAIT", "LANDSCAPE")
