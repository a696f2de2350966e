"""a job's origin key: what a front door (the DICOM listener) names a film by, so that a
modality's retry of a film it already gave us finds the job instead of printing it twice

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("origin_key", sa.String(64), nullable=True))
    op.create_index("ix_jobs_origin_key", "jobs", ["origin_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_origin_key", table_name="jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("origin_key")
