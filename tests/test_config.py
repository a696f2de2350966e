from pathlib import Path

import pytest

from hcserver import config as config_module
from hcserver.config import EMBEDDED_SOURCE, ConfigError, load, parse

REPO = Path(__file__).resolve().parent.parent


def test_example_config_and_embedded_defaults_load():
    example = load(REPO / "etc" / "hcserver.toml")
    assert set(example.printers) == {"preview", "simulator"}
    # the service's paths (etc/hcserver.service, etc/hcserver.tmpfiles.conf)
    assert (example.socket, example.state_dir) == (Path("/run/hcserver/hcserver.sock"), Path("/var/lib/hcserver"))
    assert example.database == "sqlite:////var/lib/hcserver/queue.db"
    embedded = load(None)
    assert embedded.source == EMBEDDED_SOURCE
    assert embedded.printers["simulator"].driver == "dicom"
    assert embedded.database == "sqlite:///var/queue.db"


def test_commented_dicom_printer_in_example_is_valid():
    text = (REPO / "etc" / "hcserver.toml").read_text()
    uncommented = "\n".join(line[2:] if line.startswith("# ") and "=" in line or line.startswith("# [")
                            else line for line in text.splitlines())
    config = parse(uncommented, "example")
    dryview = config.printers["dryview"]
    assert (dryview.ae_title, dryview.port, dryview.max_pdu, dryview.dpi) == ("DRYVIEW", 10400, 16384, 320)
    assert dryview.defaults.medium_type == "BLUE FILM"
    assert dryview.status_policy == {"N-ACTION 0xC602": "retry"}


@pytest.mark.parametrize("text, key, words", [
    ("[printers.a]\ndriver = 'fax'", "printers.a.driver", "'fax' is not one of: dicom, preview"),
    ("[printers.a]\nbit_depth = 10", "printers.a.bit_depth", "must be 8 or 12"),
    ("[printers.a]\nport = 'x'", "printers.a.port", "expected a TCP port number"),
    ("[printers.a]\nfilm_sizes = ['15INX15IN']", "printers.a.film_sizes[0]", "not one of"),
    ("[printers.a]\ncolour = true", "printers.a.colour", "unknown key"),
    ("[printers.a.status_policy]\n'N-FOO 0xC602' = 'retry'", 'printers.a.status_policy."N-FOO 0xC602"',
     "OPERATION one of"),
    ("[printers.a.status_policy]\n'N-ACTION 0xC602' = 'ignore'", 'printers.a.status_policy."N-ACTION 0xC602"',
     "not one of: ok, warn, retry, fail, stop-printer"),
    ("[printers.a.status_policy]\n'N-EVENT-REPORT 0x0113' = 'fail'",
     'printers.a.status_policy."N-EVENT-REPORT 0x0113"', "OPERATION is one of: N-GET, N-CREATE, N-SET, N-ACTION"),
    ("[printers.a.status_policy]\n'N-SET 0x10000' = 'fail'", 'printers.a.status_policy."N-SET 0x10000"',
     "status codes are 0x0000 to 0xFFFF"),
    ("[server]\nretry_limit = 'many'", "server.retry_limit", "expected a number of attempts"),
    ("[server]\nformat_processes = -1\n[printers.a]", "server.format_processes", "must be 0 (one per CPU"),
    ("[server]\nae_title = 'H'", "printers", "at least one printer"),
    ("[printers.a]\ndefaults = { film_size = 'A4' }\nfilm_sizes = ['A3']", "printers.a.defaults.film_size",
     "not one this printer accepts (A3)"),
    ("[printers.a]\ndefaults = { layout = 'STANDARD\\\\2,2' }\ndisplay_formats = ['STANDARD\\\\1,1']",
     "printers.a.defaults.layout", "not one this printer accepts"),
    ("[printers.a\n", "(syntax)", ""),
])
def test_config_errors_name_file_key_and_allowed_values(text, key, words):
    with pytest.raises(ConfigError) as error:
        parse(text, "site.toml")
    assert error.value.file == "site.toml" and error.value.key == key
    assert words in str(error.value)


def test_status_policy_keys_are_normalised():
    config = parse("[printers.a]\ndriver = 'dicom'\n[printers.a.status_policy]\n"
                   "'n-action 0xc602' = 'retry'\n'N-GET  110' = 'warn'\n", "site.toml")
    assert config.printers["a"].status_policy == {"N-ACTION 0xC602": "retry", "N-GET 0x0110": "warn"}


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        load(tmp_path / "nope.toml")


def test_every_error_of_a_file_is_reported_at_once():
    text = """
[server]
retry_limit = "many"
colour = 1
[printers.a]
driver = "fax"
bit_depth = 10
[printers.b]
port = "x"
"""
    with pytest.raises(ConfigError) as error:
        parse(text, "site.toml")
    keys = [e.key for e in error.value.errors]
    assert keys == ["server.retry_limit", "server.colour", "printers.a.driver", "printers.a.bit_depth",
                    "printers.b.port"]
    assert str(error.value).count("site.toml: ") == 5


