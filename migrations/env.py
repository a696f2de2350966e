"""Alembic environment: runs on the connection hcserver hands it (see hcserver.db)."""
from alembic import context
from alembic.util import CommandError

from hcserver.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # plain `alembic` command line: build an engine from the URL
    from hcserver.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise CommandError("no sqlalchemy.url: set it to the hcserver database's URL")
    connection = make_engine(url).connect()

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
