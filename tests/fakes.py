"""Fake drafter and critic for tests and benchmarks: scripted answers, every call recorded and logged."""

from __future__ import annotations

import time
from collections.abc import Callable

from critics.critic import CriticVerdict
from graph.models import CURRENT_THREAD, CallLog, ModelCall

Messages = list[dict[str, str]]


class _Fake:
    role: str

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.log: CallLog | None = None
        self.calls: list[Messages] = []

    def _call(self, messages: Messages, answer: Callable[[], object]) -> object:
        self.calls.append(messages)
        started = time.perf_counter()
        try:
            result = answer()
        except Exception as exc:
            self._log(messages, None, f"{type(exc).__name__}: {exc}", started)
            raise
        text = result.model_dump_json() if isinstance(result, CriticVerdict) else str(result)
        self._log(messages, text, None, started)
        return result

    def _log(self, messages: Messages, response: str | None, error: str | None, started: float) -> None:
        if self.log is not None:
            self.log(ModelCall(role=self.role, model=self.model_id, thread=CURRENT_THREAD.get(),  # type: ignore[arg-type]
                               request={"messages": messages}, response=response, error=error,
                               duration_ms=(time.perf_counter() - started) * 1000))


class FakeDrafter(_Fake):
    """Answers from a function of the messages, or a fixed line."""

    role = "drafter"

    def __init__(self, answer: str | Callable[[Messages], str], model_id: str = "fake-drafter") -> None:
        """Answer with `answer` (a line, or a function of the messages that returns one or raises)."""
        super().__init__(model_id)
        self.answer = answer

    def complete(self, messages: Messages) -> str:
        """Return the fake line."""
        answer = self.answer
        return str(self._call(messages, lambda: answer(messages) if callable(answer) else answer))


class FakeCritic(_Fake):
    """Answers from a function of the messages, or a fixed verdict (default: no findings, confidence 0.95)."""

    role = "critic"

    def __init__(self, answer: CriticVerdict | Callable[[Messages], CriticVerdict] | None = None,
                 model_id: str = "fake-critic") -> None:
        """Answer with `answer` (a verdict, or a function of the messages)."""
        super().__init__(model_id)
        self.answer = answer or CriticVerdict(findings=[], confidence=0.95)

    def review(self, messages: Messages) -> CriticVerdict:
        """Return the fake verdict."""
        answer = self.answer
        result = self._call(messages, lambda: answer(messages) if callable(answer) else answer)
        assert isinstance(result, CriticVerdict)
        return result
