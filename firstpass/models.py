"""Model clients built from settings, fakes for tests and benchmarks, and a wrapper that logs every call.

Nothing is built at import time: call `build_drafter` / `build_critic` with an endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from critics.critic import CriticModel, CriticVerdict
from firstpass.settings import ModelEndpoint
from firstpass.store import Store

Messages = list[dict[str, str]]


class DrafterModel(Protocol):
    """Anything that turns drafter messages into one line of text (or raises)."""

    model_id: str

    def complete(self, messages: Messages) -> str:
        """Ask the model for a first line."""
        ...


class ChatDrafter:
    """The drafter: a langchain-openai ChatOpenAI against any OpenAI-compatible endpoint."""

    def __init__(self, endpoint: ModelEndpoint, base_url: str) -> None:
        """Build the ChatOpenAI client for `endpoint`, served at `base_url`."""
        from langchain_openai import ChatOpenAI

        self.model_id = endpoint.model
        # ChatOpenAI sends max_completion_tokens, which llama.cpp's server ignores; it needs max_tokens too.
        extra = {"max_tokens": endpoint.max_tokens} if endpoint.embedded else None
        # A first line is one line: stopping at the newline also stops a small model that rambles.
        self.chat = ChatOpenAI(model=endpoint.model, base_url=base_url, api_key=endpoint.api_key,
                               temperature=endpoint.temperature, max_tokens=endpoint.max_tokens,
                               timeout=endpoint.timeout, max_retries=2, stop=["\n"], extra_body=extra)

    def complete(self, messages: Messages) -> str:
        """Ask the model for a first line."""
        content = self.chat.invoke(messages).content
        return content if isinstance(content, str) else str(content)


class InstructorCritic:
    """The critic: instructor over the OpenAI client, validating into CriticVerdict and retrying bad answers."""

    def __init__(self, endpoint: ModelEndpoint, base_url: str, retries: int = 2, mode: str = "tools") -> None:
        """Build the instructor client for `endpoint`, served at `base_url`."""
        import instructor
        from openai import OpenAI

        self.model_id = endpoint.model
        self.endpoint = endpoint
        self.retries = retries
        # llama.cpp's server rejects json_schema response formats; TOOLS mode works everywhere we run.
        instructor_mode = instructor.Mode.JSON_SCHEMA if mode == "json_schema" else instructor.Mode.TOOLS
        self.client = instructor.from_openai(
            # instructor does the retrying; the OpenAI client's own retries would multiply a time-out.
            OpenAI(base_url=base_url, api_key=endpoint.api_key, timeout=endpoint.timeout, max_retries=0),
            mode=instructor_mode,
        )

    def review(self, messages: Messages) -> CriticVerdict:
        """Ask the model for a verdict; raises after `retries` invalid answers."""
        return self.client.chat.completions.create(
            model=self.endpoint.model, response_model=CriticVerdict, messages=messages,
            max_retries=self.retries, temperature=self.endpoint.temperature, max_tokens=self.endpoint.max_tokens,
        )


class FakeDrafter:
    """A drafter for tests and benchmarks: answers from a function of the messages, or a fixed line."""

    def __init__(self, answer: str | Callable[[Messages], str], model_id: str = "fake-drafter") -> None:
        """Answer with `answer` (a line, or a function of the messages that returns one or raises)."""
        self.model_id = model_id
        self.answer = answer
        self.calls: list[Messages] = []

    def complete(self, messages: Messages) -> str:
        """Return the fake line."""
        self.calls.append(messages)
        return self.answer(messages) if callable(self.answer) else self.answer


class FakeCritic:
    """A critic for tests and benchmarks: answers from a function of the messages, or a fixed verdict."""

    def __init__(self, answer: CriticVerdict | Callable[[Messages], CriticVerdict] | None = None,
                 model_id: str = "fake-critic") -> None:
        """Answer with `answer` (a verdict, or a function of the messages); default: no findings, confidence 0.95."""
        self.model_id = model_id
        self.answer = answer or CriticVerdict(findings=[], confidence=0.95)
        self.calls: list[Messages] = []

    def review(self, messages: Messages) -> CriticVerdict:
        """Return the fake verdict."""
        self.calls.append(messages)
        return self.answer(messages) if callable(self.answer) else self.answer


class LoggedDrafter:
    """Wraps a drafter so that every prompt and response is logged to the store."""

    def __init__(self, inner: DrafterModel, store: Store) -> None:
        """Log `inner`'s calls to `store`."""
        self.inner, self.store, self.model_id = inner, store, inner.model_id

    def complete(self, messages: Messages) -> str:
        """Call the inner drafter and log the exchange."""
        return _logged(self.store, "drafter", self.model_id, messages, lambda: self.inner.complete(messages))


class LoggedCritic:
    """Wraps a critic so that every prompt and response is logged to the store."""

    def __init__(self, inner: CriticModel, store: Store) -> None:
        """Log `inner`'s calls to `store`."""
        self.inner, self.store, self.model_id = inner, store, inner.model_id

    def review(self, messages: Messages) -> CriticVerdict:
        """Call the inner critic and log the exchange."""
        return _logged(self.store, "critic", self.model_id, messages, lambda: self.inner.review(messages))


def _logged(store: Store, role: str, model: str, messages: Messages, call: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        result = call()
    except Exception as exc:
        store.log_llm_call(role, model, None, messages, None, f"{type(exc).__name__}: {exc}",
                           (time.perf_counter() - started) * 1000)
        raise
    text = result.model_dump_json() if hasattr(result, "model_dump_json") else str(result)
    store.log_llm_call(role, model, None, messages, text, None, (time.perf_counter() - started) * 1000)
    return result


def build_drafter(endpoint: ModelEndpoint, base_url: str) -> DrafterModel:
    """The drafter client for an endpoint."""
    return ChatDrafter(endpoint, base_url)


def build_critic(endpoint: ModelEndpoint, base_url: str, retries: int) -> CriticModel:
    """The critic client for an endpoint."""
    return InstructorCritic(endpoint, base_url, retries=retries, mode=endpoint.structured_mode)
