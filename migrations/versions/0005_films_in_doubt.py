"""films in doubt: how often a film's print request went out without an answer, and when last

A printer that printed a film and then aborted before answering may have printed it; the film
is shown in doubt and reprinted at most as the printer's reprint_in_doubt allows.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("films") as films:
        films.add_column(sa.Column("in_doubt", sa.Integer(), nullable=False, server_default="0"))
        films.add_column(sa.Column("in_doubt_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("films") as films:
        films.drop_column("in_doubt_at")
        films.drop_column("in_doubt")
