"""The panel's front door, as ASGI middleware in front of Gradio: the Host header, wrong passwords, sessions.

- A request whose Host header is not an address the panel serves is refused (421), so a DNS-rebinding page
  cannot talk to a panel on 127.0.0.1.
- Wrong passwords are counted per account and per client address; past the policy's limit within its window,
  logins from that account or address are refused (429) until the lockout ends, and the lockout is logged.
- A session lasts the policy's hours, and ends at once when its account's password changes or the account is
  removed: its Gradio token is withdrawn, so every further request is unauthenticated.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from critics.policy import PanelPolicy
from firstpass.db import Store

log = logging.getLogger("firstpass.auth")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> set[str]:
    """Host header values the panel answers: its own address (and, on loopback, localhost), plus `extra` names."""
    names = {host.strip("[]").lower()}
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            names |= {"localhost", "127.0.0.1", "::1"}
    except ValueError:
        if host == "localhost":
            names |= {"127.0.0.1", "::1"}
    if host in ("0.0.0.0", "::"):
        # Listening everywhere: the machine's own names are what reviewers type; anything else needs --allowed-host.
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    names |= {h.strip().lower() for h in extra if h.strip()}
    return names


def _host_name(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class Limiter:
    """Wrong-password counts per key (account or address) within a window, and the lockouts they earn."""

    policy: PanelPolicy
    failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    locked_until: dict[str, float] = field(default_factory=dict)

    def locked(self, keys: Iterable[str], now: float) -> float:
        """Seconds until every one of `keys` may try again (0 when none is locked)."""
        return max((self.locked_until.get(k, 0.0) - now for k in keys), default=0.0)

    def failed(self, keys: Iterable[str], now: float) -> list[str]:
        """Count a wrong password against each key; returns the keys this failure locked."""
        newly = []
        for key in keys:
            seen = self.failures[key]
            seen.append(now)
            while seen and seen[0] < now - self.policy.failure_window_seconds:
                seen.popleft()
            if len(seen) >= self.policy.max_failures and self.locked_until.get(key, 0.0) <= now:
                self.locked_until[key] = now + self.policy.lockout_seconds
                seen.clear()
                newly.append(key)
        return newly

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the wrong passwords of a key that just logged in."""
        for key in keys:
            self.failures.pop(key, None)


@dataclass
class Session:
    """A login: who, and when."""

    name: str
    issued: float


class Guard:
    """The checks, with their state: the allowed hosts, the limiter and the live sessions."""

    def __init__(self, store: Store, policy: PanelPolicy, hosts: set[str] | None,
                 clock: Callable[[], float] = time.time) -> None:
        """Guard a panel over `store`; `hosts` None allows any Host header (only for a panel nobody reaches)."""
        self.store, self.policy, self.hosts, self.clock = store, policy, hosts, clock
        self.limiter = Limiter(policy)
        self.sessions: dict[str, Session] = {}

    def host_ok(self, header: str | None) -> bool:
        """Whether a Host header names this panel."""
        return self.hosts is None or (header is not None and _host_name(header) in self.hosts)

    def session_ok(self, token: str) -> bool:
        """Whether a session token may still be used (unknown tokens are Gradio's own business)."""
        session = self.sessions.get(token)
        if session is None:
            return True
        now = self.clock()
        if now - session.issued > self.policy.session_hours * 3600:
            return False
        # A new password (or a removed account) ends every session opened before it, from the next request on.
        rows = self.store.reviewer_rows(session.name)
        return bool(rows) and float(rows[0]["created_at"]) <= session.issued


class GuardMiddleware:
    """The guard's checks as ASGI middleware (Starlette builds it as `GuardMiddleware(app, guard=...)`)."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        """Put `guard` in front of `app`."""
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the host, the session and (on /login) the wrong-password limit, then hand over to Gradio."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.guard.host_ok(headers.get("host")):
            await _reply(scope, send, 421, "This panel does not answer to that host name.")
            return
        self._end_stale_sessions(scope, headers)
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/login"):
            await self._login(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _end_stale_sessions(self, scope: Scope, headers: dict[str, str]) -> None:
        tokens = getattr(scope.get("app"), "tokens", None)
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name.startswith("access-token") and value and not self.guard.session_ok(value):
                self.guard.sessions.pop(value, None)
                if tokens is not None:
                    tokens.pop(value, None)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        name = _form_field(body, "username").strip()
        address = (scope.get("client") or ("?", 0))[0]
        keys = [f"account:{name}", f"address:{address}"]
        now = self.guard.clock()
        wait = self.guard.limiter.locked(keys, now)
        if wait > 0:
            await _reply(scope, send, 429, f"Too many wrong passwords: try again in {int(wait // 60) + 1} minute(s).")
            return
        status: list[int] = []
        cookies: list[str] = []

        replayed = False

        async def replay() -> Message:
            # The body once, as it came; after that, whatever the client sends next (its disconnect).
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                cookies.extend(v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == b"set-cookie")
            await send(message)

        await self.app(scope, replay, watch)
        if status and status[0] == 200:
            self.guard.limiter.succeeded(keys)
            for cookie in cookies:
                cookie_name, _, rest = cookie.partition("=")
                if cookie_name.startswith("access-token"):
                    self.guard.sessions[rest.split(";", 1)[0]] = Session(name, now)
        elif status and status[0] in (400, 401):
            for key in self.guard.limiter.failed(keys, now):
                log.warning("login locked for %s after %d wrong passwords (for %.0f s)", key,
                            self.guard.policy.max_failures, self.guard.policy.lockout_seconds)


def _form_field(body: bytes, name: str) -> str:
    """One field of a login form, urlencoded (plain HTTP clients) or multipart (Gradio's page)."""
    text = body.decode("utf-8", "replace")
    match = re.search(rf'name="{re.escape(name)}"\r?\n\r?\n(.*?)\r?\n', text, re.DOTALL)
    if match:
        return match.group(1)
    return (urllib.parse.parse_qs(text).get(name) or [""])[0]


async def _reply(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

