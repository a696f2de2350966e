"""DICOM over TLS to printers (PS3.15 B.1, Basic TLS Secure Transport Connection
Profile): per-printer ``tls`` keys, the driver against the simulator speaking
TLS, and a job through a real daemon.

Certificates are made at test time with the openssl command line
(tests/support/tls.py): a CA, a printer certificate for 127.0.0.1 it signed,
a client certificate it signed, and an unrelated self-signed one. Expected
outcomes are written here by hand: a printer we cannot talk TLS with is a
connection problem, retried with the reason in words.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from hcserver.config import ConfigError, parse
from hcserver.drivers.base import Action, PrinterStatus, PrintFailure
from hcserver.simulator import PrinterSimulator
from hcserver.simulator import main as simulator_main
from tests.support.daemon import DaemonProcess
from tests.support.jobs import job_of
from tests.support.scu import expect_failure, printer, run_job, sheet
from tests.support.tls import make_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_sim(certs, tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", tls_cert_file=certs.server_cert,
                          tls_key_file=certs.server_key) as sim:
        yield sim


def tls_printer(port: int, certs, **overrides):
    settings = dict(tls=True, tls_ca_file=str(certs.ca))
    settings.update(overrides)
    return printer(port, **settings)


def peer(sim: PrinterSimulator) -> str:
    return f"HCSIM@127.0.0.1:{sim.port}"


# --------------------------------------------------------------------------- the driver
def test_a_job_prints_over_tls(tls_sim, certs, drivers):
    driver = drivers(tls_printer(tls_sim.port, certs))
    run_job(driver, [sheet(0), sheet(1)])
    assert len(tls_sim.films) == 2
    assert driver.status() == PrinterStatus("NORMAL", "NORMAL")
    echo = driver.echo()                  # its own association, also over TLS
    assert echo["ok"] is True and echo["echo_status"] == 0x0000


def test_a_printer_whose_certificate_is_not_trusted_is_retried(certs, drivers):
    with PrinterSimulator(port=0, tls_cert_file=certs.untrusted_cert, tls_key_file=certs.untrusted_key) as sim:
        driver = drivers(tls_printer(sim.port, certs))
        start = time.monotonic()
        failure = expect_failure(driver, [sheet(0)], Action.RETRY)
        assert time.monotonic() - start < 3
        assert failure.reason == (f"TLS handshake with printer {peer(sim)} failed: the printer's certificate "
                                  "was not accepted: self-signed certificate")
        assert failure.operation == "A-ASSOCIATE"
        assert sim.associations == 0 and sim.films == []
        echo = driver.echo()
        assert echo["ok"] is False and echo["error"] == failure.reason


def test_a_printer_certificate_from_another_ca_is_retried(tls_sim, certs, drivers):
    # We trust only the self-signed certificate; the printer's is signed by the test CA.
    driver = drivers(tls_printer(tls_sim.port, certs, tls_ca_file=str(certs.untrusted_cert)))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason == (f"TLS handshake with printer {peer(tls_sim)} failed: the printer's certificate "
                              "was not accepted: unable to get local issuer certificate")


def test_the_certificate_must_name_the_printer(tls_sim, certs, drivers):
    driver = drivers(tls_printer(tls_sim.port, certs, tls_server_name="film.example.org"))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason == (f"TLS handshake with printer {peer(tls_sim)} failed: the printer's certificate "
                              "was not accepted: Hostname mismatch, certificate is not valid for "
                              "'film.example.org'.")
    # ...and with the name it has, it prints
    run_job(drivers(tls_printer(tls_sim.port, certs, tls_server_name="localhost")), [sheet(0)])
    assert len(tls_sim.films) == 1


def test_tls_verify_false_accepts_any_certificate(certs, drivers):
    with PrinterSimulator(port=0, tls_cert_file=certs.untrusted_cert, tls_key_file=certs.untrusted_key) as sim:
        driver = drivers(printer(sim.port, tls=True, tls_verify=False))
        run_job(driver, [sheet(0)])
        assert len(sim.films) == 1


def test_a_plaintext_client_to_a_tls_printer_fails_clearly(tls_sim, drivers):
    driver = drivers(printer(tls_sim.port))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 3
    assert failure.reason == (f"association with printer {peer(tls_sim)} failed during negotiation: the "
                              "printer closed the connection without an A-ABORT and without answering the "
                              "association request (if the printer expects TLS, set tls = true)")
    assert tls_sim.films == []


def test_a_tls_client_to_a_plaintext_printer_fails_clearly(sim, certs, drivers):
    driver = drivers(tls_printer(sim.port, certs))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason.startswith(f"TLS handshake with printer {peer(sim)} failed: ")
    assert sim.films == []


@pytest.fixture
def sim(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "plain") as s:
        yield s


@pytest.fixture
def picky_sim(certs, tmp_path):
    """A TLS printer that requires a client certificate signed by the test CA."""
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", tls_cert_file=certs.server_cert,
                          tls_key_file=certs.server_key, tls_ca_file=certs.ca) as sim:
        yield sim


def test_client_certificate_required_and_given_prints(picky_sim, certs, drivers):
    driver = drivers(tls_printer(picky_sim.port, certs, tls_cert_file=str(certs.client_cert),
                                 tls_key_file=str(certs.client_key)))
    run_job(driver, [sheet(0)])
    assert len(picky_sim.films) == 1


def test_client_certificate_required_and_missing_is_retried(picky_sim, certs, drivers):
    driver = drivers(tls_printer(picky_sim.port, certs))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason == (f"association with printer {peer(picky_sim)} failed during negotiation: the "
                              "TLS connection failed: tlsv13 alert certificate required")
    assert picky_sim.films == []


def test_client_certificate_the_printer_does_not_trust_is_retried(picky_sim, certs, drivers):
    driver = drivers(tls_printer(picky_sim.port, certs, tls_cert_file=str(certs.untrusted_cert),
                                 tls_key_file=str(certs.untrusted_key)))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason.startswith(f"association with printer {peer(picky_sim)} failed during "
                                     "negotiation: the TLS connection failed: ")
    assert picky_sim.films == []


# --------------------------------------------------------------------------- configuration
def config(printer_keys: str) -> str:
    return f"""