def test_check_config_prints_every_error(tmp_path):
    import subprocess
    import sys

    site = tmp_path / "site.toml"
    site.write_text("[server]\nretry_limit = 'many'\n[printers.a]\ndriver = 'fax'\n")
    result = subprocess.run([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "check-config", "-c", str(site)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"hcserver: {site}: server.retry_limit: expected a number of attempts, got 'many'",
        f"hcserver: {site}: printers.a.driver: 'fax' is not one of: dicom, preview"]
    good = subprocess.run([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "check-config", "-c",
                           str(REPO / "etc" / "hcserver.toml")], capture_output=True, text=True)
    assert good.returncode == 0 and "printer simulator: dicom HCSIM@127.0.0.1:11112" in good.stdout


def test_every_range_is_checked_and_every_error_of_a_printer_reported():
    text = """
[server]
retry_limit = -1
idle_release_s = -5
retry_interval_s = 60
retry_max_interval_s = 10
[printers.a]
driver = "dicom"
max_pdu = 10
port = 70000
dpi = 0
dimse_timeout_s = 0
status_poll_s = -1
retry_limit = 0
defaults = { copies = 0, orientation = "SIDEWAYS" }
"""
    with pytest.raises(ConfigError) as error:
        parse(text, "site.toml")
    found = {e.key: e.message for e in error.value.errors}
    assert set(found) == {"server.retry_limit", "server.idle_release_s", "server.retry_max_interval_s",
                          "printers.a.max_pdu", "printers.a.port", "printers.a.dpi", "printers.a.dimse_timeout_s",
                          "printers.a.status_poll_s", "printers.a.retry_limit", "printers.a.defaults.orientation",
                          "printers.a.defaults.copies"}
    assert found["server.retry_limit"] == "-1 is out of range: must be 1 to 1000 attempts"
    assert found["server.idle_release_s"] == "-5 is out of range: must be 0 to 86400 seconds"
    assert found["printers.a.max_pdu"] == "10 is out of range: must be 0 (no limit) or 4096 to 4294967295 bytes"
    assert found["printers.a.defaults.orientation"] == "'SIDEWAYS' is not one of: PORTRAIT, LANDSCAPE"


def test_nan_is_in_no_range():
    with pytest.raises(ConfigError, match="server.idle_release_s: nan is out of range"):
        parse("[server]\nidle_release_s = nan\n[printers.a]\n", "site.toml")


def test_enumerations_are_case_insensitive_and_film_sizes_may_leave_out_the_unit():
    config = parse("""
[printers.a]
driver = "DICOM"
film_sizes = ["14x17", "8inx10in", "a4"]
magnification_types = ["cubic"]
reprint_in_doubt = "Never"
defaults = { film_size = "14INx17in", orientation = "landscape", priority = "HIGH", magnification = "Cubic" }
""", "site.toml")
    printer = config.printers["a"]
    assert (printer.driver, printer.film_sizes, printer.magnification_types, printer.reprint_in_doubt) == \
        ("dicom", ("14INX17IN", "8INX10IN", "A4"), ("CUBIC",), "never")
    d = printer.defaults
    assert (d.film_size, d.orientation, d.priority, d.magnification) == ("14INX17IN", "LANDSCAPE", "high", "CUBIC")


def test_relative_paths_are_relative_to_the_file_not_the_working_directory(tmp_path, monkeypatch):
    site = tmp_path / "etc" / "site.toml"
    site.parent.mkdir()
    site.write_text('[server]\nstate_dir = "state"\n[printers.a]\n')
    monkeypatch.chdir("/")
    config = load(site)
    assert config.state_dir == tmp_path / "etc" / "state"
    assert config.socket == tmp_path / "etc" / "state" / "run" / "hcserver.sock"
    assert config.database == f"sqlite:///{tmp_path}/etc/state/queue.db"
    site.write_text('[server]\ndatabase = "sqlite:///db/q.db"\n[printers.a]\n')
    assert load(site).database == f"sqlite:///{tmp_path}/etc/db/q.db"


def test_the_system_configuration_is_read_when_none_is_named(tmp_path, monkeypatch):
    system = tmp_path / "hcserver.toml"
    system.write_text('[server]\nsocket = "/run/x/hcserver.sock"\n[printers.a]\n')
    monkeypatch.delenv("HCSERVER_CONFIG", raising=False)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", system)
    assert load().socket == Path("/run/x/hcserver.sock")
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    assert load().source == EMBEDDED_SOURCE


@pytest.mark.parametrize("text, key, words", [
    ("[web]\nlisten = '0.0.0.0:8631'", "web.listen", "not a loopback address: remote access needs TLS"),
    ("[web]\nlisten = '8631'", "web.listen", "expected HOST:PORT"),
    ("[web]\nlisten = '127.0.0.1:8631'\ncert_file = 'c.pem'", "web.key_file", "go together"),
    ("[web]\nlisten = '127.0.0.1:8631'\nport = 1", "web.port", "unknown key"),
])
def test_web_listener_errors(text, key, words):
    with pytest.raises(ConfigError) as error:
        parse(text + "\n[printers.a]\n", "site.toml")
    assert error.value.key == key and words in str(error.value)


def test_web_listener_loopback_or_tls():
    assert parse("[web]\nlisten = '[::1]:8631'\n[printers.a]\n", "s").web.host == "::1"
    web = parse("[web]\nlisten = '0.0.0.0:8631'\ncert_file = 'c.pem'\nkey_file = 'k.pem'\n[printers.a]\n", "s").web
    assert (web.host, web.port, web.scheme) == ("0.0.0.0", 8631, "https")
