"""The database spool (``spool = "database"``, README "Choosing the spool"): images in a real
PostgreSQL server, read by nodes that share no directory."""
from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from collections import Counter
from datetime import timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, update

from hcserver.client import ClientError
from hcserver.config import ConfigError, parse
from hcserver.db import alembic_config, current_revision, make_engine, upgrade
from hcserver.dbspool import CHUNK_BYTES, DatabaseSpool
from hcserver.models import FilmOutput, SpoolChunk, SpoolImage
from hcserver.simulator import Fault, PrinterSimulator
from hcserver.uploads import OrphanCollector, UploadQuota
from tests.support.configs import node_config
from tests.support.daemon import start_nodes, wait_for
from tests.support.jobs import FILMS_PER_JOB
from tests.support.nodes import driver_of, kill_driver_mid_job, submit_jobs

HOUR = 3600


def test_the_database_spool_needs_postgresql():
    with pytest.raises(ConfigError, match='server.spool: spool = "database" needs the queue in PostgreSQL'):
        parse('[server]\nspool = "database"\n[printers.film]\ndriver = "preview"\n', "hcserver.toml")


def test_spool_database_with_postgresql_keeps_a_cache_in_the_state_directory(tmp_path):
    config = parse('[server]\nspool = "database"\ndatabase = "postgresql+psycopg://db/hc"\nstate_dir = "state"\n'
                   '[printers.film]\ndriver = "preview"\n', "hcserver.toml", tmp_path)
    assert config.spool_in_database and config.spool == tmp_path / "state" / "spool-cache"
    assert not parse('[printers.film]\ndriver = "preview"\n', "hcserver.toml", tmp_path).spool_in_database


@pytest.fixture
def engine(postgres_url):
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def image_bytes(size: int, seed: int = 1) -> bytes:
    """``size`` bytes that compress badly (as pixel data does), different per ``seed``."""
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.postgres
def test_an_image_stored_on_one_node_is_read_whole_on_another(engine, tmp_path):
    data = image_bytes(3 * CHUNK_BYTES + 12345)
    alpha, beta = DatabaseSpool(tmp_path / "alpha", engine), DatabaseSpool(tmp_path / "beta", engine)
    digest = alpha.put(data)
    assert digest == hashlib.sha256(data).hexdigest(), "content addressed: the SHA-256 of the bytes"
    with engine.connect() as connection:   # committed when put returned: another connection sees it
        assert connection.scalar(select(func.count()).select_from(SpoolChunk)) == 4
    assert beta.exists(digest) and not beta.exists("0" * 64)
    assert beta.path(digest).read_bytes() == data, "copied from the database into beta's cache"
    assert beta.path(digest).parent.parent == tmp_path / "beta"
    assert oct(beta.path(digest).stat().st_mode & 0o777) == "0o600", "patient data"
    assert alpha.put(data) == digest
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SpoolImage)) == 1, "the same image is stored once"
    assert not beta.path("f" * 64).exists(), "no such image: no file, as with a file spool"


@pytest.mark.postgres
def test_a_damaged_image_is_refused_not_formatted(engine, tmp_path):
    digest = DatabaseSpool(tmp_path / "alpha", engine).put(image_bytes(1000))
    with engine.begin() as connection:
        connection.execute(update(SpoolChunk).values(data=b"x" * 1000))
    beta = DatabaseSpool(tmp_path / "beta", engine)
    with pytest.raises(OSError, match="damaged"):
        beta.path(digest)
    assert not (tmp_path / "beta" / digest[:2] / digest).exists()


@pytest.mark.postgres
def test_storing_and_reading_a_50_mb_image_holds_it_in_memory_once(engine, tmp_path):
    """The attachment is the one copy: storing it and copying it out of the database take
    memory for a few chunks, not another image."""
    data = image_bytes(50 << 20)
    spool = DatabaseSpool(tmp_path / "alpha", engine)
    tracemalloc.start()
    try:
        digest = spool.put(data)
        _, stored_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        other = DatabaseSpool(tmp_path / "beta", engine)
        copied = other.path(digest)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copied.stat().st_size == len(data)
    assert stored_peak < 8 * CHUNK_BYTES and read_peak < 8 * CHUNK_BYTES, (stored_peak, read_peak)


@pytest.mark.postgres
def test_orphans_are_removed_from_the_database_after_the_grace_period(engine, tmp_path):
    spool = DatabaseSpool(tmp_path / "alpha", engine)
    old, fresh = spool.put(image_bytes(2000, 1)), spool.put(image_bytes(2000, 2))
    with engine.begin() as connection:
        connection.execute(update(SpoolImage).where(SpoolImage.digest == old)
                           .values(stored_at=SpoolImage.stored_at - timedelta(hours=2)))
    os.utime(spool.path(old), (time.time() - 2 * HOUR,) * 2)   # and unused in this node's cache
    collected = OrphanCollector(spool, engine, UploadQuota(), grace_s=HOUR).collect()
    assert (collected.images, collected.freed) == (1, 2000)
    assert not spool.exists(old) and spool.exists(fresh)
    assert not (tmp_path / "alpha" / old[:2] / old).exists(), "its cached copy went with it"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SpoolChunk)) == 1, "its chunks went with it"


