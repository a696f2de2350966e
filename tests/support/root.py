"""Tests that need root: creating and switching users, mounting a file system. CI runs as root
and sets ``HCSERVER_REQUIRE_ROOT``; there, what would be a skip for want of root is a failure.

A test or module is marked ``needs_root("why")`` (the ``needs_root`` marker, checked here before
the test runs, a plugin of tests/conftest.py); a fixture calls :func:`require_root`, or
:func:`cannot` when root was not enough.
"""
from __future__ import annotations

import os

import pytest


def needs_root(why: str) -> pytest.MarkDecorator:
    """Mark a test that needs root for ``why`` (e.g. "switching users")."""
    return pytest.mark.needs_root(why)


def cannot(reason: str) -> None:
    """Skip the test for ``reason``; fail it under HCSERVER_REQUIRE_ROOT."""
    if os.environ.get("HCSERVER_REQUIRE_ROOT"):
        pytest.fail(f"{reason}, and HCSERVER_REQUIRE_ROOT is set")
    pytest.skip(reason)


def require_root(why: str) -> None:
    """Skip (fail under HCSERVER_REQUIRE_ROOT) unless running as root."""
    if os.geteuid() != 0:
        cannot(f"{why} needs root (CI runs as root)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("needs_root")
    if marker is not None:
        require_root(marker.args[0])
