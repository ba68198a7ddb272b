"""The rule registry: a decorator appends each rule, with its stable taxonomy code, to one list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from critics.findings import Category, Finding
from critics.policy import RulesPolicy
from firstpass.prospect import Prospect

RuleFunc = Callable[[str, Prospect, RulesPolicy], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: its taxonomy category, its stable code and the pure function that checks a draft."""

    category: Category
    code: str
    func: RuleFunc


RULES: list[Rule] = []


def rule(code: str) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule under a stable code whose first dotted part is its taxonomy category."""

    def register(func: RuleFunc) -> RuleFunc:
        category = code.split(".", 1)[0]
        RULES.append(Rule(category=category, code=code, func=func))  # type: ignore[arg-type]
        return func

    return register
