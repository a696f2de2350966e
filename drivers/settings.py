"""What a driver is told about its printer and about us: settings types, below the daemon.

The daemon's configuration (:mod:`hcserver.config`) parses the file into these; drivers
import them from here, so that they never depend on the daemon.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS


@dataclass(frozen=True)
class Station:
    """Who we are on the wire: the calling AE title and our implementation identity (PS3.7 D.3.3.2)."""

    ae_title: str = "HCSERVER"
    implementation_class_uid: str | None = None      # None: pynetdicom's
    implementation_version_name: str | None = None   # None: pynetdicom's


@dataclass(frozen=True)
class PrinterDefaults:
    """Per-printer defaults for job fields a spec leaves out."""

    film_size: str = "14INX17IN"
    orientation: str = "PORTRAIT"
    layout: str | None = None      # None: the standard layout that fits the job's images best
    medium_type: str | None = None
    film_destination: str | None = None
    magnification: str = "CUBIC"
    priority: str = "med"
    copies: int = 1


#: What the print action (N-ACTION) of a DICOM printer is sent to: each film box (the default), or
#: the film session, printing all its film boxes at once (for printers that print only that way).
PRINT_ACTIONS = ("film-box", "film-session")

#: What becomes of a film in doubt (its print request went out, no answer came back): sent again
#: once more at most (the default), never (counted as printed, with a warning), or every time
#: the job is tried again.
REPRINT_IN_DOUBT = ("once", "never", "always")


@dataclass(frozen=True)
class PrinterConfig:
    name: str
    driver: str = "preview"
    # DICOM connection
    ae_title: str = "PRINTSCP"
    host: str = "127.0.0.1"
    port: int = 104
    calling_ae_title: str | None = None      # overrides [server] ae_title for this printer
    max_pdu: int = 131072
    connect_timeout_s: float = 10.0
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    network_timeout_s: float = 120.0
    # DICOM over TLS (PS3.15 B.1): file paths are relative to the current directory
    tls: bool = False
    tls_ca_file: str | None = None            # CA bundle the printer's certificate must chain to
    tls_cert_file: str | None = None          # client certificate, for printers that ask for one
    tls_key_file: str | None = None           # its private key (if not in tls_cert_file)
    tls_verify: bool = True                   # false: accept any printer certificate
    tls_server_name: str | None = None        # name checked against the certificate (default: host)
    # capability profile
    color: bool = False
    bit_depth: int = 8
    dpi: int = 320
    film_sizes: tuple[str, ...] = tuple(FILM_SIZES)
    display_formats: tuple[str, ...] = ()     # empty: any STANDARD\C,R / ROW / COL
    medium_types: tuple[str, ...] = ()        # empty: anything
    film_destinations: tuple[str, ...] = ()   # empty: anything
    magnification_types: tuple[str, ...] = MAGNIFICATIONS
    smoothing_types: tuple[str, ...] = ()     # empty: anything (the values are the printer's own)
    presentation_lut: bool = False            # propose Presentation LUT SOP class
    plut_in_film_session: bool = False
    annotation_box: bool = False              # propose Basic Annotation Box SOP class
    annotation_text_length: int = 64
    annotation_display_format_id: str = "ANNOTATION"   # vendor-specific; sent when a film has annotation boxes
    print_job: bool = False                   # propose Print Job SOP class, follow each print job to its end
    print_job_timeout_s: float = 120.0        # how long the print jobs of a job's films are followed
    print_action: str = "film-box"            # one of PRINT_ACTIONS
    session_films: int = 0                    # film-session printing: films per N-ACTION (0: all the job's)
    meta_sop_only: bool = True
    configuration_information: str | None = None
    memory_allocation: int | None = None      # Memory Allocation (KB) sent in the film session
    preempt: bool = True
    defaults: PrinterDefaults = field(default_factory=PrinterDefaults)
    status_policy: dict[str, str] = field(default_factory=dict)  # "N-ACTION 0xC602" -> action
    # retry (None: the server's)
    retry_interval_s: float | None = None
    retry_limit: int | None = None
    status_poll_s: float = 30.0
    reprint_in_doubt: str = "once"            # one of REPRINT_IN_DOUBT
