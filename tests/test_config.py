from pathlib import Path

import pytest

from hcserver.config import EMBEDDED_SOURCE, ConfigError, load, parse

REPO = Path(__file__).resolve().parent.parent


def test_example_config_and_embedded_defaults_load():
    example = load(REPO / "etc" / "hcserver.toml")
    assert set(example.printers) == {"preview", "simulator"}
    assert example.socket == Path("var/run/hcserver.sock")
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
    assert keys == ["server.retry_limit", "server.colour", "printers.a.driver", "printers.b.port"]
    assert str(error.value).count("site.toml: ") == 4


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
])
def test_dicom_in_errors_name_the_key(extra, key, words):
    with pytest.raises(ConfigError) as caught:
        parse(DICOM_IN + extra, "t")
    assert caught.value.key == key and words in caught.value.message
