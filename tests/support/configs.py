"""Daemon configurations the tests start from (``@STATE@`` becomes the daemon's state directory,
see :class:`tests.support.daemon.DaemonProcess`)."""
from __future__ import annotations

# Two preview printers: no network, films as PNG.
PREVIEW_CONFIG = """
[server]
state_dir = "@STATE@"
retry_interval_s = 1

[printers.film]
driver = "preview"
dpi = 40

[printers.other]
driver = "preview"
dpi = 40
"""


def dicom_config(ports: dict[str, int], **extra) -> str:
    """A DICOM printer per entry of ``ports`` (name: port on 127.0.0.1, AE title PRINTSCP), with
    short retry, release and poll times; ``extra`` are more keys of every printer."""
    text = """
[server]
state_dir = "@STATE@"
retry_interval_s = 0.2
retry_max_interval_s = 0.5
retry_limit = 4
idle_release_s = 1.5
"""
    for name, port in ports.items():
        text += f"""
[printers.{name}]
driver = "dicom"
ae_title = "PRINTSCP"
host = "127.0.0.1"
port = {port}
dpi = 40
dimse_timeout_s = 3
status_poll_s = 0.3
"""
        for key, value in extra.items():
            text += f"{key} = {value}\n"
    return text


def node_config(url: str, spool, name: str, lease_s: float, printers: dict[str, int] | None = None) -> str:
    """One node of several sharing the queue at ``url`` and one ``spool``: DICOM ``printers``
    (as :func:`dicom_config`), else a preview printer named film."""
    server = (f'[server]\ndatabase = "{url}"\nspool = "{spool}"\nnode_name = "{name}"\nlease_s = {lease_s}\n'
              f'retry_limit = 1000\nae_title = "{name.upper()[:16]}"')   # the printer tells the nodes apart
    if printers:
        text = dicom_config(printers).replace("retry_limit = 4\n", "")
        return text.replace("[server]", server, 1)
    return f'{server}\nstate_dir = "@STATE@"\n[printers.film]\ndriver = "preview"\ndpi = 20\n'
