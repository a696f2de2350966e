"""The installed layout: one import root, every package of the tree in it."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"hcserver": "hcserver", "drivers": "hcserver.drivers", "formatter": "hcserver.formatter",
           "migrations": "hcserver.migrations"}


def test_every_package_folder_is_installed_under_hcserver():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()}
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))
    assert found == set(setuptools["packages"])


def test_the_service_the_example_configuration_and_the_readme_agree_on_paths():
    """Installed as the README says, the unit runs the daemon on the configuration hcq reads by
    default, whose state and socket are in the directories the unit may write and tmpfiles makes."""
    from hcserver.config import SYSTEM_CONFIG, load

    unit = (ROOT / "etc" / "hcserver.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    prefix = "/opt/hcserver"
    assert f"python3 -m venv {prefix} " in (ROOT / "README.md").read_text()
    assert settings["ExecStart"] == f"{prefix}/bin/hcserver serve -c {SYSTEM_CONFIG}"
    example = load(ROOT / "etc" / "hcserver.toml")
    writable = settings["ReadWritePaths"].split()
    assert str(example.state_dir) in writable and str(example.socket.parent) in writable
    made = [line.split()[1] for line in (ROOT / "etc" / "hcserver.tmpfiles.conf").read_text().splitlines()
            if line.startswith("d ")]
    assert set(made) == set(writable)
    for page in ("hcserver(1)", "hcq(1)"):
        assert f"man:{page}" in settings["Documentation"]
        name = page.split("(")[0]
        assert (ROOT / "docs" / "man" / f"{name}.1").is_file()
