"""printer pools: the printer a job's latest attempt ran on, each pool's turn, retried printers

A job sent to a pool keeps the pool as its printer; ``printed_on`` names the member that took
it. A round-robin pool remembers the member that took its latest job. A printer whose latest
attempt was retried is offered its pools' jobs last.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("printed_on", sa.String(64), nullable=True))
    # Jobs printed before pools existed ran on their own printer.
    op.execute("UPDATE jobs SET printed_on = printer WHERE attempts > 0")
    with op.batch_alter_table("printers") as printers:
        printers.add_column(sa.Column("retried_at", sa.DateTime(), nullable=True))
    op.create_table("pools",
                    sa.Column("name", sa.String(64), nullable=False),
                    sa.Column("last_member", sa.String(64), nullable=True),
                    sa.Column("updated_at", sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint("name"))


def downgrade() -> None:
    op.drop_table("pools")
    with op.batch_alter_table("printers") as printers:
        printers.drop_column("retried_at")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("printed_on")
