"""The test suite's plugins: the shared fixtures and the peers (dcmprscp, PostgreSQL) live in
tests/support/, found here by name so no test module imports a fixture."""
import pytest

# Plain asserts in the helpers explain their failures as a test module's do.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.fixtures", "tests.support.dcmtk", "tests.support.postgres",
                  "tests.support.front_door", "tests.support.root"]
