"""SQLAlchemy models of the queue: jobs, films, frames, events, printers; the database spool
and what the nodes share.

The schema itself is owned by Alembic (``migrations/``); these classes map it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    printer: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(4))        # high, med, low
    priority_rank: Mapped[int] = mapped_column(Integer)     # 0 high .. 2 low: the sort key
    copies: Mapped[int] = mapped_column(Integer, default=1)
    medium_type: Mapped[str | None] = mapped_column(String(64))
    film_destination: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(64))
    color: Mapped[bool] = mapped_column(Boolean, default=False)
    films_total: Mapped[int] = mapped_column(Integer)
    films_printed: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)            # times printing started
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)     # attempts that ended in a retry
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # While processing: which server process prints it ("node#incarnation") and until when,
    # unless that process renews the lease (see hcserver.queue.leases).
    lease_owner: Mapped[str | None] = mapped_column(String(160))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # The printer of its latest attempt: ``printer`` itself, or for a job sent to a pool the
    # member that took it (hcserver.queue.pools).
    printed_on: Mapped[str | None] = mapped_column(String(64))
    # A front door's name for what it queued (a digest of a film's content and origin), so a
    # modality's retry finds the job instead of printing it again (hcserver.queue.jobs: submit)
    origin_key: Mapped[str | None] = mapped_column(String(64))

    films: Mapped[list[Film]] = relationship(back_populates="job", order_by="Film.index",
                                             cascade="all, delete-orphan")
    events: Mapped[list[Event]] = relationship(back_populates="job", order_by="Event.id",
                                               cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_jobs_dispatch", "printer", "state", "priority_rank", "id"),
        Index("ix_jobs_state", "state"),
        Index("ix_jobs_owner_state", "owner", "state"),
        Index("ix_jobs_origin_key", "origin_key", "created_at"),
    )


class Film(Base):
    __tablename__ = "films"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)             # 0-based within the job
    film_size: Mapped[str] = mapped_column(String(16))
    orientation: Mapped[str] = mapped_column(String(16))
    layout: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict] = mapped_column(JSON)              # magnification, densities, trim, ...
    printed_at: Mapped[datetime | None] = mapped_column(DateTime)
    output: Mapped[str | None] = mapped_column(Text)         # e.g. the preview PNG path
    # Times its print request went out without an answer (the printer may have printed it), and
    # when last: see reprint_in_doubt (hcserver.dispatch.outcomes).
    in_doubt: Mapped[int] = mapped_column(Integer, default=0)
    in_doubt_at: Mapped[datetime | None] = mapped_column(DateTime)

    job: Mapped[Job] = relationship(back_populates="films")
    frames: Mapped[list[Frame]] = relationship(back_populates="film", order_by="Frame.index",
                                               cascade="all, delete-orphan")

    __table_args__ = (Index("ix_films_job", "job_id", "index", unique=True),)


class Frame(Base):
    __tablename__ = "frames"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    image: Mapped[str] = mapped_column(String(64))           # spool digest (sha256 hex)
    frame: Mapped[int] = mapped_column(Integer, default=0)   # frame number within a multi-frame image
    options: Mapped[dict] = mapped_column(JSON)              # position, window, polarity, annotations, ...

    film: Mapped[Film] = relationship(back_populates="frames")

    __table_args__ = (Index("ix_frames_film", "film_id", "index"),)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32))            # a Transition or an EventKind (hcserver.states)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict | None] = mapped_column(JSON)

    job: Mapped[Job] = relationship(back_populates="events")

    __table_args__ = (Index("ix_events_job", "job_id", "kind"),)


class Printer(Base):
    __tablename__ = "printers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    accepting: Mapped[bool] = mapped_column(Boolean, default=True)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)   # by printer status FAILURE
    dicom_status: Mapped[str | None] = mapped_column(String(16))
    dicom_status_info: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The server process that drives this printer (one association per printer) and until when.
    driver_owner: Mapped[str | None] = mapped_column(String(160))
    driver_until: Mapped[datetime | None] = mapped_column(DateTime)
    # When its latest attempt ended in a retry (e.g. it is switched off), until one completes on
    # it: its pools offer it their jobs last (hcserver.queue.pools).
    retried_at: Mapped[datetime | None] = mapped_column(DateTime)


class Pool(Base):
    """A configured pool's row, shared by the nodes: whose turn it is (round robin)."""

    __tablename__ = "pools"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_member: Mapped[str | None] = mapped_column(String(64))   # the member that took its latest job
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class SpoolImage(Base):
    """An image of the database spool (``spool = "database"``), by its digest; its bytes are
    its chunks, in order."""
    __tablename__ = "spool_images"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(DateTime)    # uploaded, or uploaded again (fresh)


class SpoolChunk(Base):
    __tablename__ = "spool_chunks"

    digest: Mapped[str] = mapped_column(ForeignKey("spool_images.digest", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FilmOutput(Base):
    """A film a preview printer wrote, kept in the database with the database spool."""
    __tablename__ = "film_outputs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SharedSetting(Base):
    """What every node must have alike (the spool), as the node that recorded it has it."""
    __tablename__ = "shared_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class NodePrinters(Base):
    """A node's printer configuration, as one fingerprint per printer (hcserver.sharing)."""
    __tablename__ = "node_printers"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(160))          # "node#incarnation" that recorded it
    printers: Mapped[dict] = mapped_column(JSON)              # printer name: fingerprint
    updated_at: Mapped[datetime] = mapped_column(DateTime)
