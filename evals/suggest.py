"""A brief for the next drafter prompt, from the override log, and the new version file built on it.

Only the train split feeds a brief: its examples and notes may end up in a prompt, and nothing that builds a prompt
may judge it. Everything here is deterministic: the same cases give the same brief and the same file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from evals.fewshot import Example, approved_as_is, human_line, profile

TREND_WINDOW_DAYS = 14.0


@dataclass(frozen=True)
class Corrected:
    """One case of a category: the AI's line, and what the human did with it."""

    key: str
    company: str
    ai_line: str
    final: str | None
    verdict: str


@dataclass(frozen=True)
class CategoryBrief:
    """A recurring category: how often, which way it moves, and representative cases."""

    category: str
    count: int
    recent: int
    earlier: int
    examples: list[Corrected]

    @property
    def trend(self) -> str:
        """rising, falling or steady: the last window against the one before (steady when both are empty)."""
        if self.recent > self.earlier:
            return "rising"
        return "falling" if self.recent < self.earlier else "steady"


@dataclass
class Brief:
    """What the override log says the next prompt should fix."""

    cases: int
    categories: list[CategoryBrief] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    approved: list[Example] = field(default_factory=list)
    copied: dict[int, int] = field(default_factory=dict)


def _categories(case: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*case.get("errors", []), *case.get("categories", [])]))


def _is_bad(case: dict[str, Any]) -> bool:
    return approved_as_is(case) is False


_WORD = re.compile(r"[a-z0-9][a-z0-9'-]{3,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def copies(line: str, record: Mapping[str, Any], example: str, least: int = 2) -> bool:
    """Whether a line took words from a worked example that its own record does not have (a template leftover):
    at least `least` such words."""
    own = _words(" ".join(str(v) for v in record.values() if v))
    return len((_words(line) & _words(example)) - own) >= least


def copied_examples(cases: Sequence[dict[str, Any]], examples: Sequence[str]) -> dict[int, int]:
    """Per worked example (by index), how many fixed lines copied it."""
    counts: dict[int, int] = {}
    for c in cases:
        if _is_bad(c) and c.get("ai_line"):
            for i, example in enumerate(examples):
                if copies(str(c["ai_line"]), c["prospect"], example):
                    counts[i] = counts.get(i, 0) + 1
    return counts


def make_brief(cases: Sequence[dict[str, Any]], now: float, per_category: int = 2, max_notes: int = 10,
               window_days: float = TREND_WINDOW_DAYS, worked: Sequence[str] = ()) -> Brief:
    """The brief from eval cases (store rows): train split only, withdrawn ones left out; `worked` are the
    current prompt's worked answers, checked for being copied into lines the humans fixed."""
    train = [c for c in cases if c["split"] == "train" and c.get("withdrawn_at") is None]
    window = window_days * 86400
    counts: Counter[str] = Counter()
    recent: Counter[str] = Counter()
    earlier: Counter[str] = Counter()
    examples: dict[str, list[Corrected]] = {}
    for c in train:
        if not _is_bad(c):
            continue
        for category in _categories(c):
            counts[category] += 1
            age = now - float(c["created_at"])
            if age <= window:
                recent[category] += 1
            elif age <= 2 * window:
                earlier[category] += 1
            # A representative case shows the fix: cases with the human's own line first, then the shortest line.
            examples.setdefault(category, []).append(Corrected(
                c["case_key"], str(c["prospect"].get("company", "")), str(c["ai_line"] or ""), c.get("final_line"),
                str(c["verdict"])))
    briefs = []
    for category, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        chosen = sorted(examples[category], key=lambda e: (e.final is None, len(e.ai_line), e.key))[:per_category]
        briefs.append(CategoryBrief(category, n, recent[category], earlier[category], chosen))
    notes = [(str(c["reviewer"]), str(c["note"]).strip()) for c in sorted(train, key=lambda c: -float(c["created_at"]))
             if str(c.get("note") or "").strip()][:max_notes]
    approved = [Example(c["case_key"], c["prospect"], line) for c in train if (line := human_line(c))]
    return Brief(len(train), briefs, notes, approved, copied_examples(train, worked))


def brief_text(brief: Brief) -> str:
    """The brief as plain text, for the terminal and for a model asked to revise the prompt."""
    lines = [f"From {brief.cases} train-split case(s) (the test split is kept for judging)."]
    if not brief.categories:
        lines.append("No category recurs yet: review more lines or import labelled cases.")
    for cat in brief.categories:
        lines.append(f"- {cat.category}: {cat.count} case(s), {cat.trend} "
                     f"({cat.recent} in the last {TREND_WINDOW_DAYS:g} days, {cat.earlier} in the {TREND_WINDOW_DAYS:g}"
                     " before)")
        for e in cat.examples:
            fix = f' -> human: "{e.final}"' if e.final else f" ({e.verdict})"
            lines.append(f'    {e.company}: "{e.ai_line}"{fix}')
    for index, n in sorted(brief.copied.items()):
        lines.append(f"- worked example {index + 1} was copied into {n} line(s) the humans fixed (template leftovers)")
    if brief.notes:
        lines.append("Reviewers' notes:")
        lines += [f'- {who}: "{note}"' for who, note in brief.notes]
    return "\n".join(lines)


def diverse(examples: Sequence[Example], k: int) -> list[Example]:
    """k examples spread over kinds of prospect: each next one the least like those already chosen."""
    chosen: list[Example] = []
    left = sorted(examples, key=lambda e: e.key)
    while left and len(chosen) < k:
        def nearness(e: Example) -> float:
            return max((fuzz.token_set_ratio(profile(e.prospect), profile(c.prospect)) for c in chosen), default=0.0)
        best = min(left, key=lambda e: (nearness(e), e.key))
        chosen.append(best)
        left.remove(best)
    return chosen


def _toml_string(value: str) -> str:
    # A basic TOML string: JSON's escapes are TOML's for these characters.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def next_version(parent_text: str, parent: str, version: str, description: str,
                 examples: Sequence[tuple[str, str]], system: str | None = None, drop: Sequence[int] = ()) -> str:
    """The new version's file: the parent's, renamed, with a new description, the worked examples numbered in
    `drop` left out, the examples appended and, when given, a revised system message."""
    text = re.sub(r"(?m)^version = .*$", f"version = {_toml_string(version)}", parent_text, count=1)
    text = re.sub(r"(?m)^description = .*$", f"description = {_toml_string(description)}", text, count=1)
    text = re.sub(r"(?m)^# .*version \d+\..*$", f"# Made by `firstpass eval suggest --write` from {parent}; never edit a"
                  " used version: write a new one.", text, count=1)
    if system is not None:
        text = re.sub(r'(?ms)^system = """.*?"""', lambda _m: f'system = """{system}"""', text, count=1)
    if drop:
        head, *blocks = re.split(r"(?m)^(?=\[\[examples\]\]$)", text)
        text = head + "".join(b for i, b in enumerate(blocks) if i not in set(drop))
    for user, assistant in examples:
        text += f"\n[[examples]]\nuser = {_toml_string(user)}\nassistant = {_toml_string(assistant)}\n"
    return text
