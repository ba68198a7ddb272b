"""The database layer: the schema, its named migrations, and the store whose methods are the use cases."""

from firstpass.db.store import (
    DONE_STATUSES,
    STATUSES,
    TODO_STATUSES,
    Activity,
    AuditEntry,
    AuditLogError,
    DatabaseNotReadyError,
    Item,
    Lease,
    Outcome,
    Store,
    thread_id,
)

__all__ = ["DONE_STATUSES", "STATUSES", "TODO_STATUSES", "Activity", "AuditEntry", "AuditLogError", "DatabaseNotReadyError", "Item", "Lease", "Outcome", "Store",
           "thread_id"]
