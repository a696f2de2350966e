"""The import-layer contracts (pyproject.toml, checked by import-linter in .ci/lint) cover the
whole package: a new module must be given its place, or nothing would stop it importing upwards."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"drivers": "hcserver.drivers", "formatter": "hcserver.formatter", "migrations": "hcserver.migrations"}


def top_level_modules() -> set[str]:
    names = {f"hcserver.{p.stem}" for p in (ROOT / "hcserver").glob("*.py") if p.stem != "__init__"}
    names |= {f"hcserver.{p.parent.name}" for p in (ROOT / "hcserver").glob("*/__init__.py")}
    return names | set(FOLDERS.values())


def test_every_module_has_a_place_in_the_import_contracts():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    placed = set()
    for contract in contracts:
        for layer in contract.get("layers", []):
            placed |= set(re.split(r"\s*[|:]\s*", layer))
        placed |= set(contract.get("source_modules", []))
    assert top_level_modules() - placed == set()
