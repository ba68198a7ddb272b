"""`firstpass eval suggest`: the brief from the override log, and a new drafter version written from it.

The new version is the parent's file without the worked examples the drafter copied into lines humans had to
fix, plus worked examples from the train split (approved or human-written lines, spread over kinds of prospect)
and, when asked, a system message the drafter model proposes from the brief. A
proposal that drops the policy's length limit, names fields that do not exist, holds contact data, or cannot be
stored in TOML is set aside with the reason, never written.

A prompt file goes out with every later call, so its worked examples are built from allowed fields only (the
record's prompt fields, screened) and from lines that carry no email address, phone number, CRM id or value of an
internal column.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from critics.context import MARKERS, find_sensitive, leaks, screen
from critics.prospect import Prospect
from evals.fewshot import Example
from evals.suggest import Brief, brief_text, diverse, make_brief, next_version
from firstpass.evalrun import example_turns
from firstpass.service import Firstpass
from graph.models import drafter_for
from prompts.loader import bundled_dir, list_versions, load_prompt, template_text

LLM_ASK = """You improve the instructions given to a writer of cold-email first lines.
Current instructions:
{system}

What human reviewers had to fix in lines written under them:
{brief}

Write improved instructions, at most 70 words, that prevent these mistakes. Keep the text {{max_length}} exactly
where the length limit is named. Reply with the instructions only."""


@dataclass(frozen=True)
class Suggestion:
    """A written version: its name, file, parent, the diff against the parent, and what happened to a proposal."""

    version: str
    path: Path
    parent: str
    diff: str
    llm_note: str | None = None


# A worked example copied into this many fixed lines is a template leftover: the next version leaves it out.
COPIED_AT_LEAST = 3


def brief_for(app: Firstpass, parent: str | None = None) -> Brief:
    """The brief from the app's eval cases (train split only), checked against the parent's worked examples."""
    examples = [e["assistant"] for e in load_prompt("drafter", parent).examples]
    return make_brief(app.store.eval_cases(), now=time.time(), worked=examples)


def next_name(app: Firstpass) -> str:
    """The next drafter version's name: one past every version on disk or ever recorded as used."""
    names = [*list_versions("drafter"), *(r["version"] for r in app.store.prompt_versions() if r["kind"] == "drafter")]
    numbers = [int(m.group(1)) for n in names if (m := re.search(r"v(\d+)$", n))]
    return f"drafter-v{max(numbers, default=0) + 1}"


def check_proposal(text: str) -> str | None:
    """Why a proposed system message cannot be used, or None when it can."""
    if "{max_length}" not in text:
        return "it drops the {max_length} placeholder, so the policy's length limit would not reach the model"
    if set(re.findall(r"\{([^{}]*)\}", text)) - {"max_length"}:
        return "it names placeholders other than {max_length}"
    if '"""' in text or "\\" in text:
        return "it holds characters a prompt file cannot store as written"
    if not 20 <= len(text) <= 1200:
        return f"it is {len(text)} characters long"
    found = find_sensitive(text)
    if found:
        return f"it holds a {found[0].kind}, which never goes into a prompt file"
    return None


def propose_system(app: Firstpass, parent_system: str, brief: Brief) -> tuple[str | None, str]:
    """The drafter model's revision of the system message from the brief, or None and the reason it was set aside."""
    ask = LLM_ASK.format(system=parent_system, brief=screen(brief_text(brief)))
    try:
        text = drafter_for(app.context.drafter).complete([{"role": "user", "content": ask}]).strip()
    except Exception as exc:  # noqa: BLE001 - a failed proposal leaves the deterministic version
        return None, f"the model could not answer ({type(exc).__name__}: {str(exc)[:200]})"
    why = check_proposal(text)
    return (None, f"the model's proposal was set aside: {why}") if why else (text, "the model's revision is in use")


def clean_example(example: Example, never: Sequence[str] = ()) -> bool:
    """Whether an approved line may become a worked example: the line carries no email address, phone number, CRM id
    or value of its record's internal columns, and the record's prompt fields needed no screening."""
    if leaks(example.line, example.prospect, never):
        return False
    try:
        fields = Prospect.model_validate(example.prospect).prompt_fields()
    except ValueError:
        return False
    return not any(marker in value for value in fields.values() for marker in MARKERS.values())


def write_suggestion(app: Firstpass, parent: str, examples: int, llm: bool, folder: Path | None) -> Suggestion:
    """Write the next drafter version from the brief: the parent plus train-split examples (and the model's revision)."""
    brief = brief_for(app, parent)
    template = load_prompt("drafter", parent)
    drop = sorted(i for i, n in brief.copied.items() if n >= COPIED_AT_LEAST)
    never = app.context.policy.context.never
    chosen = diverse([e for e in brief.approved if clean_example(e, never)], examples + len(drop))
    turns = [(t["user"], t["assistant"]) for t in example_turns(template, chosen, app.context)]
    # A second net over exactly what is written: no turn that still carries something sensitive.
    turns = [(u, a) for u, a in turns if not find_sensitive(f"{u}\n{a}", never)]
    system, note = propose_system(app, template.system, brief) if llm else (None, None)
    version = next_name(app)
    categories = ", ".join(c.category for c in brief.categories[:3]) or "none yet"
    dropped = f", without worked example(s) {', '.join(str(i + 1) for i in drop)} (copied into fixed lines)" if drop else ""
    description = (f"{parent} with {len(turns)} worked example(s) from the train split{dropped}"
                   f"{' and a revision proposed by the drafter model' if system else ''}; recurring: {categories}.")
    parent_text = template_text("drafter", parent)
    text = next_version(parent_text, parent, version, description, turns, system, drop)
    target = folder or bundled_dir()
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{version}.toml"
    with path.open("x", encoding="utf-8") as fh:  # never over an existing version
        fh.write(text)
    try:
        load_prompt("drafter", version)
    except Exception:
        path.unlink()  # a file that does not load is not left behind as a version
        raise
    diff = "\n".join(difflib.unified_diff(parent_text.splitlines(), text.splitlines(), parent, version, lineterm=""))
    return Suggestion(version, path, parent, diff, note)
