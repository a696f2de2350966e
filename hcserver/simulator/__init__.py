"""A DICOM Print SCP that simulates a film printer, with fault injection.

It ships with the product so that users can try a printer configuration
without a printer, the demo prints through it over real DICOM, and the tests
use it to provoke every status code and connection fault. It is a peer of the
Print SCU, not a part of it: it imports nothing from ``hcserver.drivers``, so
that the tests check the SCU against an independent reading of the standard.

What it accepts
---------------
Verification, Basic Grayscale Print Management Meta (and, unless
``color=False``, Basic Color Print Management Meta), the individual classes
of both (Film Session, Film Box, Grayscale/Color Image Box, Printer), plus
Presentation LUT, Basic Annotation Box, Print Job and Printer Configuration
Retrieval; Implicit and Explicit VR Little Endian. It lays out any film size and display format it
knows. With a printer profile (``profile=NAME``, ``--profile NAME``: the data of
:mod:`hcserver.profiles`) it accepts only what that printer does: the film sizes, display formats,
media, destinations and magnification types the profile lists, 12-bit images only if it takes
them, a Presentation LUT only if it has one and only at its level (film session or film box),
Implicit VR only if so; anything else is refused as a printer refuses it (see ``capabilities``).

Film sessions and everything under them live as long as the association
(as in the standard); ``max_film_sessions`` limits how many one association
holds at once, as printers that keep one film session per association do (one
more N-CREATE is refused with 0x0213). With ``session_print_only`` it prints
whole film sessions only, as some printers do: a film box's N-ACTION is
answered 0xC616. N-ACTION print on a film box, or on a film session (all
its film boxes), produces one *film record* per film box:

* ``out_dir/film_NNNN.png``: the image boxes composed on a sheet, to eyeball;
* ``out_dir/film_NNNN.json``: the record (see :meth:`Records.add_film`);
* one line appended to ``out_dir/films.jsonl`` (flushed and fsync'ed), so
  another process can count printed films even if the simulator is killed.

The same dicts are kept in :attr:`PrinterSimulator.films`; every DIMSE request
received is kept in :attr:`PrinterSimulator.log`.

Faults
------
:class:`Fault` rules, given at construction or added at run time, change how
the simulator answers the n-th matching request: answer another status, abort
the association, stall, close the TCP connection without an A-ABORT, send
an N-EVENT-REPORT (Printer status change) before answering, or send one right
after the response without waiting for its answer. A misbehaving
printer is one rule away too: bytes that are no valid PDU, half a P-DATA-TF
PDU and then a closed connection, a response whose Message ID Being Responded
To is not the request's, a response with attributes left out. Operation
``A-ASSOCIATE`` rules act on association requests (reject, accept with no
presentation context, abort, close, stall). See :data:`FAULT_SYNTAX` for the
command-line form.

Print jobs
----------
Where the SCU negotiated Print Job, each print action creates a Print Job and
names it in its reply (Referenced Print Job Sequence); N-GET Print Job reads
its Execution Status. It is DONE at once, or with ``print_job_seconds``
PENDING, then PRINTING, and DONE after that time; ``print_job_events``
reports each change with a Print Job N-EVENT-REPORT on the association that
printed it (not waiting for the answer). A ``print-job-failure`` fault ends
it in FAILURE instead.

Printer events
--------------
A printer whose film supply runs low tells the SCU while a job goes on: an
``event-after`` rule (``N-ACTION:event-after:event=WARNING/SUPPLY LOW:times=forever``)
sends a Printer N-EVENT-REPORT right behind every matching response, and
``random_events`` (events per second, seeded by ``seed``) sends them at random
moments to the associations in use. Neither waits for the answer before going
on, as printers built on other DICOM stacks do: the SCU's next request and
the event cross on the wire. Answers are recorded in :attr:`PrinterSimulator.log`
as they come (status None if the association ended first).

TLS
---
With ``tls_cert_file``/``tls_key_file`` the simulator speaks DICOM over TLS
(PS3.15 B.1, the Basic TLS Secure Transport Connection Profile); with
``tls_ca_file`` too it requires a client certificate signed by that CA.
The handshake runs in the association's own thread (see :mod:`.tls`), so
a client that connects and says nothing holds up no one else.

Modules
-------
``scp`` the Print SCP (:class:`PrinterSimulator`): the AE, its associations,
each request through the fault rules to its operation; ``operations`` which
handler serves which operation and SOP class, with the handlers in
``printer`` (Printer, Printer Configuration Retrieval, Print Job), ``film``
(Film Session, Film Box, Presentation LUT, Annotation Box) and ``image_box``;
``capabilities`` what the printer accepts (a profile); ``state`` what an
association created; ``records`` and ``render`` the log, the film records and
their pictures; ``events`` the N-EVENT-REPORTs; ``faults`` the fault language
and ``connection`` what faults do to a connection; ``layout`` display formats
and film sizes; ``sop`` the SOP class names; ``tls``; ``cli`` the command line.
"""
from hcserver.simulator.cli import main
from hcserver.simulator.faults import FAULT_SYNTAX, GARBAGE, Fault, parse_fault
from hcserver.simulator.layout import film_size_mm, parse_display_format
from hcserver.simulator.records import Records
from hcserver.simulator.scp import PrinterSimulator
from hcserver.simulator.tls import server_tls_context

__all__ = ["Fault", "PrinterSimulator", "Records", "FAULT_SYNTAX", "GARBAGE", "parse_fault", "parse_display_format",
           "film_size_mm", "server_tls_context", "main"]
