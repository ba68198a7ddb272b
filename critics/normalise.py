"""One text normalisation before any rule runs, so that obfuscation cannot walk a line past the rules.

Invisible format characters (zero-width spaces and joiners, the soft hyphen, bidi controls) are dropped
(control characters stay, for a rule of their own to refuse), each character is put in Unicode NFKC form (fullwidth letters, ligatures), and in a
word that mixes Latin letters with look-alikes from another script (`frее` with two Cyrillic `е`), the
look-alikes become the Latin letters they imitate (Unicode's confusables table, from confusable_homoglyphs). A
word written wholly in another script (a real Cyrillic company name) is left as it is. Every character of
the result remembers where it came from, so a finding's span still points into the original line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Normalised:
    """Normalised text, and for each of its characters the index of the original character it came from."""

    text: str
    original: str
    origin: tuple[int, ...] | None = None  # None: the text is the original, unchanged

    def span(self, start: int | None, end: int | None) -> tuple[int | None, int | None]:
        """The original span of the normalised span [start, end)."""
        if self.origin is None or start is None or end is None:
            return start, end
        if not self.origin:
            return 0, 0
        first = self.origin[min(max(start, 0), len(self.origin) - 1)]
        last = self.origin[min(max(end - 1, 0), len(self.origin) - 1)] + 1
        return first, max(first, last)


def control_characters(text: str) -> list[int]:
    """Indexes of the control characters (NUL, ESC, BEL, ...) in a line; a first line has no use for any."""
    return [i for i, ch in enumerate(text) if unicodedata.category(ch) == "Cc"]


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    from confusable_homoglyphs import categories

    return str(categories.alias(ch))


@lru_cache(maxsize=4096)
def _latin_twin(ch: str) -> str | None:
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []
    for entry in found:
        for glyph in entry.get("homoglyphs", []):
            twin = glyph.get("c", "")
            if len(twin) == 1 and twin.isascii() and twin.isalpha():
                return twin
    return None


def normalise(text: str) -> Normalised:
    """The text the rules read, with its way back to the original (see the module's docstring)."""
    if text.isascii() and text.isprintable():
        return Normalised(text, text)
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cf":
            continue
        for piece in unicodedata.normalize("NFKC", ch):
            chars.append(piece)
            origin.append(i)
    for m in _WORD.finditer("".join(chars)):
        word = m.group()
        if word.isascii():
            continue
        scripts = {_script(c) for c in word}
        if "LATIN" in scripts and len(scripts) > 1:
            for k in range(m.start(), m.end()):
                if _script(chars[k]) != "LATIN":
                    chars[k] = _latin_twin(chars[k]) or chars[k]
    return Normalised("".join(chars), text, tuple(origin))


def normalise_text(text: str) -> str:
    """Only the normalised text (for a prospect record, whose spans nobody points into)."""
    return normalise(text).text
