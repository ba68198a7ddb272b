"""Reviewer accounts: salted scrypt hashes, add/list/remove/verify, and the `firstpass reviewer` / `review` commands."""

from __future__ import annotations

import io
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstpass import accounts
from firstpass.accounts import AccountError
from firstpass.cli import main
from firstpass.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "firstpass.db")
    yield s
    s.close()


def test_add_and_verify(store: Store) -> None:
    accounts.add_reviewer(store, "alice", "correct-horse")
    assert accounts.verify(store, "alice", "correct-horse")
    assert not accounts.verify(store, "alice", "correct-horsE")
    assert not accounts.verify(store, "alice", "")
    assert not accounts.verify(store, "bob", "correct-horse")


def test_only_a_salted_hash_is_stored(store: Store) -> None:
    accounts.add_reviewer(store, "alice", "same-password")
    accounts.add_reviewer(store, "bob", "same-password")
    rows = store.query("SELECT * FROM reviewers ORDER BY name")
    assert len(rows) == 2
    assert rows[0]["salt"] != rows[1]["salt"]
    assert rows[0]["hash"] != rows[1]["hash"]  # same password, different salt
    dump = "\n".join(sqlite3.connect(store.path).iterdump())
    assert "same-password" not in dump
    assert b"same-password" not in store.path.read_bytes()


def test_existing_name_needs_replace(store: Store) -> None:
    accounts.add_reviewer(store, "alice", "first-password")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_reviewer(store, "alice", "second-password")
    assert accounts.verify(store, "alice", "first-password")
    accounts.add_reviewer(store, "alice", "second-password", replace=True)
    assert accounts.verify(store, "alice", "second-password")
    assert not accounts.verify(store, "alice", "first-password")


@pytest.mark.parametrize("name", ["", "has space", "-dash", "a" * 65, "<script>", "ünïcode"])
def test_bad_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(AccountError, match="invalid reviewer name"):
        accounts.add_reviewer(store, name, "long-enough")


def test_short_password_is_refused(store: Store) -> None:
    with pytest.raises(AccountError, match="at least 8"):
        accounts.add_reviewer(store, "alice", "short")
    assert not accounts.has_reviewers(store)


def test_list_and_remove(store: Store) -> None:
    assert not accounts.has_reviewers(store)
    accounts.add_reviewer(store, "bob", "password-b")
    accounts.add_reviewer(store, "alice", "password-a")
    assert [r.name for r in accounts.list_reviewers(store)] == ["alice", "bob"]
    assert accounts.remove_reviewer(store, "alice")
    assert not accounts.remove_reviewer(store, "alice")
    assert [r.name for r in accounts.list_reviewers(store)] == ["bob"]
    assert not accounts.verify(store, "alice", "password-a")


# the command line -------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIRSTPASS_HOME", str(tmp_path))
    return tmp_path


def test_cli_reviewer_add_list_remove(home: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-good-password\n"))
    assert main(["reviewer", "add", "alice"]) == 0
    store = Store(home / "firstpass.db")
    assert accounts.verify(store, "alice", "a-good-password")
    assert main(["reviewer", "list"]) == 0
    assert "alice" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("another-password\n"))
    assert main(["reviewer", "add", "alice"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["reviewer", "remove", "alice"]) == 0
    assert main(["reviewer", "remove", "alice"]) == 1
    assert not accounts.has_reviewers(store)
    store.close()


def test_cli_review_refuses_without_accounts(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "no reviewer accounts" in err and "firstpass reviewer add NAME" in err


def test_cli_no_auth_only_on_loopback(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--no-auth", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_loopback_detection() -> None:
    from ui.app import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
