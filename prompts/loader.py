"""Load versioned prompt templates from prompts/templates and render them for a prospect."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["drafter", "critic"]


class PromptError(ValueError):
    """An unknown prompt version or a template that does not parse."""


class PromptTemplate(BaseModel):
    """One immutable version of a prompt: a system message and a user message template."""

    kind: Kind
    version: str = Field(description="Recorded on every item, e.g. 'drafter-v1'.")
    system: str
    user: str
    feedback_block: str = ""
    examples: list[dict[str, str]] = Field(default_factory=list, description="Worked examples: user and assistant turns.")


def _number(version: str) -> int:
    match = re.search(r"v(\d+)$", version)
    return int(match.group(1)) if match else 0


def list_versions(kind: Kind) -> list[str]:
    """Every version of a prompt kind, oldest first."""
    names = [p.name.removesuffix(".toml") for p in resources.files("prompts").joinpath("templates").iterdir()
             if p.name.startswith(f"{kind}-") and p.name.endswith(".toml")]
    return sorted(names, key=_number)


@lru_cache(maxsize=32)
def load_prompt(kind: Kind, version: str | None = None) -> PromptTemplate:
    """Load a prompt version (the newest when `version` is None)."""
    versions = list_versions(kind)
    if not versions:
        raise PromptError(f"no {kind} prompt templates found")
    version = version or versions[-1]
    if version not in versions:
        raise PromptError(f"unknown {kind} prompt version {version!r}; known: {', '.join(versions)}")
    text = resources.files("prompts").joinpath("templates", f"{version}.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"prompt {version} is not valid TOML: {exc}") from exc
    return PromptTemplate(kind=kind, **data)


def render(prompt: PromptTemplate, fields: Mapping[str, str], draft: str = "", feedback: str = "",
           previous_draft: str = "") -> list[dict[str, str]]:
    """Chat messages: system, then the user template filled with the record's fields (and feedback, if any)."""
    values = dict(fields)
    values["draft"] = draft
    values["feedback_block"] = (
        prompt.feedback_block.format(feedback=feedback, previous_draft=previous_draft) if feedback else ""
    )
    messages = [{"role": "system", "content": prompt.system}]
    for example in prompt.examples:
        messages += [{"role": "user", "content": example["user"]}, {"role": "assistant", "content": example["assistant"]}]
    messages.append({"role": "user", "content": prompt.user.format(**values)})
    return messages
