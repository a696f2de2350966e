"""``[pools.NAME]``: printer pools (CUPS: classes). A pool names configured printers, in the
order they are offered its jobs, and a policy (README, "Printer pools"). Checked as every other
table of the configuration is (hcserver.configerrors): each error names the file and the key,
and every error of the file is reported at once."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from hcserver.configerrors import Collector, ConfigError, check, choice, str_list

#: How a pool picks the member for its next job.
POOL_POLICIES = ("first-available", "round-robin")
_KEYS = ("policy", "printers")


@dataclass(frozen=True)
class PoolConfig:
    """A pool: jobs sent to it print on one of its printers, offered them in this order."""

    name: str
    printers: tuple[str, ...]
    policy: str = "first-available"


def parse_pools(file: str, raw: Any, printers: Collection[str]) -> dict[str, PoolConfig]:
    """The pools of table ``raw``; ``printers``: the names of the configured printers. Pools and
    printers share one namespace (a job names either), so a pool may not have a printer's name."""
    pools: dict[str, PoolConfig] = {}
    found = Collector()
    for name, entry in check(file, "pools", raw, dict, "a table of pools").items():
        with found.each():
            pools[name] = _pool(file, name, entry, printers, found)
    found.raise_any()
    return pools


def _pool(file: str, name: str, entry: Any, printers: Collection[str], found: Collector) -> PoolConfig:
    base = f"pools.{name}"
    check(file, base, entry, dict, "a table with printers = [...] and policy")
    if name in printers:
        found.errors.append(ConfigError(file, base, f"a printer is named {name!r} too: a job names a printer or a "
                                                    f"pool, so their names must differ"))
    for key in entry:
        if key not in _KEYS:
            found.errors.append(ConfigError(file, f"{base}.{key}", f"unknown key (allowed: {', '.join(_KEYS)})"))
    members: tuple[str, ...] = ()
    with found.each():
        members = str_list(file, f"{base}.printers", entry.get("printers", []))
        if not members:
            raise ConfigError(file, f"{base}.printers", "a pool needs at least one printer")
        for i, member in enumerate(members):
            if member not in printers:
                found.errors.append(ConfigError(file, f"{base}.printers[{i}]", f"no printer {member!r} (configured: "
                                                                               f"{', '.join(printers)})"))
            elif member in members[:i]:
                found.errors.append(ConfigError(file, f"{base}.printers[{i}]", f"{member!r} is listed twice"))
    policy = POOL_POLICIES[0]
    with found.each():
        policy = choice(file, f"{base}.policy", entry.get("policy", policy), POOL_POLICIES, str.lower)
    return PoolConfig(name, members, policy)
