"""Graph state and run-scoped context for one prospect's thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from critics.critic import CriticModel
from critics.policy import Policy
from firstpass.models import DrafterModel
from prompts.loader import PromptTemplate

ItemStatus = Literal["auto_approved", "review", "approved", "rejected"]


class State(TypedDict, total=False):
    """One prospect's journey through the gate; values stay plain JSON so checkpoints stay cheap and portable."""

    prospect: dict[str, Any]
    prompt_version: str
    drafter_model: str
    critic_model: str
    draft: str
    ai_draft: str
    findings: list[dict[str, Any]]
    confidence: float | None
    route: Literal["auto", "review"]
    reasons: list[str]
    audit_sample: bool
    feedback: str
    rounds: int
    decision: dict[str, Any] | None
    final_line: str | None
    status: ItemStatus


@dataclass(frozen=True)
class Context:
    """What nodes need besides state: the models, the policy and the drafter and critic prompts."""

    drafter: DrafterModel
    critic: CriticModel
    policy: Policy
    drafter_prompt: PromptTemplate
    critic_prompt: PromptTemplate
