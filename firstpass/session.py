"""Open firstpass from settings: the store, the embedded or remote models, and the service over them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from critics.critic import CriticVerdict
from critics.policy import Policy, load_policy
from firstpass.calls import store_log
from firstpass.db import Store
from firstpass.server import EmbeddedModel, EmbeddedServer, critic_model_file, drafter_model_file
from firstpass.service import Firstpass
from firstpass.settings import ModelEndpoint, Settings
from firstpass.stores import open_store
from graph.models import CallLog, ChatDrafter, InstructorCritic, ModelSpec, register_client
from graph.state import Context
from prompts.loader import PromptError, PromptTemplate, add_prompt_dir, list_versions, load_prompt


@dataclass
class Models:
    """The drafter and the critic in use: objects with `model_id`, a `log` hook, and `complete` or `review`."""

    drafter: Any
    critic: Any


def spec_of(endpoint: ModelEndpoint, retries: int = 2) -> ModelSpec:
    """The serialisable spec of a configured endpoint (never its key)."""
    return ModelSpec(provider="embedded" if endpoint.embedded else "openai", model=endpoint.model,
                     base_url=endpoint.base_url, timeout=endpoint.timeout, temperature=endpoint.temperature,
                     max_tokens=endpoint.max_tokens, structured_mode=endpoint.structured_mode, retries=retries)


def embedded_base_url(role: str, model: str, home: Any, stack: ExitStack) -> str:
    """Start the embedded llama.cpp server for a role's model (stopped when `stack` closes); its base URL."""
    if role == "drafter":
        served = EmbeddedModel(model, drafter_model_file(), chat_format="chatml")
    else:
        # Grammar-constrained tool calls: llama.cpp's server rejects json_schema response formats.
        served = EmbeddedModel(model, critic_model_file(home), chat_format="chatml-function-calling", n_ctx=4096)
    return stack.enter_context(EmbeddedServer(served, home / "logs", threads=1)).base_url


class LazyModel:
    """Builds its client (and starts its embedded server) on first use, so commands that need no model start fast."""

    def __init__(self, model_id: str, build: Callable[[CallLog | None], Any]) -> None:
        """Wrap `build(log)`, called once on first use."""
        self.model_id = model_id
        self.log: CallLog | None = None
        self._build = build
        self._inner: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._inner is None:
                self._inner = self._build(self.log)
            return self._inner

    def complete(self, messages: list[dict[str, str]]) -> str:
        """Drafter call."""
        return str(self._get().complete(messages))

    def review(self, messages: list[dict[str, str]]) -> CriticVerdict:
        """Critic call."""
        verdict: CriticVerdict = self._get().review(messages)
        return verdict


@contextmanager
def open_models(settings: Settings) -> Iterator[Models]:
    """The configured models, built on first use; embedded servers started for them are stopped on exit."""
    with ExitStack() as stack:
        def build(role: str, endpoint: ModelEndpoint) -> Callable[[CallLog | None], Any]:
            def make(log: CallLog | None) -> Any:
                spec = spec_of(endpoint, settings.critic_retries)
                if endpoint.embedded:
                    spec = spec.model_copy(update={"base_url": embedded_base_url(role, endpoint.model, settings.home,
                                                                                 stack)})
                key = endpoint.api_key.get_secret_value()
                return ChatDrafter(spec, key, log) if role == "drafter" else InstructorCritic(spec, key, log)
            return make

        yield Models(drafter=LazyModel(settings.drafter.model, build("drafter", settings.drafter)),
                     critic=LazyModel(settings.critic.model, build("critic", settings.critic)))


def make_context(settings: Settings, models: Models, store: Store | None = None,
                 policy: Policy | None = None) -> tuple[Context, tuple[str, str]]:
    """The graph's serialisable context, with `models` registered in this process (their calls logged to `store`).

    Returns the context and the names of the registered clients (forget them with graph.models.unregister_client).
    """
    if store is not None:
        models.drafter.log = models.critic.log = store_log(store)
    names = (register_client(models.drafter), register_client(models.critic))
    drafter = spec_of(settings.drafter).model_copy(update={"client": names[0], "model": models.drafter.model_id})
    critic = spec_of(settings.critic, settings.critic_retries).model_copy(
        update={"client": names[1], "model": models.critic.model_id})
    context = Context(drafter=drafter, critic=critic, policy=policy or load_policy(settings.policy_file),
                      # "The newest" is resolved once: a process runs the versions it registered at start.
                      drafter_prompt=load_prompt("drafter", settings.prompt_version).version,
                      critic_prompt=load_prompt("critic").version)
    return context, names


def build_app(settings: Settings, models: Models, policy: Policy | None = None) -> Firstpass:
    """The Firstpass service over the settings' database with `models` (close it when done)."""
    use_prompt_dir(settings)
    store = open_store(settings)
    try:
        context, names = make_context(settings, models, store, policy)
        for template in (context.drafter_template(), context.critic_template()):
            check_prompt(store, template)
    except BaseException:
        store.close()
        raise
    return Firstpass(store, context, clients=names, lease_seconds=settings.worker.lease_seconds)


def use_prompt_dir(settings: Settings) -> None:
    """Read the team's own prompt versions too, when the settings name their folder."""
    if settings.prompts_dir is not None:
        add_prompt_dir(settings.prompts_dir)


def check_prompt(store: Store, template: PromptTemplate) -> None:
    """Record a prompt version at first use; refuse one whose template changed after it was used."""
    before = store.register_prompt(template.kind, template.version, template.sha256, template.description)
    if before is not None:
        raise PromptError(f"prompt {template.version} was changed after it was first used (its template hash was "
                          f"{before[:12]}, is now {template.sha256[:12]}); a used version never changes: put the "
                          f"change in a new version file (e.g. {template.kind}-v{len(list_versions(template.kind)) + 1})"
                          " and keep this one as it was")


@contextmanager
def open_app(settings: Settings, models: Models, policy: Policy | None = None) -> Iterator[Firstpass]:
    """The Firstpass service over the settings' database, closed on exit."""
    app = build_app(settings, models, policy)
    try:
        yield app
    finally:
        app.close()
