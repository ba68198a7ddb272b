"""Open the store the settings name: the embedded SQLite file, or the shared PostgreSQL database with its pools."""

from __future__ import annotations

from firstpass.db import Store
from firstpass.settings import Settings


def open_store(settings: Settings, check_audit_log: bool = True) -> Store:
    """The store of the settings' database (FIRSTPASS_DATABASE_URL, else the SQLite file in the data folder)."""
    return Store(settings.database, check_audit_log=check_audit_log, pg=settings.postgres.options())
