"""Reviewer accounts for the review panel, in the same database as everything else.

Only a salted scrypt hash of each password is stored, with the cost parameters beside it so that
they can be raised later without locking anyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from firstpass.db import Store

# scrypt at n=2**14, r=8 costs ~16 MB and some tens of milliseconds: cheap for a login, dear for a guesser.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Hashed against when a name is unknown, so that a wrong name costs the same time as a wrong password.
_DUMMY_SALT = secrets.token_bytes(16)


class AccountError(ValueError):
    """A reviewer name or password that cannot be used; the message says why."""


@dataclass(frozen=True)
class Reviewer:
    """One reviewer account (never its password hash)."""

    name: str
    created_at: float


def _hash(password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def check_name(name: str) -> str:
    """The reviewer name, validated: letters, digits and . _ @ - only, at most 64 characters."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise AccountError(f"invalid reviewer name {name!r}: use letters, digits and . _ @ - (at most 64 characters, "
                           "starting with a letter or digit)")
    return name


def add_reviewer(store: Store, name: str, password: str, replace: bool = False) -> Reviewer:
    """Create a reviewer account (or, with `replace`, set a new password for an existing one)."""
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = _hash(password, salt)
    now = time.time()
    if not store.put_reviewer(name, salt, digest, (SCRYPT_N, SCRYPT_R, SCRYPT_P), replace):
        raise AccountError(f"reviewer {name!r} already exists (add --replace to set a new password)")
    return Reviewer(name=name, created_at=now)


def remove_reviewer(store: Store, name: str) -> bool:
    """Delete a reviewer account; False if there was none. Their past decisions stay in the audit log."""
    return store.delete_reviewer(name)


def list_reviewers(store: Store) -> list[Reviewer]:
    """Every reviewer account, by name."""
    return [Reviewer(name=r["name"], created_at=r["created_at"]) for r in store.reviewer_rows()]


def has_reviewers(store: Store) -> bool:
    """Whether at least one reviewer account exists."""
    return bool(store.reviewer_rows())


def exists(store: Store, name: str) -> bool:
    """Whether reviewer `name` has an account (a removed reviewer's open sessions stop working)."""
    return bool(store.reviewer_rows(name))


def verify(store: Store, name: str, password: str) -> bool:
    """Whether `password` is the password of reviewer `name`."""
    rows = store.reviewer_rows(name)
    if not rows or not password or len(password) > MAX_PASSWORD:
        _hash(password[:MAX_PASSWORD] if password else "", _DUMMY_SALT)
        return False
    row = rows[0]
    return hmac.compare_digest(_hash(password, row["salt"], row["n"], row["r"], row["p"]), row["hash"])
