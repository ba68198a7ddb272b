"""Graph state and run-scoped context for one prospect's thread."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from critics.policy import Policy, load_policy
from graph.models import ModelSpec
from prompts.loader import PromptTemplate, load_prompt

DEFAULT_DRAFTER = ModelSpec(provider="embedded", model="smollm2-135m-instruct")
DEFAULT_CRITIC = ModelSpec(provider="embedded", model="gemma3-270m", temperature=0.0, max_tokens=320)

ItemStatus = Literal["auto_approved", "review", "approved", "rejected"]


class State(TypedDict, total=False):
    """One prospect's journey through the gate; values stay plain JSON so checkpoints stay cheap and portable."""

    prospect: dict[str, Any]
    prompt_version: str
    prompt_hash: str
    drafter_model: str
    critic_model: str
    draft: str
    ai_draft: str
    findings: list[dict[str, Any]]
    confidence: float | None
    route: Literal["auto", "review"]
    reasons: list[str]
    audit_sample: bool
    # What the gate was, for the metrics: its own route (differs in shadow mode), the tier, the checks and threshold.
    gate_route: Literal["auto", "review"]
    tier: str
    shadow: bool
    checks_hash: str
    threshold: float
    feedback: str
    rounds: int
    decision: dict[str, Any] | None
    final_line: str | None
    status: ItemStatus


class Context(BaseModel):
    """What nodes need besides state, as plain serialisable settings: model specs, the policy, prompt versions.

    LangGraph's server builds it from a run's (or an assistant's) `context` JSON; every field has a default,
    so an empty context runs on the embedded models with the bundled policy and the newest prompts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    drafter: ModelSpec = Field(default=DEFAULT_DRAFTER, description="The model that drafts first lines.")
    critic: ModelSpec = Field(default=DEFAULT_CRITIC, description="The second model that critiques them.")
    policy: Policy = Field(default_factory=load_policy, description="Rule limits, word lists and routing policy.")
    drafter_prompt: str | None = Field(default=None, description="Drafter prompt version; None means the newest.")
    critic_prompt: str | None = Field(default=None, description="Critic prompt version; None means the newest.")

    @cached_property
    def checks_hash(self) -> str:
        """The policy's checks hash (see Policy.checks_hash), computed once per context."""
        return self.policy.checks_hash()

    def drafter_template(self) -> PromptTemplate:
        """The drafter prompt in force."""
        return load_prompt("drafter", self.drafter_prompt)

    def critic_template(self) -> PromptTemplate:
        """The critic prompt in force."""
        return load_prompt("critic", self.critic_prompt)
