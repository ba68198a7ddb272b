"""Characters: what a line holds that nobody can see, and letters that pretend to be other letters.

Both rules read the line as written (the reading the other rules get has already undone the tricks) and report
what `critics.normalise.suspicious_characters` finds: one finding per kind, spanning its first to its last
character (for look-alikes, the words they write). A first line has no reason for any of them, so each is high severity.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from critics.findings import Finding
from critics.normalise import HIDDEN_KINDS, LOOKALIKE_KINDS, Suspicious, describe, normalise, suspicious_characters
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import rule
from critics.rules.analysis import finding

_WHAT = {
    "invisible": "invisible character(s)",
    "bidi": "bidi control(s)",
    "tag": "Unicode tag character(s)",
    "private_use": "private-use character(s)",
    "unassigned": "unassigned code point(s)",
    "surrogate": "lone surrogate(s)",
    "stacked_marks": "combining mark(s) that obscure their letter",
    "lookalike": "look-alike letter(s)",
    "compatibility": "compatibility letter(s) (fullwidth, mathematical, circled or superscript)",
}
_SHOWN = 4  # code points or words named in a message; the rest are counted


@rule("other.hidden_characters", original=True)
def hidden_characters(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Invisible, bidi, tag, private-use, unassigned or surrogate characters: none has a place in a first line,
    and each can hide text from the reviewer or turn it around."""
    found = [s for s in suspicious_characters(draft) if s.kind in HIDDEN_KINDS]
    out = []
    for kind, spans in _by_kind(found):
        start, end = spans[0].start, spans[-1].end
        chars = [draft[i] for s in spans for i in range(s.start, s.end)]
        message = f"The line holds {len(chars)} {_WHAT[kind]}: {_code_points(chars)}."
        if kind == "tag":
            hidden = "".join(normalise(draft).reading_of(s.start, s.end) for s in spans)
            message += f" They spell hidden text: '{hidden}'."
        elif kind == "bidi":
            message += f" As displayed it reads '{normalise(draft).reading_of(start, end)}'."
        out.append(finding("other.hidden_characters", "high", (start, end), message,
                           "Remove them; retype the text they surround."))
    return out


@rule("other.lookalike_characters", original=True)
def lookalike_characters(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Letters written with look-alikes (another script's, small capitals), compatibility forms (fullwidth,
    mathematical, circled) or overlaid and stacked marks: the line imitates words it does not spell."""
    found = [s for s in suspicious_characters(draft) if s.kind in LOOKALIKE_KINDS]
    out = []
    for kind, spans in _by_kind(found):
        norm = normalise(draft)
        words = list(dict.fromkeys(_word_around(draft, s) for s in spans))
        readings = [f"'{draft[s:e]}' reads as '{norm.reading_of(s, e)}'" for s, e in words[:_SHOWN]]
        more = f" and {len(words) - _SHOWN} more" if len(words) > _SHOWN else ""
        chars = [draft[i] for s in spans for i in range(s.start, s.end)]
        message = f"The line writes words with {_WHAT[kind]}: {'; '.join(readings)}{more} ({_code_points(chars)})."
        out.append(finding("other.lookalike_characters", "high", (words[0][0], max(e for _s, e in words)), message,
                           "Write the words in plain letters."))
    return out


def _by_kind(found: list[Suspicious]) -> Iterable[tuple[str, list[Suspicious]]]:
    """The spans grouped by kind, kinds in order of first appearance."""
    kinds: dict[str, list[Suspicious]] = {}
    for s in found:
        kinds.setdefault(s.kind, []).append(s)
    return kinds.items()


def _code_points(chars: list[str]) -> str:
    distinct = list(dict.fromkeys(chars))
    shown = ", ".join(describe(ch) for ch in distinct[:_SHOWN])
    return shown + (f" and {len(distinct) - _SHOWN} more" if len(distinct) > _SHOWN else "")


def _word_around(draft: str, span: Suspicious) -> tuple[int, int]:
    """The span widened to the word it sits in (letters, marks and the suspicious characters themselves)."""
    start, end = span.start, span.end
    while start > 0 and _in_word(draft[start - 1]):
        start -= 1
    while end < len(draft) and _in_word(draft[end]):
        end += 1
    return start, end


@lru_cache(maxsize=4096)
def _in_word(ch: str) -> bool:
    # Overlays are marks and circled letters symbols: both are part of the word they write.
    return ch.isalnum() or unicodedata.category(ch)[0] == "M" or unicodedata.normalize("NFKC", ch).isalnum()
