"""Printing: the dispatcher runs one worker per printer (worker), which records what the driver
learns (recorder), ends each attempt as outcomes decides, and is woken by timers."""
from __future__ import annotations

from hcserver.dispatch.dispatcher import Dispatcher
from hcserver.dispatch.worker import PrinterWorker

__all__ = ["Dispatcher", "PrinterWorker"]
