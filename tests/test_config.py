import subprocess
import sys
from pathlib import Path

import pytest

from hcserver import config as config_module
from hcserver.config import EMBEDDED_SOURCE, ConfigError, ConfigErrors, load, parse

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
    routes = config.dicom_in.routes
    assert {(r.ae_title, r.service, r.printer) for r in routes.values()} == {
        ("FILMSPOOL", "print", "dryview"), ("AUTOFILM", "store", "dryview")}
    assert routes["AUTOFILM"].layout == "STANDARD\\2,2"


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


DICOM_IN = """
[printers.dryview]
driver = "preview"
[dicom_in]
host = "127.0.0.1"
port = 11113
"""


def test_dicom_in_routes_parse_with_the_documented_keys():
    config = parse(DICOM_IN + """allowed_calling_aes = ["CT1", "MR2"]
max_associations = 4
[dicom_in.ae.FILMSPOOL]
service = "print"
printer = "dryview"
[dicom_in.ae.AUTOFILM]
service = "store"
printer = "dryview"
layout = "STANDARD\\\\2,2"
quiet_s = 5
windows.CT = { center = 40, width = 400 }
""", "t")
    listener = config.dicom_in
    assert (listener.host, listener.port, listener.allowed_calling_aes, listener.max_associations) == (
        "127.0.0.1", 11113, ("CT1", "MR2"), 4)
    assert listener.routes["FILMSPOOL"].service == "print"
    store = listener.routes["AUTOFILM"]
    assert (store.service, store.printer, store.layout, store.quiet_s) == ("store", "dryview", "STANDARD\\2,2", 5)
    assert store.windows == {"CT": {"center": 40.0, "width": 400.0}}
    assert parse(DICOM_IN.split("[dicom_in]")[0], "t").dicom_in is None   # off unless configured


@pytest.mark.parametrize("extra, key, words", [
    ("", "dicom_in.ae", "at least one called AE title"),
    ("[dicom_in.ae.X]\nservice = 'fax'\nprinter = 'dryview'", "dicom_in.ae.X.service", "not one of: print, store"),
    ("[dicom_in.ae.X]\nservice = 'print'\nprinter = 'nope'", "dicom_in.ae.X.printer", "no printer 'nope'"),
    ("[dicom_in.ae.X]\nservice = 'print'\nprinter = 'dryview'\nlayout = 'STANDARD\\\\2,2'",
     "dicom_in.ae.X.layout", "only service, printer and priority apply"),
    ("[dicom_in.ae.X]\nservice = 'store'\nprinter = 'dryview'\nlayout = 'STANDARD\\\\0,2'",
     "dicom_in.ae.X.layout", ""),
    ("[dicom_in.ae.X]\nservice = 'store'\nprinter = 'dryview'\nwindows.CT = { center = 1 }",
     "dicom_in.ae.X.windows.CT", "center = C, width = W"),
    ("[dicom_in.ae.TOO_LONG_AE_TITLE_X]\nservice = 'store'\nprinter = 'dryview'",
     "dicom_in.ae.TOO_LONG_AE_TITLE_X", "1 to 16"),
    ("max_pdu = 10\n[dicom_in.ae.X]\nservice = 'store'\nprinter = 'dryview'", "dicom_in.max_pdu", "4096"),
    ("[pools.film]\nprinters = ['dryview']\n[dicom_in.ae.X]\nservice = 'print'\nprinter = 'film'",
     "dicom_in.ae.X.printer", "'film' is a pool: a print route names one printer"),
    ("[pools.film]\nprinters = ['dryview']\n[dicom_in.ae.X]\nservice = 'print'\nprinter = 'film'",
     "dicom_in.ae.X.printer", "name one of the pool's printers (dryview), or use the pool from a store route"),
])
def test_dicom_in_errors_name_the_key(extra, key, words):
    with pytest.raises(ConfigError) as caught:
        parse(DICOM_IN + extra, "t")
    assert caught.value.key == key and words in caught.value.message


def test_a_store_route_may_name_a_pool():
    config = parse(DICOM_IN + "[pools.film]\nprinters = ['dryview']\n[dicom_in.ae.X]\nservice = 'store'\n"
                              "printer = 'film'", "t")
    assert config.dicom_in.routes["X"].printer == "film" and config.members("film") == ("dryview",)


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


def test_dicom_in_reports_every_error_at_once_naming_each_key():
    text = DICOM_IN.replace("port = 11113", "port = 70000") + """max_pdu = 10
[dicom_in.ae.X]
service = "STORE"
printer = "nope"
copies = 0
[printers.bad]
driver = "fax"
"""
    with pytest.raises(ConfigErrors) as caught:
        parse(text, "t")
    keys = {error.key: error.message for error in caught.value.errors}
    assert set(keys) == {"printers.bad.driver", "dicom_in.ae.X.printer", "dicom_in.ae.X.copies", "dicom_in.port",
                         "dicom_in.max_pdu"}
    assert "out of range" in keys["dicom_in.port"] and "0: any free port" in keys["dicom_in.port"]
    store = parse(DICOM_IN + "[dicom_in.ae.X]\nservice = 'Store'\nprinter = 'dryview'\nfilm_size = '14x17'\n"
                  "orientation = 'landscape'\npriority = 'HIGH'\n", "t").dicom_in.routes["X"]
    assert (store.service, store.film_size, store.orientation, store.priority) == (
        "store", "14INX17IN", "LANDSCAPE", "high")


def test_the_front_doors_associations_count_against_the_open_file_limit():
    # In a child: connection_capacity raises the soft limit to the hard one, which we lower there.
    program = f"""
import resource
from hcserver.config import parse
from hcserver.server.admission import FD_MARGIN, connection_capacity
resource.setrlimit(resource.RLIMIT_NOFILE, (1000, 1000))
base = {DICOM_IN.split('[dicom_in]')[0]!r} + '[server]\\nmax_connections = 900\\n'
door = (base + '[dicom_in]' + {DICOM_IN.split('[dicom_in]')[1]!r} + 'max_associations = 100\\n'
        + '[dicom_in.ae.FILMSPOOL]\\nservice = "print"\\nprinter = "dryview"\\n')
print(connection_capacity(parse(base, "t")), connection_capacity(parse(door, "t")), FD_MARGIN)
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    without, with_door, margin = map(int, done.stdout.split())
    assert without == 1000 - margin
    assert with_door == 1000 - margin - 100