[printers.film]
driver = "dicom"
ae_title = "HCSIM"
port = 11112
{printer_keys}
"""


def test_tls_keys_are_read(certs):
    printer_config = parse(config(f"""
tls = true
tls_ca_file = "{certs.ca}"
tls_cert_file = "{certs.client_cert}"
tls_key_file = "{certs.client_key}"
tls_server_name = "localhost"
"""), "test.toml").printers["film"]
    assert (printer_config.tls, printer_config.tls_ca_file, printer_config.tls_cert_file,
            printer_config.tls_key_file, printer_config.tls_verify, printer_config.tls_server_name) == \
        (True, str(certs.ca), str(certs.client_cert), str(certs.client_key), True, "localhost")
    plain = parse(config(""), "test.toml").printers["film"]
    assert (plain.tls, plain.tls_verify, plain.tls_ca_file, plain.tls_server_name) == (False, True, None, None)
    unverified = parse(config("tls = true\ntls_verify = false"), "test.toml").printers["film"]
    assert (unverified.tls, unverified.tls_verify, unverified.tls_ca_file) == (True, False, None)


@pytest.mark.parametrize("keys, key, message", [
    ('tls = "yes"', "tls", "expected true or false, got 'yes'"),
    ("tls = true", "tls_ca_file", "required with tls = true, to verify the printer's certificate "
                                  "(or set tls_verify = false)"),
    ('tls = true\ntls_ca_file = ""', "tls_ca_file", "must not be empty"),
    ('tls = true\ntls_verify = false\ntls_key_file = "client.key"', "tls_key_file",
     "given without tls_cert_file"),
    ('tls = true\ntls_ca_file = "ca.pem"\ntls_server_name = 42', "tls_server_name",
     "expected a host name, got 42"),
    ('tls_verify = "no"', "tls_verify", "expected true or false, got 'no'"),
])
def test_tls_key_errors_name_the_key(keys, key, message):
    with pytest.raises(ConfigError) as info:
        parse(config(keys), "test.toml")
    assert info.value.key == f"printers.film.{key}"
    assert info.value.message == message


@pytest.mark.parametrize("overrides, words", [
    (dict(tls_ca_file="nowhere/ca.pem"), "tls_ca_file nowhere/ca.pem: No such file or directory"),
    (dict(tls_ca_file="{key}"), "tls_ca_file {key}: no CA certificate could be read from it: "),
    (dict(tls_cert_file="{ca}"), "tls_cert_file {ca}: the certificate and its key could not be read (a key "
                                 "that needs a passphrase is not supported): "),
    (dict(tls_cert_file="{cert}", tls_key_file="{other_key}"),
     "tls_cert_file {cert}: the certificate and its key could not be read (a key that needs a passphrase "
     "is not supported): key values mismatch"),
], ids=["missing CA file", "CA file without a certificate", "certificate without key", "key of another"])
def test_a_tls_file_that_cannot_be_used_stops_the_printer(tls_sim, certs, drivers, overrides, words):
    # Neither the job's fault nor the printer's: its jobs wait, the status poll tries again.
    fill = dict(ca=certs.ca, key=certs.client_key, cert=certs.client_cert, other_key=certs.server_key)
    driver = drivers(tls_printer(tls_sim.port, certs, **{k: v.format(**fill) for k, v in overrides.items()}))
    failure = expect_failure(driver, [sheet(0)], Action.STOP_PRINTER)
    assert failure.reason.startswith(f"cannot set up TLS for printer {peer(tls_sim)}: "
                                     + words.format(**fill)), failure.reason
    with pytest.raises(PrintFailure) as info:
        driver.status()
    assert info.value.reason == failure.reason
    assert tls_sim.associations == 0


# --------------------------------------------------------------------------- simulator command line
def test_simulator_command_line_tls(certs, drivers, tmp_path):
    with pytest.raises(SystemExit) as info:
        simulator_main(["--tls-key", str(certs.server_key)])
    assert info.value.code == 2
    proc = subprocess.Popen([sys.executable, "-m", "hcserver.simulator", "--port", "0",
                             "--out", str(tmp_path / "films"), "--tls-cert", str(certs.server_cert),
                             "--tls-key", str(certs.server_key), "--tls-ca", str(certs.ca)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while ", films in" not in line:             # what it prints once it listens
            assert time.monotonic() < deadline and proc.poll() is None, line
            line = proc.stderr.readline()
        assert line.rstrip().endswith(" (TLS), films in " + str(tmp_path / "films"))
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        driver = drivers(tls_printer(port, certs, tls_cert_file=str(certs.client_cert),
                                     tls_key_file=str(certs.client_key)))
        run_job(driver, [sheet(0)])
        driver.close()
    finally:
        proc.terminate()
        proc.wait(30)
    assert len(list((tmp_path / "films").glob("film_*.json"))) == 1


# --------------------------------------------------------------------------- through the daemon
@pytest.mark.dicom
@pytest.mark.slow
def test_daemon_prints_to_a_tls_printer(picky_sim, certs, images):
    process = DaemonProcess(f"""
