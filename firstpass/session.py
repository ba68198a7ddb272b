"""Open firstpass from settings: the store, the embedded or remote models, and the graph application."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from critics.critic import CriticModel
from critics.policy import Policy, load_policy
from firstpass.models import DrafterModel, LoggedCritic, LoggedDrafter, build_critic, build_drafter
from firstpass.server import EmbeddedModel, EmbeddedServer, critic_model_file, drafter_model_file
from firstpass.settings import ModelEndpoint, Settings
from firstpass.store import Store
from graph.app import Firstpass
from graph.state import Context
from prompts.loader import load_prompt


@dataclass
class Models:
    """The drafter and the critic in use."""

    drafter: DrafterModel
    critic: CriticModel


def _base_url(endpoint: ModelEndpoint, role: str, settings: Settings, stack: ExitStack) -> str:
    if endpoint.base_url:
        return endpoint.base_url
    if role == "drafter":
        model = EmbeddedModel(endpoint.model, drafter_model_file(), chat_format="chatml")
    else:
        # Grammar-constrained tool calls: llama.cpp's server rejects json_schema response formats.
        model = EmbeddedModel(endpoint.model, critic_model_file(settings.home), chat_format="chatml-function-calling",
                              n_ctx=4096)
    server = EmbeddedServer(model, settings.home / "logs", threads=1)
    return stack.enter_context(server).base_url


class LazyModel:
    """Builds its model (and starts its embedded server) on first use, so commands that need no model start fast."""

    def __init__(self, model_id: str, build: Callable[[], Any]) -> None:
        """Wrap `build`, called once on first use."""
        self.model_id = model_id
        self._build = build
        self._inner: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._inner is None:
                self._inner = self._build()
            return self._inner

    def complete(self, messages: list[dict[str, str]]) -> str:
        """Drafter call."""
        return self._get().complete(messages)

    def review(self, messages: list[dict[str, str]]) -> Any:
        """Critic call."""
        return self._get().review(messages)


@contextmanager
def open_models(settings: Settings) -> Iterator[Models]:
    """The configured models, built on first use; embedded servers started for them are stopped on exit."""
    with ExitStack() as stack:
        drafter = LazyModel(settings.drafter.model, lambda: build_drafter(
            settings.drafter, _base_url(settings.drafter, "drafter", settings, stack)))
        critic = LazyModel(settings.critic.model, lambda: build_critic(
            settings.critic, _base_url(settings.critic, "critic", settings, stack), settings.critic_retries))
        yield Models(drafter=drafter, critic=critic)


def make_context(settings: Settings, models: Models, store: Store | None = None,
                 policy: Policy | None = None) -> Context:
    """The graph's run-scoped context; with a store, every model call is logged to it."""
    drafter, critic = models.drafter, models.critic
    if store is not None:
        drafter, critic = LoggedDrafter(drafter, store), LoggedCritic(critic, store)
    return Context(
        drafter=drafter, critic=critic, policy=policy or load_policy(settings.policy_path),
        drafter_prompt=load_prompt("drafter", settings.prompt_version), critic_prompt=load_prompt("critic"),
    )


@contextmanager
def open_app(settings: Settings, models: Models, policy: Policy | None = None) -> Iterator[Firstpass]:
    """The Firstpass application over the settings' database file."""
    store = Store(settings.db_path)
    app = Firstpass(store, make_context(settings, models, store, policy))
    try:
        yield app
    finally:
        app.close()