@pytest.mark.postgres
def test_the_database_spool_migration_downgrades_to_the_pools_schema_and_upgrades_again(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    migration = next(s for s in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()
                     if s.path.endswith("_database_spool.py"))
    assert (migration.revision, migration.down_revision) == ("0008", "0007")   # after the printer pools
    DatabaseSpool(tmp_path / "cache", engine).put(image_bytes(100))
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, migration.down_revision)
    tables = set(inspect(engine).get_table_names())
    assert not tables & {"spool_images", "spool_chunks", "film_outputs", "shared_settings", "node_printers"}
    assert "pools" in tables and current_revision(engine) == "0007"   # 0007 stays
    engine.dispose()
    upgrade(engine)
    assert current_revision(engine) == "0008"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SpoolImage)) == 0   # created empty again


@pytest.mark.postgres
@pytest.mark.dicom
@pytest.mark.slow
def test_a_node_killed_mid_job_leaves_its_jobs_to_a_node_that_shares_no_directory_with_it(postgres_url, tmp_path):
    """Two daemon processes with their own state directories and spool = "database". Each
    node is sent jobs of its own (their images uploaded to it alone); the node driving the
    printer is killed with SIGKILL part way through a job. The other node prints every job,
    its images read from the database: no film missing, at most the one in flight repeated.
    Real time: each node's lease runs out on its own clock."""
    lease_s = 3
    slow = [Fault(operation="N-ACTION", behaviour="stall", stall_s=0.15, times=None)]
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", faults=slow) as sim:
        names = ("alpha", "beta")
        started = start_nodes([node_config(postgres_url, "database", name, lease_s, {"sim": sim.port})
                               for name in names])
        nodes = dict(zip(names, started))
        try:
            jobs = submit_jobs(started[0], tmp_path, "sim", 1, 2)
            jobs += submit_jobs(started[1], tmp_path, "sim", 1 + 2 * FILMS_PER_JOB, 2)
            killed = kill_driver_mid_job(nodes, "sim")
            survivor = nodes["beta" if killed == "alpha" else "alpha"]
            wait_for(lambda: driver_of(survivor, "sim") not in (None, killed), 30, "the survivor to drive sim")
            with survivor.client() as hc:
                results = [hc.wait(job, timeout=180) for job in jobs]
            file_spools = [node.dir / "var" / "spool" for node in started if (node.dir / "var" / "spool").exists()]
        finally:
            for node in started:
                node.cleanup()
        films = sim.films
    assert [r["state"] for r in results] == ["completed"] * len(jobs), results
    assert all(r["films_printed"] == FILMS_PER_JOB for r in results)
    arrived = Counter(film["image_boxes"][0]["md5"] for film in films)
    assert len(arrived) == len(jobs) * FILMS_PER_JOB, "every film arrived"
    assert sum(arrived.values()) - len(arrived) <= 1, "at most the film in flight was printed twice"
    assert file_spools == [], "no node kept images in a file spool"


@pytest.mark.postgres
@pytest.mark.slow
def test_a_preview_film_printed_on_one_node_is_read_on_the_other_and_purged_with_its_job(postgres_url, images):
    """Preview printers keep their films in the database with the database spool: hcq film on
    either node gives the PNG, whichever node printed it; the history purge deletes the films
    and the job's images (aged past the grace period here, as an old job's are)."""
    alpha, beta = nodes = start_nodes([node_config(postgres_url, "database", name, 300) for name in ("alpha", "beta")])
    engine = make_engine(postgres_url)
    try:
        with alpha.client() as hc:
            job = hc.submit({"printer": "film", "films": [
                {"layout": "STANDARD\\1,1", "film_size": "8INX10IN", "frames": [images[name]]}
                for name in ("CT_small.dcm", "MR_small.dcm")]})
            assert hc.wait(job, timeout=30)["state"] == "completed"
            outputs = [film["output"] for film in hc.show(job)["films"]]
        assert outputs == ["database:job-000001-film-001.png", "database:job-000001-film-002.png"]
        for node in nodes:
            with node.client() as hc:
                pngs = [hc.film(job, 1), hc.film(job, 2)]
            assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs) and pngs[0] != pngs[1]
        assert not any((node.dir / "var" / "preview").exists() for node in nodes), "no film on a node's disk"
        with engine.begin() as connection:
            connection.execute(update(SpoolImage).values(stored_at=SpoolImage.stored_at - timedelta(hours=2)))
        beta.config.write_text(beta.config.read_text().replace("[server]", "[server]\nhistory_max_jobs = 0", 1))
        beta.stop()
        beta.start()   # purges the history at start
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(FilmOutput)) == 0
            assert connection.scalar(select(func.count()).select_from(SpoolImage)) == 0
            assert connection.scalar(select(func.count()).select_from(SpoolChunk)) == 0
        with alpha.client() as hc, pytest.raises(ClientError, match=f"no job {job}"):
            hc.film(job, 1)
    finally:
        engine.dispose()
        for node in nodes:
            node.cleanup()
