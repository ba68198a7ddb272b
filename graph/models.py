"""Model clients for the graph, built from a serialisable `ModelSpec` inside the process and reused.

The run context carries only specs (provider, endpoint, model name, limits); API keys never enter it. A
process that owns live clients (the firstpass application, or a test's fakes) registers them with
`register_client` and puts the returned name in the spec; anything else is built from the spec on first
use (the `openai` provider: any OpenAI-compatible endpoint, the key read from the variable the spec
names). Every attempt of every call, retries included, goes to the call log of the client, tied to the
graph thread it ran for through `thread_scope`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from critics.critic import CriticModel, CriticVerdict

Messages = list[dict[str, str]]


class ModelSpec(BaseModel):
    """Which model a role uses: plain, serialisable values only (no key, no client)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(default="openai", description="openai (any OpenAI-compatible endpoint), or a registered provider.")
    model: str = Field(description="Model id sent to the endpoint.")
    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL.")
    api_key_env: str | None = Field(default=None, description="Name of the environment variable holding the API key.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds before a call counts as failed.")
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_tokens: int = Field(default=80, gt=0)
    structured_mode: Literal["tools", "json_schema"] = Field(default="tools", description="Critic output mode.")
    retries: int = Field(default=2, ge=0, description="How often an invalid critic answer is retried.")
    client: str | None = Field(default=None, description="Name of a client registered in this process, if any.")


class ModelCall(BaseModel):
    """One attempt of one model call, as the call log receives it."""

    role: Literal["drafter", "critic"]
    model: str
    thread: str | None = Field(default=None, description="The graph thread (item) the call was made for.")
    attempt: int = 1
    request: Any = Field(description="What was sent: the messages and parameters, as JSON-able data.")
    response: str | None = Field(default=None, description="The raw answer, as the model returned it.")
    error: str | None = None
    duration_ms: float = 0.0
    at: float = Field(default_factory=time.time, description="When the attempt ended (Unix seconds).")


CallLog = Callable[[ModelCall], None]


class DrafterModel(Protocol):
    """Anything that turns drafter messages into one line of text (or raises)."""

    model_id: str

    def complete(self, messages: Messages) -> str:
        """Ask the model for a first line."""
        ...


CURRENT_THREAD: ContextVar[str | None] = ContextVar("firstpass_thread", default=None)


@contextmanager
def thread_scope(thread_id: str | None) -> Iterator[None]:
    """Tie every model call made inside the block to a graph thread."""
    token = CURRENT_THREAD.set(thread_id)
    try:
        yield
    finally:
        CURRENT_THREAD.reset(token)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o)))


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ChatDrafter:
    """The drafter: a langchain-openai ChatOpenAI against any OpenAI-compatible endpoint."""

    def __init__(self, spec: ModelSpec, api_key: str | None = None, log: CallLog | None = None) -> None:
        """Build the ChatOpenAI client for `spec`; every call goes to `log`."""
        from langchain_openai import ChatOpenAI

        self.model_id = spec.model
        self.log = log
        # ChatOpenAI sends max_completion_tokens, which llama.cpp's server ignores; it needs max_tokens too.
        extra = {"max_tokens": spec.max_tokens} if spec.provider == "embedded" else None
        # A first line is one line: stopping at the newline also stops a small model that rambles.
        self.params = {"model": spec.model, "temperature": spec.temperature, "max_tokens": spec.max_tokens,
                       "stop": ["\n"]}
        self.chat = ChatOpenAI(model=spec.model, base_url=spec.base_url, api_key=SecretStr(api_key or "not-needed"),
                               temperature=spec.temperature, max_tokens=spec.max_tokens,
                               timeout=spec.timeout, max_retries=2, stop=["\n"], extra_body=extra)

    def complete(self, messages: Messages) -> str:
        """Ask the model for a first line; the exchange goes to the call log."""
        started = time.perf_counter()
        request = {**self.params, "messages": messages}
        try:
            message = self.chat.invoke(messages)
        except Exception as exc:
            self._log(request, None, _error_text(exc), started)
            raise
        self._log(request, message.model_dump_json(), None, started)
        content = message.content
        return content if isinstance(content, str) else str(content)

    def _log(self, request: Any, response: str | None, error: str | None, started: float) -> None:
        if self.log is not None:
            self.log(ModelCall(role="drafter", model=self.model_id, thread=CURRENT_THREAD.get(), request=_json(request),
                               response=response, error=error, duration_ms=(time.perf_counter() - started) * 1000))


class _Attempt:
    """One critic attempt being assembled from instructor's hooks."""

    def __init__(self, number: int, request: Any) -> None:
        self.number, self.request, self.started = number, request, time.perf_counter()
        self.response: str | None = None
        self.error: str | None = None


