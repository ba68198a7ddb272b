"""The panel's front door over plain HTTP and in Chromium: wrong passwords locked out, sessions ended by time and by a
password change, and a foreign Host header refused (DNS rebinding gets nothing)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from critics.policy import PanelPolicy
from firstpass import accounts
from firstpass.server import free_port
from firstpass.service import Firstpass
from ui.app import build_panel, launch_panel
from ui.guard import Guard, Limiter, allowed_hosts

from ui_support import CONFIDENCES, LINES, csv_rows, load_csv, make_app

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")]

ROWS = [("1", "Amara", "Acme Dental", "Reno", "Opened a clinic.")]
POLICY = PanelPolicy(max_failures=3, failure_window_seconds=60, lockout_seconds=60, session_hours=12)


@dataclass
class Served:
    """A running panel with logins."""

    app: Firstpass
    url: str
    port: int


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    app = make_app(tmp_path, LINES, confidences=CONFIDENCES)
    load_csv(app, "demo", csv_rows(ROWS))
    accounts.add_reviewer(app.store, "alice", "alice-password")
    accounts.add_reviewer(app.store, "bob", "bob-password")
    blocks = build_panel(app)
    port = free_port()
    url = launch_panel(blocks, app.store, port=port, block=False, quiet=True, policy=POLICY)
    yield Served(app, url.rstrip("/"), port)
    blocks.close()
    app.close()


def _login(client: httpx.Client, url: str, name: str, password: str) -> httpx.Response:
    return client.post(f"{url}/login", data={"username": name, "password": password})


def _signed_in(client: httpx.Client, url: str) -> bool:
    return bool(client.get(f"{url}/config").status_code == 200)


def test_wrong_passwords_lock_the_account_then_the_right_one_waits(served: Served,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with httpx.Client() as client, caplog.at_level(logging.WARNING, logger="firstpass.auth"):
        assert [_login(client, served.url, "alice", f"guess-{i}").status_code for i in range(3)] == [400, 400, 400]
        locked = _login(client, served.url, "alice", "alice-password")
        assert locked.status_code == 429 and "try again in" in locked.json()["detail"]
        assert any("login locked for account:alice" in r.message for r in caplog.records)
        # The address is locked too: guessing another account from it gets nowhere.
        assert _login(client, served.url, "bob", "bob-password").status_code == 429


def test_a_right_password_before_the_limit_resets_the_count(served: Served) -> None:
    with httpx.Client() as client:
        for _ in range(2):
            assert _login(client, served.url, "alice", "wrong-one").status_code == 400
        assert _login(client, served.url, "alice", "alice-password").status_code == 200
        assert _login(client, served.url, "alice", "wrong-one").status_code == 400
        assert _login(client, served.url, "alice", "alice-password").status_code == 200


def test_a_password_change_or_removal_ends_the_session(served: Served) -> None:
    with httpx.Client() as alice, httpx.Client() as bob:
        assert _login(alice, served.url, "alice", "alice-password").status_code == 200
        assert _login(bob, served.url, "bob", "bob-password").status_code == 200
        assert _signed_in(alice, served.url) and _signed_in(bob, served.url)
        accounts.add_reviewer(served.app.store, "alice", "a-new-password", replace=True)
        accounts.remove_reviewer(served.app.store, "bob")
        assert not _signed_in(alice, served.url) and not _signed_in(bob, served.url)
        assert _login(alice, served.url, "alice", "a-new-password").status_code == 200
        assert _signed_in(alice, served.url)


def test_sessions_expire(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        accounts.add_reviewer(app.store, "alice", "alice-password")
        now = [time.time()]
        guard = Guard(app.store, PanelPolicy(session_hours=1), {"127.0.0.1"}, clock=lambda: now[0])
        from ui.guard import Session

        guard.sessions["tok"] = Session("alice", issued=now[0] + 10)  # the account predates the login
        now[0] += 3599
        assert guard.session_ok("tok")
        now[0] += 20
        assert not guard.session_ok("tok")
    finally:
        app.close()


def test_a_foreign_host_header_is_refused(served: Served) -> None:
    with httpx.Client() as client:
        assert client.get(f"{served.url}/config").status_code in (200, 401)
        for host in ("evil.example", f"evil.example:{served.port}", "192.168.1.10"):
            refused = client.get(f"{served.url}/config", headers={"Host": host})
            assert refused.status_code == 421, host
        assert _login(client, served.url, "alice", "alice-password").status_code == 200
        assert client.get(f"{served.url}/config", headers={"Host": "evil.example"}).status_code == 421


def test_allowed_hosts() -> None:
    assert allowed_hosts("127.0.0.1", 7860) == {"127.0.0.1", "localhost", "::1"}
    import socket

    assert allowed_hosts("10.1.2.3", 7860, ["review.example.com"]) == {"10.1.2.3", "review.example.com"}
    assert socket.gethostname().lower() in allowed_hosts("0.0.0.0", 7860)
    limiter = Limiter(PanelPolicy(max_failures=2, failure_window_seconds=10, lockout_seconds=30))
    assert limiter.failed(["k"], 0) == [] and limiter.failed(["k"], 20) == []  # outside the window: one each
    assert limiter.failed(["k"], 21) == ["k"] and limiter.locked(["k"], 30) == pytest.approx(21)


def test_a_rebinding_page_in_chromium_gets_nothing(served: Served) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is not installed (make browser)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
            "--host-resolver-rules=MAP rebind.example 127.0.0.1"])
        try:
            page = browser.new_page()
            response = page.goto(f"http://rebind.example:{served.port}/")
            assert response is not None and response.status == 421
            assert "does not answer to that host name" in page.content()
            ok = page.goto(f"http://127.0.0.1:{served.port}/")
            assert ok is not None and ok.status == 200
        finally:
            browser.close()
