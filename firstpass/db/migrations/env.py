"""Alembic's environment: migrations run on the connection firstpass hands over (see firstpass.db.migrate)."""

from __future__ import annotations

from alembic import context

from firstpass.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
