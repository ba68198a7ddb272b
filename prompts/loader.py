"""Load versioned prompt templates from prompts/templates and render them for a prospect."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["drafter", "critic"]


class PromptError(ValueError):
    """An unknown prompt version or a template that does not parse."""


class PromptTemplate(BaseModel):
    """One immutable version of a prompt: a system message and a user message template."""

    kind: Kind
    version: str = Field(description="Recorded on every item, e.g. 'drafter-v1'.")
    description: str = Field(default="", description="What this version is, in one line.")
    sha256: str = Field(default="", description="Hash of the template file: a used version must never change.")
    system: str
    user: str
    feedback_block: str = ""
    examples: list[dict[str, str]] = Field(default_factory=list, description="Worked examples: user and assistant turns.")


def _number(version: str) -> int:
    match = re.search(r"v(\d+)$", version)
    return int(match.group(1)) if match else 0


# Where versions are looked up: the bundled templates, then any folder added with `add_prompt_dir` (a team's own
# versions, written by `firstpass eval suggest --write`). A version name means one file: the first found.
_EXTRA_DIRS: list[Path] = []


def bundled_dir() -> Path:
    """The folder of the templates that ship with firstpass."""
    return Path(str(resources.files("prompts").joinpath("templates")))


def add_prompt_dir(folder: Path) -> None:
    """Also look for prompt versions in this folder (after the bundled ones)."""
    if folder not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(folder)


def prompt_dirs() -> list[Path]:
    """Every folder prompt versions are read from, in lookup order."""
    return [bundled_dir(), *_EXTRA_DIRS]


def _files(kind: Kind) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in prompt_dirs():
        if folder.is_dir():
            for path in folder.glob(f"{kind}-*.toml"):
                found.setdefault(path.name.removesuffix(".toml"), path)
    return found


def list_versions(kind: Kind) -> list[str]:
    """Every version of a prompt kind, oldest first."""
    return sorted(_files(kind), key=_number)


def template_path(kind: Kind, version: str) -> Path:
    """The file of a version; PromptError if there is no such version."""
    if version.startswith(f"{kind}-") and "/" not in version:
        # Looked up by name (a stat per folder), not by listing the folders: the graph loads its prompts per call.
        for folder in prompt_dirs():
            path = folder / f"{version}.toml"
            if path.is_file():
                return path
    files = _files(kind)
    if version not in files:
        raise PromptError(f"unknown {kind} prompt version {version!r}; known: {', '.join(sorted(files, key=_number))}")
    return files[version]


def template_text(kind: Kind, version: str) -> str:
    """The template file of a version, as text; PromptError if there is no such version."""
    return template_path(kind, version).read_text(encoding="utf-8")


def load_prompt(kind: Kind, version: str | None = None) -> PromptTemplate:
    """Load a prompt version (the newest when `version` is None)."""
    if version is None:
        versions = list_versions(kind)
        if not versions:
            raise PromptError(f"no {kind} prompt templates found")
        version = versions[-1]
    path = template_path(kind, version)
    stat = path.stat()
    # Keyed by the file's size and time, so that a version edited in place is read again (and then refused).
    return _parse(kind, str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _parse(kind: Kind, path: str, _mtime_ns: int, _size: int) -> PromptTemplate:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"prompt {Path(path).stem} is not valid TOML: {exc}") from exc
    return PromptTemplate(kind=kind, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), **data)


def render(prompt: PromptTemplate, fields: Mapping[str, str], draft: str = "", feedback: str = "",
           previous_draft: str = "", limits: Mapping[str, object] | None = None) -> list[dict[str, str]]:
    """Chat messages: system, then the user template filled with the record's fields (and feedback, if any).

    `limits` are the values the policy owns (max_length): templates name them, never write them out.
    """
    known = dict(limits or {})
    values: dict[str, object] = {**known, **fields}
    values["draft"] = draft
    values["feedback_block"] = (
        prompt.feedback_block.format(feedback=feedback, previous_draft=previous_draft) if feedback else ""
    )
    try:
        system = prompt.system.format_map(known)
    except KeyError as exc:
        raise PromptError(f"prompt {prompt.version} names the policy limit {exc}; pass it in `limits`") from exc
    messages = [{"role": "system", "content": system}]
    for example in prompt.examples:
        messages += [{"role": "user", "content": example["user"]}, {"role": "assistant", "content": example["assistant"]}]
    try:
        messages.append({"role": "user", "content": prompt.user.format(**values)})
    except KeyError as exc:
        raise PromptError(f"prompt {prompt.version} names {exc}, which neither the record nor `limits` gives") from exc
    return messages


def rendered_hash(messages: list[dict[str, str]]) -> str:
    """A short hash of rendered messages, recorded with every draft: what exactly the model was asked."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8")).hexdigest()[:16]
