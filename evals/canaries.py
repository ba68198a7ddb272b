"""Known-bad check lines (canaries) that measure reviewers: a line humans already rejected, or a good line broken
with one known error (a wrong first name, a price, an invented number). Pure: the application layer picks the
source lines and stores the canary; this module only makes and describes the broken line.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["rejected", "wrong_name", "pricing", "invented_number"]
BREAKS: tuple[Kind, ...] = ("wrong_name", "pricing", "invented_number")
# Names a wrong first name is drawn from (never the prospect's own).
OTHER_NAMES = ("Jonas", "Priya", "Marco", "Aisha", "Tomas", "Hannah", "Kenji", "Lucia", "Omar", "Greta")
OFFERS = ("and this month we can do it for 20% off.", "and the first month is free if you reply this week.",
          "and we can match any quote at $49 a month.")
NUMBERS = ("trusted by over 1,200 teams", "which grew 340% last year", "the #1 choice of 9 in 10 clinics")


@dataclass(frozen=True)
class Canary:
    """A known-bad line, what is wrong with it, and the taxonomy category it falls under."""

    line: str
    kind: Kind
    category: str
    wrong: str


def rejected(line: str, categories: list[str]) -> Canary:
    """A line humans already rejected, as a canary."""
    cats = ", ".join(categories) or "other"
    return Canary(line, "rejected", categories[0] if categories else "other",
                  f"a reviewer rejected this exact line before ({cats})")


def _sentence(line: str) -> str:
    return line.rstrip().rstrip(".!")


def break_line(line: str, first_name: str, kind: Kind, rng: random.Random) -> Canary:
    """Break a good line with one known error of `kind`."""
    if kind == "wrong_name":
        other = rng.choice([n for n in OTHER_NAMES if n.lower() != first_name.lower()])
        if first_name and re.search(rf"\b{re.escape(first_name)}\b", line):
            broken = re.sub(rf"\b{re.escape(first_name)}\b", other, line)
        else:
            broken = f"{other}, {line[:1].lower()}{line[1:]}"
        return Canary(broken, kind, "wrong_name", f"it calls {first_name or 'the prospect'} {other}")
    if kind == "pricing":
        offer = rng.choice(OFFERS)
        return Canary(f"{_sentence(line)}, {offer}", kind, "pricing", f"it adds an offer nobody approved: “{offer}”")
    claim = rng.choice(NUMBERS)
    return Canary(f"{_sentence(line)}, {claim}.", kind, "ungrounded_claim",
                  f"it invents a figure the record does not support: “{claim}”")
