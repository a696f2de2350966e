"""hcserver on PostgreSQL: the same migrations, the same daemon, a real server on loopback."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from hcserver.db import current_revision, make_engine, upgrade
from hcserver.simulator import PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.jobs import job_of

pytestmark = pytest.mark.postgres


def test_migrations_create_the_same_schema_on_postgresql_and_sqlite(postgres_url, tmp_path):
    tables = {}
    for name, url in (("postgresql", postgres_url), ("sqlite", f"sqlite:///{tmp_path / 'q.db'}")):
        engine = make_engine(url)
        upgrade(engine)
        assert current_revision(engine) == "0007"
        schema = inspect(engine)
        tables[name] = {table: sorted(c["name"] for c in schema.get_columns(table))
                        for table in schema.get_table_names()}
        engine.dispose()
    assert tables["postgresql"] == tables["sqlite"]


@pytest.mark.dicom
@pytest.mark.slow
def test_daemon_on_postgresql_prints_and_survives_kill_9(postgres_url, tmp_path, images):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        config = dicom_config({"sim": sim.port}).replace("[server]", f'[server]\ndatabase = "{postgres_url}"', 1)
        config += '\n[printers.film]\ndriver = "preview"\ndpi = 40\n'
        process = DaemonProcess(config).start()
        try:
            with process.client() as hc:
                preview = hc.submit_files([images["CT_small.dcm"], images["MR_small.dcm"]], printer="film")
                held = hc.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
                assert hc.wait(preview, timeout=60)["state"] == "completed"
                hc.printer_admin("disable", "sim")
                dicom = hc.submit(job_of(images, films=3))
                assert [j["id"] for j in hc.list()] == [held, dicom]
            process.kill()
            process.start()
            with process.client() as hc:
                assert hc.show(held)["state"] == "held"
                hc.printer_admin("enable", "sim")
                result = hc.wait(dicom, timeout=60)
                assert result["state"] == "completed" and result["films_printed"] == 3
                assert hc.cancel(held)["state"] == "canceled"
                assert {j["id"]: j["state"] for j in hc.list(all=True)} == {
                    preview: "completed", held: "canceled", dicom: "completed"}
        finally:
            process.cleanup()
    assert len(sim.films) == 3
