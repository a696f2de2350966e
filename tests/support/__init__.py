"""What the tests share; no test module imports another.

Fixtures (registered by tests/conftest.py, used by name): ``fixtures`` (images, a preview
daemon, DICOM drivers, the printer simulator), ``dcmtk`` (DCMTK's dcmprscp as a real Print SCP),
``postgres`` (a throw-away PostgreSQL cluster), ``root`` (the ``needs_root`` marker: a test that
needs root). Helpers (imported): ``daemon`` (a real daemon
process, waiting), ``configs`` (daemon configurations), ``jobs`` (job specs), ``images`` (DICOM
files), ``hostile_files``, ``formatting``, ``scu`` (Print SCU building blocks), ``recording``
(an association that records requests), ``queue`` (the queue without a daemon, a fake clock),
``operations`` (request handling without sockets), ``users``, ``ports``, ``proc``, ``tls``.
"""
