"""leases: which node prints a job, and which node drives a printer, until when

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("lease_owner", sa.String(160), nullable=True))
        jobs.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("printers") as printers:
        printers.add_column(sa.Column("driver_owner", sa.String(160), nullable=True))
        printers.add_column(sa.Column("driver_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("printers") as printers:
        printers.drop_column("driver_until")
        printers.drop_column("driver_owner")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("lease_until")
        jobs.drop_column("lease_owner")
