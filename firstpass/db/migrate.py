"""Named migrations (Alembic), recorded in the database's `alembic_version` table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from firstpass.db.engine import PgOptions, make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@lru_cache(maxsize=1)
def head() -> str:
    """The newest migration's name."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def current(engine: Engine) -> str | None:
    """The migration a database is at (None: none recorded, an empty or pre-migration database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def history() -> list[str]:
    """Every migration's name, oldest first."""
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]


def upgrade(engine: Engine) -> bool:
    """Bring a database to the newest migration; False if it was there already."""
    if current(engine) == head():
        return False
    config = _config()
    with engine.connect().execution_options(write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
    return True


@dataclass(frozen=True)
class Status:
    """A database's place in the migration history."""

    database: str
    current: str | None
    history: list[str]

    @property
    def up_to_date(self) -> bool:
        """Whether the database has every migration."""
        return self.current == head()


def status(url: str, apply: bool = False, pg: PgOptions | None = None) -> tuple[Status, bool]:
    """The migration status of the database at `url` (its password hidden), after upgrading it if `apply`;
    and whether anything was applied.

    On PostgreSQL an upgrade also creates or migrates LangGraph's checkpoint tables (PostgresSaver.setup), which
    keep their own record of what was applied; it is safe to run again.
    """
    engine = make_engine(url, pg)
    try:
        changed = upgrade(engine) if apply else False
        if apply and engine.dialect.name == "postgresql":
            from firstpass.db.checkpoints import setup_postgres_checkpoints

            setup_postgres_checkpoints(url, pg or PgOptions())
        return Status(engine.url.render_as_string(hide_password=True), current(engine), history()), changed
    finally:
        engine.dispose()
