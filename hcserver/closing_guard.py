"""A guard for pynetdicom 3.0's state machine, which both sides of our DICOM traffic need: the
Print SCU (hcserver.drivers.dicom.reactor) and the printer simulator (hcserver.simulator), which
otherwise shares no code with the drivers it tests. It imports nothing of hcserver's own."""
from __future__ import annotations

import logging
from typing import Any

from pynetdicom.fsm import TRANSITION_TABLE

_LOG = logging.getLogger(__name__)


def ignore_requests_while_closing(machine: Any) -> None:
    """Let ``machine`` (an association's pynetdicom state machine) drop a request of ours
    that comes after the connection began to close (Sta13: a P-DATA, release or abort put
    just as the peer's release reply or rejection arrived). PS3.8 defines no such event in
    Sta13; pynetdicom raises ``InvalidEventError`` there, outside its own handler, and so
    ends the network thread with a traceback, though there is nothing left to do."""
    do_action = machine.do_action

    def do_action_unless_closing(event: str) -> None:
        if machine.current_state == "Sta13" and (event, "Sta13") not in TRANSITION_TABLE:
            _LOG.debug("%s after the connection began to close: nothing to do", event)
            return
        do_action(event)

    machine.do_action = do_action_unless_closing