class InstructorCritic:
    """The critic: instructor over the OpenAI client, validating into CriticVerdict and retrying bad answers.

    instructor's hooks report each attempt (the request, the raw answer, an API or validation error), so the
    call log gets one row per attempt, retries included.
    """

    def __init__(self, spec: ModelSpec, api_key: str | None = None, log: CallLog | None = None) -> None:
        """Build the instructor client for `spec`; every attempt goes to `log`."""
        import instructor
        from openai import OpenAI

        self.model_id = spec.model
        self.spec = spec
        self.log = log
        self._local = threading.local()
        # llama.cpp's server rejects json_schema response formats; TOOLS mode works everywhere we run.
        mode = instructor.Mode.JSON_SCHEMA if spec.structured_mode == "json_schema" else instructor.Mode.TOOLS
        self.client = instructor.from_openai(
            # instructor does the retrying; the OpenAI client's own retries would multiply a time-out.
            OpenAI(base_url=spec.base_url, api_key=api_key or "not-needed", timeout=spec.timeout, max_retries=0),
            mode=mode,
        )
        # Wrapped once: instructor wraps a plain model anew on every call, which rebuilds its JSON schema each time.
        self.response_model: type[CriticVerdict] = instructor.openai_schema(CriticVerdict)
        self.client.on("completion:kwargs", self._on_kwargs)
        self.client.on("completion:response", self._on_response)
        self.client.on("completion:error", self._on_error)
        self.client.on("parse:error", self._on_error)

    def _on_kwargs(self, *args: Any, **kwargs: Any) -> None:
        self._flush()
        self._local.n = getattr(self._local, "n", 0) + 1
        self._local.attempt = _Attempt(self._local.n, _json(kwargs))

    def _on_response(self, response: Any) -> None:
        attempt = getattr(self._local, "attempt", None)
        if attempt is not None:
            attempt.response = response.model_dump_json() if hasattr(response, "model_dump_json") else str(response)

    def _on_error(self, error: Exception) -> None:
        attempt = getattr(self._local, "attempt", None)
        if attempt is not None:
            attempt.error = _error_text(error)

    def _flush(self) -> None:
        attempt: _Attempt | None = getattr(self._local, "attempt", None)
        self._local.attempt = None
        if attempt is None or self.log is None:
            return
        self.log(ModelCall(role="critic", model=self.model_id, thread=CURRENT_THREAD.get(), attempt=attempt.number,
                           request=attempt.request, response=attempt.response, error=attempt.error,
                           duration_ms=(time.perf_counter() - attempt.started) * 1000))

    def review(self, messages: Messages) -> CriticVerdict:
        """Ask the model for a verdict; raises after `retries` invalid answers."""
        self._local.n = 0
        try:
            return self.client.chat.completions.create(
                model=self.spec.model, response_model=self.response_model, messages=messages,  # type: ignore[arg-type]
                max_retries=self.spec.retries, temperature=self.spec.temperature, max_tokens=self.spec.max_tokens,
            )
        finally:
            self._flush()


ProviderFactory = Callable[[str, ModelSpec], Any]

_CLIENTS: dict[str, Any] = {}
_BUILT: dict[tuple[str, ModelSpec], Any] = {}
_PROVIDERS: dict[str, ProviderFactory] = {}
_LOCK = threading.RLock()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Let specs with `provider=name` be built by `factory(role, spec)` (role: drafter or critic)."""
    with _LOCK:
        _PROVIDERS[name] = factory


def register_client(client: Any) -> str:
    """Make a live client (drafter or critic) reachable from specs in this process; returns its name."""
    name = f"{getattr(client, 'model_id', 'model')}#{uuid.uuid4().hex[:12]}"
    with _LOCK:
        _CLIENTS[name] = client
    return name


def unregister_client(name: str | None) -> None:
    """Forget a registered client (its owner is closing)."""
    if name:
        with _LOCK:
            _CLIENTS.pop(name, None)


def _api_key(spec: ModelSpec) -> str | None:
    return os.environ.get(spec.api_key_env) if spec.api_key_env else None


def _client(role: str, spec: ModelSpec, build: Callable[[ModelSpec, str | None], Any]) -> Any:
    with _LOCK:
        if spec.client is not None:
            if spec.client not in _CLIENTS:
                raise LookupError(f"the {role} client {spec.client!r} is not registered in this process")
            return _CLIENTS[spec.client]
        key = (role, spec)
        if key not in _BUILT:
            if spec.provider in _PROVIDERS:
                _BUILT[key] = _PROVIDERS[spec.provider](role, spec)
            elif spec.provider == "openai" and spec.base_url:
                _BUILT[key] = build(spec, _api_key(spec))
            else:
                raise LookupError(f"no {role} client for provider {spec.provider!r}: give the spec an "
                                  "OpenAI-compatible base_url with provider 'openai', or register the provider")
        return _BUILT[key]


def drafter_for(spec: ModelSpec) -> DrafterModel:
    """The drafter client for a spec: the registered one, or one built from the endpoint and reused."""
    client: DrafterModel = _client("drafter", spec, lambda s, k: ChatDrafter(s, k))
    return client


def critic_for(spec: ModelSpec) -> CriticModel:
    """The critic client for a spec: the registered one, or one built from the endpoint and reused."""
    client: CriticModel = _client("critic", spec, lambda s, k: InstructorCritic(s, k))
    return client
