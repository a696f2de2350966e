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
