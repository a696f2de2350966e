"""Nodes that check what they share (README, "Several nodes"): a node whose spool or printers are
not those of the nodes already on the queue refuses to start, and says why. Real daemon
processes on a real PostgreSQL server."""
from __future__ import annotations

import pytest

from tests.support.configs import node_config
from tests.support.daemon import DaemonProcess, start_nodes

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def refused(config: str) -> str:
    """The start of a node with ``config`` fails: what it said."""
    node = DaemonProcess(config)
    try:
        with pytest.raises(RuntimeError) as failed:
            node.start()
        return str(failed.value)
    finally:
        node.cleanup()


def test_a_node_whose_file_spool_is_not_the_shared_one_refuses_to_start(postgres_url, tmp_path):
    """The issue's case: the second node has no shared directory, only a spool in its own
    state directory; it would fail every job it took over."""
    shared = tmp_path / "spool"
    (alpha,) = start_nodes([node_config(postgres_url, shared, "alpha", 300)])
    try:
        marker = (shared / ".hcserver-spool").read_text().strip()
        said = refused(node_config(postgres_url, "@STATE@/spool", "beta", 300))
        assert "this node's spool" in said and "is not the one the other nodes (alpha) use" in said
        assert f"it has no marker file .hcserver-spool, where the shared spool has {marker}" in said
        assert "mount the shared spool directory there" in said
        other = tmp_path / "other-spool"
        other.mkdir()
        (other / ".hcserver-spool").write_text("0123456789abcdef\n")
        said = refused(node_config(postgres_url, other, "beta", 300))
        assert "it has the marker file of another spool (0123456789abcdef) .hcserver-spool" in said
        said = refused(node_config(postgres_url, "database", "beta", 300))
        assert 'this node has spool = "database", but the other nodes (alpha) keep images in a shared spool ' \
               'directory' in said
        (beta,) = start_nodes([node_config(postgres_url, shared, "beta", 300)])   # the shared one: welcome
        beta.cleanup()
        assert alpha.alive()
    finally:
        alpha.cleanup()


def test_a_node_with_a_file_spool_refuses_to_join_nodes_keeping_images_in_the_database(postgres_url, tmp_path):
    (alpha,) = start_nodes([node_config(postgres_url, "database", "alpha", 300)])
    try:
        said = refused(node_config(postgres_url, tmp_path / "spool", "beta", 300))
        assert "but the other nodes (alpha) keep them in the database" in said
        assert 'set spool = "database" on this node too' in said
    finally:
        alpha.cleanup()


def test_a_node_whose_printers_or_pools_differ_refuses_to_start_naming_them(postgres_url, tmp_path):
    config = node_config(postgres_url, "database", "alpha", 300)
    (alpha,) = start_nodes([config])
    try:
        beta = node_config(postgres_url, "database", "beta", 300)
        changed = beta.replace("dpi = 20", "dpi = 30") + '[printers.extra]\ndriver = "preview"\n'
        said = refused(changed)
        assert "this node's printers and pools are not those of node alpha: extra (only on this node), " \
               "film (configured differently); give every node the same printers and pools" in said
        said = refused(beta + '[pools.any]\nprinters = ["film"]\n')   # a pool is compared as a printer
        assert "this node's printers and pools are not those of node alpha: pool any (only on this node); " in said
        (beta_node,) = start_nodes([beta])   # the same printers: welcome
        beta_node.cleanup()
    finally:
        alpha.cleanup()


def test_a_restarted_node_is_not_compared_with_its_own_earlier_run(postgres_url, tmp_path):
    """Only connected nodes count: a node that stopped (its record stays) does not keep another
    from starting with new printers, nor does it keep itself from being reconfigured."""
    (alpha,) = start_nodes([node_config(postgres_url, "database", "alpha", 300)])
    try:
        alpha.stop()
        (beta,) = start_nodes([node_config(postgres_url, "database", "beta", 300).replace("dpi = 20", "dpi = 30")])
        beta.cleanup()
    finally:
        alpha.cleanup()


def test_a_reload_is_applied_and_names_the_printers_that_now_differ_from_other_nodes(postgres_url):
    """The reload story: a rolling change reloads the nodes one after the other, so a reload is
    not refused; its answer names the printers differing from connected nodes until they match."""
    alpha, beta = nodes = start_nodes([node_config(postgres_url, "database", name, 300) for name in ("alpha", "beta")])
    try:
        for node in nodes:
            node.config.write_text(node.config.read_text().replace("dpi = 20", "dpi = 30"))
        unchanged = {"added": [], "removed": [], "pools_added": [], "pools_removed": [], "pools_changed": [],
                     "held": []}
        with beta.client() as hc:
            assert hc.reload() == {**unchanged, "changed": ["film"],
                                   "differing": ["from node alpha: film (configured differently)"]}
        assert "printers and pools differing from node alpha's: film (configured differently)" in beta.log.read_text()
        with alpha.client() as hc:
            assert hc.reload() == {**unchanged, "changed": ["film"]}, "alike again"
    finally:
        for node in nodes:
            node.cleanup()