[server]
state_dir = "@STATE@"
retry_interval_s = 0.2
retry_limit = 2

[printers.secure]
driver = "dicom"
ae_title = "HCSIM"
host = "127.0.0.1"
port = {picky_sim.port}
dpi = 40
tls = true
tls_ca_file = "{certs.ca}"
tls_cert_file = "{certs.client_cert}"
tls_key_file = "{certs.client_key}"

[printers.unsure]
driver = "dicom"
ae_title = "HCSIM"
host = "127.0.0.1"
port = {picky_sim.port}
dpi = 40
tls = true
tls_ca_file = "{certs.untrusted_cert}"
""").start()
    try:
        with process.client() as hc:
            good = hc.wait(hc.submit(job_of(images, films=2, printer="secure")), timeout=60)
            bad = hc.wait(hc.submit(job_of(images, printer="unsure")), timeout=60)
    finally:
        process.cleanup()
    assert good["state"] == "completed" and len(picky_sim.films) == 2
    assert bad["state"] == "failed" and bad["attempts"] == 2
    # (this printer sends its CA along with its certificate)
    assert bad["error"] == (f"gave up after 2 failed attempts: TLS handshake with printer {peer(picky_sim)} "
                            "failed: the printer's certificate was not accepted: self-signed certificate in "
                            "certificate chain")
