"""database spool: images (and preview films) kept in the database, and what the nodes share

Images uploaded to a node with ``spool = "database"`` are stored in chunks (``spool_chunks``)
under their digest (``spool_images``), so nodes without a shared directory can print each
other's jobs. ``shared_settings`` records which spool the nodes use (a node with another one
refuses to start); ``node_printers`` each node's printer configuration, as fingerprints.
``film_outputs`` holds the films a preview printer wrote, with the database spool.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spool_images",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "spool_chunks",
        sa.Column("digest", sa.String(64), sa.ForeignKey("spool_images.digest", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Images are mostly incompressible pixel data: store them out of line, uncompressed.
        op.execute("ALTER TABLE spool_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "film_outputs",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "shared_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("node", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "node_printers",
        sa.Column("node", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(160), nullable=False),
        sa.Column("printers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_printers")
    op.drop_table("shared_settings")
    op.drop_table("film_outputs")
    op.drop_table("spool_chunks")
    op.drop_table("spool_images")
