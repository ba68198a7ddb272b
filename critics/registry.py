"""The rule registry: a decorator files each rule under its stable code (the taxonomy category, then a dot and a name)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from critics.findings import CATEGORIES, Category, Finding
from critics.policy import RulesPolicy
from critics.prospect import Prospect

RuleFunc = Callable[[str, Prospect, RulesPolicy], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: its taxonomy category, its stable code and the pure function that checks a draft."""

    category: Category
    code: str
    func: RuleFunc
    original: bool = False  # it reads the line as written, not its normalised reading (critics.normalise)


RULES: dict[str, Rule] = {}


def rule(code: str, *, original: bool = False) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule under a stable code whose first dotted part is its taxonomy category; `original` rules are
    given the line as written (to judge its characters), the others its normalised reading."""
    category = code.split(".", 1)[0]
    if category not in CATEGORIES:
        raise ValueError(f"rule code {code!r} does not start with a taxonomy category ({', '.join(CATEGORIES)})")

    def register(func: RuleFunc) -> RuleFunc:
        known = RULES.get(code)
        if known is not None and known.func.__qualname__ != func.__qualname__:
            raise ValueError(f"rule code {code!r} is registered twice ({known.func.__qualname__}, {func.__qualname__})")
        RULES[code] = Rule(category=cast(Category, category), code=code, func=func, original=original)
        return func

    return register
