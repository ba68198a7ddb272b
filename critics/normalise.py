"""One reading of a line by the Unicode standard before any rule runs, so that obfuscation cannot walk it past the rules.

The reading, in order:

- Bidi: text under an explicit embedding or override (U+202A-U+202E, U+2066-U+2069) is read in display order
  (Unicode's bidi algorithm, rules X1-X8, W/N/I in short, L2), so `eerf` under a right-to-left override reads
  `free`; right-to-left script under it is read in its own (logical) order, as its reader would.
- One character at a time: tag characters U+E0020-U+E007E read as the ASCII they encode (a hidden sentence
  becomes text); blank letters and spaces (Hangul fillers, the Braille blank, U+2000-U+200A ...) read as a
  space; format characters (zero-width spaces and joiners, the soft hyphen, bidi controls) and the combining
  grapheme joiner are dropped; everything else is put in NFKC form (fullwidth, mathematical, circled letters,
  ligatures), except symbols that would turn into several letters (`™` stays `™`, not `TM`).
- Combining marks: on a Latin, Greek, Cyrillic or script-neutral base a mark that composes (NFC) stays as the
  composed letter (NFD names read as the same name); marks that do not compose, and stacks of more than two,
  are dropped. Marks on the letters of scripts that need them (Arabic, Hebrew, Devanagari, Thai ...) are kept.
  A variation selector stays only after an emoji (or, for ideographic ones, after a Han character).
- Look-alikes (UTS #39, from the confusables data that the confusable_homoglyphs package ships): a Latin-script
  letter outside ordinary orthography (small capitals, IPA letters such as `ɑ`, dotless `ı`) reads as the ASCII
  letter it imitates; so do the letters of another script in a word that mixes them with Latin letters, when
  every one of them has a Latin twin. A word wholly in another script (a Greek or Cyrillic company name) is left
  alone, unless it is a lower-case word of three or more letters, all look-alikes, in a line of Latin words.

Every character of the reading remembers the span of the original it came from, so a finding's span still points
into the original line. `suspicious_characters` names what the reading had to undo, over the original line, and
`leet_fold` reads digits and symbols inside words as the letters they imitate.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Literal, cast

# --------------------------------------------------------------------------------------------
# The reading and its way back to the original.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalised:
    """The text the rules read, and for each of its characters the span of the original it came from."""

    text: str
    original: str
    origin: tuple[int, ...] | None = None  # None: the text is the original, unchanged
    ends: tuple[int, ...] | None = None  # the end (exclusive) of each character's source; None: origin + 1

    def span(self, start: int | None, end: int | None) -> tuple[int | None, int | None]:
        """The original span of the normalised span [start, end)."""
        if self.origin is None or start is None or end is None:
            return start, end
        if not self.origin:
            return 0, 0
        s = min(max(start, 0), len(self.origin) - 1)
        if end <= start:
            return self.origin[s], self.origin[s]
        e = min(end, len(self.origin))
        # min/max rather than the ends: read in display order, a span's sources need not be in order.
        first = min(self.origin[s:e])
        last = max(self.ends[s:e]) if self.ends is not None else max(self.origin[s:e]) + 1
        return first, max(first, last)

    def reading_of(self, start: int, end: int) -> str:
        """What the original span [start, end) reads as."""
        if self.origin is None:
            return self.text[start:end]
        if self._in_order:
            return self.text[bisect_left(self.origin, start):bisect_left(self.origin, end)]
        return "".join(ch for ch, at in zip(self.text, self.origin, strict=True) if start <= at < end)

    @cached_property
    def _in_order(self) -> bool:
        # Only a line read in display order (bidi) has its sources out of order.
        origin = self.origin or ()
        return list(origin) == sorted(origin)


def control_characters(text: str) -> list[int]:
    """Indexes of the control characters (NUL, ESC, BEL, ...) in a line; a first line has no use for any."""
    if text.isprintable():
        return []  # no control character is printable
    return [i for i, ch in enumerate(text) if unicodedata.category(ch) == "Cc"]


def normalise(text: str) -> Normalised:
    """The text the rules read, with its way back to the original (see the module's docstring)."""
    if text.isascii() and text.isprintable():
        return Normalised(text, text)
    return _normalise(text)


@lru_cache(maxsize=1024)
def _normalise(text: str) -> Normalised:
    reading = _reading(text)
    chars = list(reading.chars)
    for k in reading.mapped:
        chars[k] = _latin_twin(chars[k]) or chars[k]
    return Normalised("".join(chars), text, reading.starts, reading.ends)


def normalise_text(text: str) -> str:
    """Only the normalised text (for a prospect record, whose spans nobody points into)."""
    return normalise(text).text


# --------------------------------------------------------------------------------------------
# Characters: small sets from the standard's own classes, and per-character lookups (cached).
# --------------------------------------------------------------------------------------------

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_LETTERS = re.compile(r"[^\W\d_]+")
_CGJ = "\u034f"
# Letters and spaces that show as nothing or as a blank: read as a space.
_BLANK_LETTERS = frozenset("\u3164\u115f\u1160\uffa0\u2800\u180e")
_SPACES = _BLANK_LETTERS | frozenset(map(chr, range(0x2000, 0x200B))) | {"\u205f", "\u3000"}
_BIDI = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]))
_KEYCAP_BASES = frozenset("#*0123456789")
_KEYCAP = "\u20e3"
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
# Scripts whose letters a reader of Latin text takes for Latin ones: their marks fold, their look-alikes read Latin.
_FOLDING_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "COMMON", "INHERITED"})
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# Scripts that mix with Latin letters inside one word in ordinary writing (`iPhone用`, `Windows版`).
_MIXING_SCRIPTS = frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"})
_SMALL_CAPITAL = re.compile(r"LATIN (?:CAPITAL |SMALL )?LETTER SMALL CAPITAL ([A-Z])")
# Letters whose NFKC form differs but which are ordinary spelling: the micro sign, Spanish and Portuguese
# ordinals, the Dutch ij.
_ORDINARY_COMPAT = frozenset("µªºĳĲ")


def _is_variation_selector(ch: str) -> bool:
    cp = ord(ch)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def _is_tag(ch: str) -> bool:
    return _TAG_FIRST <= ord(ch) <= _TAG_LAST


@lru_cache(maxsize=8192)
def _is_mark(ch: str) -> bool:
    """A combining mark that sits on the character before it (variation selectors and the CGJ are not)."""
    return unicodedata.category(ch)[0] == "M" and ch != _CGJ and not _is_variation_selector(ch)


@lru_cache(maxsize=8192)
def _is_emoji(ch: str) -> bool:
    """A character a variation selector or a zero-width joiner may follow in an emoji sequence."""
    cp = ord(ch)
    return (unicodedata.category(ch) in ("So", "Sk", "Sm") or 0x1F000 <= cp <= 0x1FAFF or ch in "\u203c\u2049"
            or _is_variation_selector(ch))


@lru_cache(maxsize=8192)
def _script(ch: str) -> str:
    from confusable_homoglyphs import categories

    return str(categories.alias(ch))


@lru_cache(maxsize=1)
def _confusables() -> dict[str, list[dict[str, str]]]:
    # Loaded on first use, not at import: the table is a 900 kB JSON file.
    from confusable_homoglyphs import confusables

    return cast("dict[str, list[dict[str, str]]]", cast(Any, confusables).confusables_data)


@lru_cache(maxsize=8192)
def _latin_twin(ch: str) -> str | None:
    """The ASCII letter a non-ASCII letter imitates (UTS #39 confusables, or a small capital's name), or None."""
    if ch.isascii():
        return None
    for glyph in _confusables().get(ch, ()):
        twin = glyph.get("c", "")
        if len(twin) == 1 and twin.isascii() and twin.isalpha():
            # The skeleton of I is l; a capital that looks like I is read as I.
            return "I" if twin == "l" and ch.isupper() else twin
    m = _SMALL_CAPITAL.fullmatch(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else None


# Look-alikes that are also ordinary spelling: read as their twin, never flagged (Turkish and Azerbaijani ı).
_ORDINARY_LOOKALIKES = frozenset("ı")


@lru_cache(maxsize=8192)
def _odd_latin(ch: str) -> str | None:
    """The twin of a Latin-script letter outside ordinary orthography (small capitals, IPA), or None."""
    return _latin_twin(ch) if _script(ch) == "LATIN" else None


@lru_cache(maxsize=8192)
def _read_char(ch: str) -> str:
    """What one character reads as, out of context."""
    cp = ord(ch)
    if _TAG_FIRST + 0x20 <= cp <= _TAG_LAST - 1:
        return chr(cp - _TAG_FIRST)
    if ch in _SPACES:
        return " "
    if unicodedata.category(ch) == "Cf" or ch == _CGJ:
        return ""
    nfkc = unicodedata.normalize("NFKC", ch)
    if nfkc == ch:
        return ch
    # `™` is not the letters TM, nor `´` a space and an accent: a reading must not split or glue words.
    if (unicodedata.category(ch)[0] == "S" and len(nfkc) > 1 and _unparenthesised(nfkc) is None) or (
            nfkc[0] == " " and not ch.isspace()):
        return ch
    return _unparenthesised(nfkc) or nfkc


def _unparenthesised(nfkc: str) -> str | None:
    # `⒡` is `(f)` in NFKC; read it as the letter, as the circled `ⓕ` is.
    return nfkc[1] if len(nfkc) == 3 and nfkc[0] == "(" and nfkc[2] == ")" and nfkc[1].isalnum() else None


# --------------------------------------------------------------------------------------------
# The reading, step by step.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """The reading before look-alikes are mapped: its characters, their sources, and the look-alikes."""

    chars: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    mapped: tuple[int, ...]  # positions read as their Latin twin
    flagged: tuple[int, ...]  # positions that are look-alikes (mapped ones, less ordinary spelling, and more)


@lru_cache(maxsize=256)
def _reading(text: str) -> _Reading:
    """The reading of a non-ASCII line, shared by `normalise` and `suspicious_characters`."""
    chars, starts, ends = _read_chars(text, _display_order(text))
    chars, starts, ends = _fold_marks(chars, starts, ends)
    mapped, flagged = _lookalike_hits(chars)
    return _Reading(tuple(chars), tuple(starts), tuple(ends), tuple(mapped), tuple(flagged))


def _selector_belongs(ch: str, before: str, after: str) -> bool:
    """A variation selector chooses an emoji's glyph (a keycap's too) or an ideograph's; elsewhere it hides."""
    if not before:
        return False
    if ord(ch) >= 0xE0100:
        return _script(before) == "HAN"
    if before in _KEYCAP_BASES:
        return after == _KEYCAP
    return _is_emoji(before)


def _read_chars(text: str, order: Iterable[int] | None) -> tuple[list[str], list[int], list[int]]:
    """Each character read on its own (in display order, when given), with the original index it came from."""
    if order is None:
        # Most of a line is ASCII, which reads as itself: only the other characters are looked at one by one,
        # and while each reads as one character the indexes stay the identity.
        reads = {i: _read_at(text, i) for m in _NON_ASCII.finditer(text) for i in range(m.start(), m.end())}
        if all(len(read) == 1 for read in reads.values()):
            same = list(text)
            for i, read in reads.items():
                same[i] = read
            return same, list(range(len(text))), list(range(1, len(text) + 1))
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if order is not None:
        for i in order:
            _append(chars, starts, ends, i, _read_at(text, i))
        return chars, starts, ends
    done = 0
    for i, read in reads.items():
        chars.extend(text[done:i])
        starts.extend(range(done, i))
        ends.extend(range(done + 1, i + 1))
        _append(chars, starts, ends, i, read)
        done = i + 1
    chars.extend(text[done:])
    starts.extend(range(done, len(text)))
    ends.extend(range(done + 1, len(text) + 1))
    return chars, starts, ends


def _append(chars: list[str], starts: list[int], ends: list[int], i: int, read: str) -> None:
    for piece in read:
        chars.append(piece)
        starts.append(i)
        ends.append(i + 1)


def _read_at(text: str, i: int) -> str:
    """The reading of the character at i (a variation selector's or a tag's depends on its neighbours)."""
    ch = text[i]
    if _is_variation_selector(ch):
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        return ch if _selector_belongs(ch, before, after) else ""
    if _is_tag(ch) and _in_emoji_tag_sequence(text, i):
        return ""  # a subdivision flag's tag letters are the emoji's business, not hidden text
    return _read_char(ch)


def _non_ascii(text: str) -> Iterable[str]:
    return (ch for m in _NON_ASCII.finditer(text) for ch in m.group())


def _fold_marks(chars: list[str], starts: list[int], ends: list[int]) -> tuple[list[str], list[int], list[int]]:
    """Combining marks composed with their base where they compose, dropped where they only obscure it."""
    joined = "".join(chars)
    marks = [k for m in _NON_ASCII.finditer(joined) for k in range(m.start(), m.end()) if _is_mark(joined[k])]
    if not marks:
        return chars, starts, ends
    out_c: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    done = 0  # chars[:done] are in the output
    for i, j in _clusters(marks):
        base_at = i - 1
        out_c.extend(chars[done:max(base_at, done)])
        out_s.extend(starts[done:max(base_at, done)])
        out_e.extend(ends[done:max(base_at, done)])
        done = j
        if base_at < 0:
            continue  # marks with no base to sit on
        base, cluster = chars[base_at], tuple(chars[i:j])
        for piece in "".join((base, *cluster)) if _keeps_marks(base, cluster) else _compose(base, cluster):
            out_c.append(piece)
            out_s.append(starts[base_at])
            out_e.append(ends[j - 1])  # a dropped mark still belongs to its letter's span
    out_c.extend(chars[done:])
    out_s.extend(starts[done:])
    out_e.extend(ends[done:])
    return out_c, out_s, out_e


def _clusters(marks: list[int]) -> Iterable[tuple[int, int]]:
    """The runs [i, j) of consecutive positions."""
    k = 0
    while k < len(marks):
        i = j = marks[k]
        while k < len(marks) and marks[k] == j:
            j += 1
            k += 1
        yield i, j


def _keeps_marks(base: str, marks: tuple[str, ...]) -> bool:
    """Marks that belong: those of scripts that need them, an emoji's, a keycap's."""
    if not marks:
        return True
    if base in _KEYCAP_BASES or _is_variation_selector(base):
        return all(m == _KEYCAP for m in marks)
    return _script(base) not in _FOLDING_SCRIPTS or unicodedata.category(base) == "So"


@lru_cache(maxsize=8192)
def _compose(base: str, marks: tuple[str, ...]) -> str:
    """The base with the marks that compose onto it (NFC); the others, or a stack of more than two, dropped."""
    if len(marks) > 2:
        return base
    current = base
    for mark in marks:
        composed = unicodedata.normalize("NFC", current + mark)
        if len(composed) == 1:
            current = composed
    return current


@lru_cache(maxsize=8192)
def _wordish(ch: str) -> bool:
    """A letter, or a symbol that imitates one (`℮`): what a word is made of, for the look-alike reading."""
    return ch.isalpha() or (not ch.isascii() and unicodedata.category(ch)[0] == "S" and _latin_twin(ch) is not None)


def _words(joined: str) -> list[tuple[str, int]]:
    """The word-like runs of a text, each with its start."""
    if not any(_wordish(c) and not c.isalpha() for c in _non_ascii(joined)):
        return [(m.group(), m.start()) for m in _LETTERS.finditer(joined)]  # letters only: the regex is faster
    words: list[tuple[str, int]] = []
    start = -1
    for k, ch in enumerate(joined):
        if _wordish(ch):
            if start < 0:
                start = k
        elif start >= 0:
            words.append((joined[start:k], start))
            start = -1
    if start >= 0:
        words.append((joined[start:], start))
    return words


def _lookalike_hits(chars: Sequence[str]) -> tuple[list[int], list[int]]:
    """The positions read as Latin twins, and the positions flagged as look-alikes (see the module's docstring)."""
    mapped: list[int] = []
    flagged: list[int] = []
    joined = "".join(chars)
    if not any(map(_wordish, _non_ascii(joined))):
        return mapped, flagged
    words = _words(joined)
    latin_line = any(word.isascii() for word, _s in words) or any(_word_scripts(w) == {"LATIN"} for w, _s in words)
    for word, s in words:
        if word.isascii():
            continue
        hits = [s + k for k in _lookalike_positions(word, latin_line)]
        mapped.extend(hits)
        flagged.extend(k for k in hits if chars[k] not in _ORDINARY_LOOKALIKES)
        flagged.extend(s + k for k in _mixed_without_twins(word))
    return mapped, flagged


def _word_scripts(word: Sequence[str]) -> set[str]:
    return {_script(c) for c in word} - _NEUTRAL_SCRIPTS


def _lookalike_positions(word: Sequence[str], latin_line: bool) -> list[int]:
    """The positions in a word whose letters are read (and flagged) as Latin look-alikes."""
    odd = [k for k, c in enumerate(word) if _odd_latin(c)]
    scripts = _word_scripts(word)
    foreign = [k for k, c in enumerate(word) if _script(c) != "LATIN" and not c.isascii()]
    symbols = [k for k in foreign if _script(word[k]) in _NEUTRAL_SCRIPTS]
    if "LATIN" in scripts and not scripts & _MIXING_SCRIPTS:
        if all(_latin_twin(word[k]) for k in foreign):
            return sorted(set(odd) | set(foreign))
        return odd + symbols
    if latin_line and len(word) >= 3 and _lower_word(word) and all(_latin_twin(c) for c in word):
        return list(range(len(word)))  # a whole-script look-alike (`ргісе`) among Latin words
    return odd


def _lower_word(word: Sequence[str]) -> bool:
    # Lower or title case: an all-capital word of look-alikes is more likely an acronym (ООО, МТС) than a trick.
    text = "".join(word)
    return text.islower() or (text[0].isupper() and text[1:].islower())


# --------------------------------------------------------------------------------------------
# Bidi: display order under explicit embeddings and overrides.
# --------------------------------------------------------------------------------------------

_OPENERS = {"\u202a": ("L", None, False), "\u202b": ("R", None, False), "\u202d": ("L", "L", False),
            "\u202e": ("R", "R", False), "\u2066": ("L", None, True), "\u2067": ("R", None, True),
            "\u2068": ("L", None, True)}  # FSI is read as LRI: a first line is left to right
_PDF, _PDI = "\u202c", "\u2069"
_OPENER = re.compile("[\u202a\u202b\u202d\u202e\u2066-\u2068]")


@dataclass
class _Atom:
    indexes: list[int]  # a character and the marks on it
    level: int
    kind: str  # "L", "R" or "N" (neutral), as resolved
    forced: bool  # under an override
    natural: str  # the kind before any override


def _display_order(text: str) -> list[int] | None:
    """The original indexes in display order, or None when the line has no explicit embedding."""
    if not _OPENER.search(text):
        return None
    atoms = _atoms(text)
    _resolve_neutrals(atoms)
    for atom in atoms:
        if atom.level and not atom.forced and (atom.level % 2 == 1) != (atom.kind == "R"):
            atom.level += 1
    order = _reorder(atoms)
    return [i for atom in order for i in atom.indexes]


def _atoms(text: str) -> list[_Atom]:
    """The characters with their embedding levels (X1-X8, simplified); the controls themselves are left out."""
    stack: list[tuple[int, str | None, bool]] = [(0, None, False)]
    atoms: list[_Atom] = []
    for i, ch in enumerate(text):
        level, forced, _isolate = stack[-1]
        if ch in _OPENERS:
            direction, override, isolate = _OPENERS[ch]
            rtl = direction == "R"
            stack.append((level + 1 if (level % 2 == 0) == rtl else level + 2, override, isolate))
        elif ch == _PDF:
            if len(stack) > 1 and not stack[-1][2]:
                stack.pop()
        elif ch == _PDI:
            while len(stack) > 1 and not stack.pop()[2]:
                pass
        elif ch in "\n\u2029":
            stack = [(0, None, False)]
            atoms.append(_Atom([i], 0, "N", False, "N"))
        elif _is_mark(ch) and atoms and atoms[-1].indexes[-1] == i - 1:
            atoms[-1].indexes.append(i)
        else:
            natural = _bidi_kind(ch)
            atoms.append(_Atom([i], level, forced or natural, forced is not None, natural))
    return atoms


@lru_cache(maxsize=8192)
def _bidi_kind(ch: str) -> str:
    kind = unicodedata.bidirectional(ch)
    if kind in ("R", "AL"):
        return "R"
    return "L" if kind in ("L", "EN", "AN") else "N"  # numbers read left to right, as in L


def _resolve_neutrals(atoms: list[_Atom]) -> None:
    """A neutral between two strong characters of one direction takes it; otherwise its embedding's (N1, N2)."""
    k = 0
    while k < len(atoms):
        end = k
        while end < len(atoms) and atoms[end].level == atoms[k].level:
            end += 1
        if atoms[k].level:
            _resolve_run(atoms[k:end], "R" if atoms[k].level % 2 else "L")
        k = end


def _resolve_run(run: list[_Atom], own: str) -> None:
    after: list[str] = []  # the next strong kind after each atom, found from the end
    following = own
    for atom in reversed(run):
        after.append(following)
        if atom.kind != "N":
            following = atom.kind
    after.reverse()
    before = own
    for atom, next_kind in zip(run, after, strict=True):
        if atom.kind != "N":
            before = atom.kind
        else:
            atom.kind = before if before == next_kind else own


def _reorder(atoms: list[_Atom]) -> list[_Atom]:
    """L2: reverse every run at or above each level, from the highest to the lowest odd one; then read runs of
    right-to-left script in their own order, as their reader does."""
    order = list(atoms)
    levels = [a.level for a in atoms if a.level]
    if not levels:
        return order
    for level in range(max(levels), 0, -1):
        order = _reverse_runs(order, _at_least(level))
    # Latin letters forced right to left are read as displayed; right-to-left script is read in its own order,
    # with the neutrals between its letters (a forced neutral elsewhere is read where it shows).
    inside = {id(a) for a in _rtl_reading(order)}
    return _reverse_runs(order, lambda a: id(a) in inside)


def _rtl_reading(order: list[_Atom]) -> list[_Atom]:
    """The atoms, in display order, that a reader of right-to-left script reads from right to left."""
    strong = [k for k, a in enumerate(order) if a.natural != "N"]
    out = []
    for k, atom in enumerate(order):
        if not atom.level or atom.kind != "R" or atom.natural == "L":
            continue
        if atom.forced and atom.natural == "N":
            at = bisect_left(strong, k)  # the strong atoms either side of this neutral
            if not 0 < at < len(strong) or order[strong[at - 1]].natural != "R" or order[strong[at]].natural != "R":
                continue
        out.append(atom)
    return out


def _at_least(level: int) -> Callable[[_Atom], bool]:
    return lambda atom: atom.level >= level


def _reverse_runs(atoms: list[_Atom], inside: Callable[[_Atom], bool]) -> list[_Atom]:
    """The atoms with each maximal run for which `inside(atom)` holds reversed."""
    out: list[_Atom] = []
    run: list[_Atom] = []
    for atom in atoms:
        if inside(atom):
            run.append(atom)
            continue
        out.extend(reversed(run))
        run = []
        out.append(atom)
    out.extend(reversed(run))
    return out


# --------------------------------------------------------------------------------------------
# Leetspeak.
# --------------------------------------------------------------------------------------------

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "|": "l"}
_LEET_RUN = re.compile(r"(?:[^\W_]|[@$!|])+")
_LEET_HINT = re.compile(r"[01345789@$!|]")
_LEAD_OK = "@$"  # `$ale`, `@ll`; a leading `!` or `|`, and any trailing symbol, is punctuation
# What follows a number as its ordinal or unit, not as letters: 4th, 10x, 5k, 9am, 3gb.
_NUMBER_SUFFIXES = frozenset({"st", "nd", "rd", "th", "s", "x", "k", "m", "mm", "b", "bn", "am", "pm", "h", "hr",
                              "hrs", "min", "d", "g", "kg", "km", "mb", "gb", "tb", "yr", "yrs"})


def leet_fold(text: str) -> str:
    """Digits and symbols inside words that also have letters, read as the letters they imitate (one for one)."""
    if not _LEET_HINT.search(text):
        return text
    out = list(text)
    for m in _LEET_RUN.finditer(text):
        s, e = m.span()
        while s < e and text[s] in _LEET and not text[s].isalnum() and text[s] not in _LEAD_OK:
            s += 1
        while e > s and text[e - 1] in _LEET and not text[e - 1].isalnum():
            e -= 1
        if _is_leet(text[s:e]):
            for k in range(s, e):
                out[k] = _LEET.get(text[k], text[k])
    return "".join(out)


def _is_leet(word: str) -> bool:
    """Does a word mix letters with look-alike digits or symbols (`fr33`), and is it not a code (`B2B`, `4th`)?"""
    if not any(c.isalpha() for c in word) or not any(c in _LEET for c in word):
        return False
    if any(c.isdigit() and c not in _LEET for c in word):
        return False  # B2B, H2O, Office365: a digit with no letter to imitate makes it a code
    if word[0] == "$" and word[1:2].isdigit():
        return False  # an amount: $40k
    if word[0].isupper() and word[1:].isdigit():
        return False  # a quarter, a paper size, a model: Q3, A4, F150
    digits = len(word) - len(word.lstrip("0123456789"))
    rest = word[digits:]
    # A number and its unit or ordinal: 4th, 3D, 5G, 2FA.
    return not (digits and rest.isalpha() and (rest.lower() in _NUMBER_SUFFIXES or rest.isupper()))


# --------------------------------------------------------------------------------------------
# What the reading had to undo: suspicious characters in the original line.
# --------------------------------------------------------------------------------------------

Kind = Literal["invisible", "bidi", "tag", "private_use", "unassigned", "surrogate", "stacked_marks", "lookalike",
               "compatibility"]
HIDDEN_KINDS: frozenset[str] = frozenset({"invisible", "bidi", "tag", "private_use", "unassigned", "surrogate"})
LOOKALIKE_KINDS: frozenset[str] = frozenset({"stacked_marks", "lookalike", "compatibility"})


@dataclass(frozen=True)
class Suspicious:
    """A run of adjacent characters of one suspicious kind in the original line, [start, end)."""

    start: int
    end: int
    kind: Kind
    detail: str  # the code points, e.g. "U+200B ZERO WIDTH SPACE"


def describe(ch: str) -> str:
    """A character as the standard names it: "U+200B ZERO WIDTH SPACE"."""
    cp = ord(ch)
    name = unicodedata.name(ch, "")
    if not name:
        name = {"Cs": "(surrogate)", "Co": "(private use)"}.get(unicodedata.category(ch), "(unassigned)")
    return f"U+{cp:04X} {name}"


def suspicious_characters(text: str) -> list[Suspicious]:
    """The runs of hidden, bidi, tag, private-use, unassigned, surrogate, stacked-mark, look-alike and
    compatibility characters in the original line (see the module's docstring for what is not suspicious)."""
    if text.isascii():
        return []  # ASCII control characters are other.control_chars' business
    return list(_suspicious(text))


@lru_cache(maxsize=256)
def _suspicious(text: str) -> tuple[Suspicious, ...]:
    # Only non-ASCII characters can be suspicious here (ASCII controls are other.control_chars').
    at = [i for m in _NON_ASCII.finditer(text) for i in range(m.start(), m.end())]
    kinds: dict[int, Kind] = {}
    for i, kind in _hidden(text, at):
        kinds.setdefault(i, kind)
    for i in _stacked_marks(text, at):
        kinds.setdefault(i, "stacked_marks")
    for i in _lookalikes(text):
        kinds.setdefault(i, "lookalike")
    for i in at:
        if i not in kinds and _compatibility(text[i], text, i):
            kinds[i] = "compatibility"
    return tuple(_runs(text, kinds))


def _runs(text: str, kinds: dict[int, Kind]) -> Iterable[Suspicious]:
    """Adjacent characters of one kind as one span."""
    at = sorted(kinds)
    k = 0
    while k < len(at):
        end = k
        while end + 1 < len(at) and at[end + 1] == at[end] + 1 and kinds[at[end + 1]] == kinds[at[k]]:
            end += 1
        chars = dict.fromkeys(text[at[k]:at[end] + 1])
        yield Suspicious(at[k], at[end] + 1, kinds[at[k]], ", ".join(describe(ch) for ch in chars))
        k = end + 1


@lru_cache(maxsize=8192)
def _hidden_kind(ch: str) -> Kind | None:
    """A character's hidden kind, out of context."""
    if ch in _BIDI:
        return "bidi"
    if _is_tag(ch):
        return "tag"
    category = unicodedata.category(ch)
    if category == "Cs":
        return "surrogate"
    if category == "Co":
        return "private_use"
    if category == "Cn":
        # Emoji newer than this Python's Unicode data are unassigned here, and are another rule's business.
        return None if 0x1F000 <= ord(ch) <= 0x1FAFF else "unassigned"
    if category == "Cf" or ch in _BLANK_LETTERS or ch == _CGJ or _is_variation_selector(ch):
        return "invisible"
    return None


def _hidden(text: str, at: list[int]) -> Iterable[tuple[int, Kind]]:
    """The hidden characters of a line (at the positions `at`), less those that belong: an emoji's joiners,
    selectors and tags, and the joiners that Persian, Indic and other scripts spell with."""
    for i in at:
        kind = _hidden_kind(text[i])
        if kind is not None and not _belongs(text, i):
            yield i, kind


def _belongs(text: str, i: int) -> bool:
    ch = text[i]
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if _is_variation_selector(ch):
        return _selector_belongs(ch, before, after)
    if ch == "\u200d" and before and after and _is_emoji(before) and _is_emoji(after):
        return True
    if ch in "\u200c\u200d" and before and after:
        scripts = {_script(before), _script(after)} - _NEUTRAL_SCRIPTS
        return (all(c.isalpha() or _is_mark(c) for c in (before, after)) and bool(scripts)
                and not scripts & _FOLDING_SCRIPTS)
    if _is_tag(ch):
        return _in_emoji_tag_sequence(text, i)
    return False


def _in_emoji_tag_sequence(text: str, i: int) -> bool:
    """Is the tag character part of a flag such as England's (U+1F3F4, tag letters, U+E007F)?"""
    s = i
    while s > 0 and _is_tag(text[s - 1]):
        s -= 1
    e = i
    while e < len(text) and _is_tag(text[e]) and text[e] != "\U000e007f":
        e += 1
    return s > 0 and text[s - 1] == "\U0001f3f4" and e < len(text) and text[e] == "\U000e007f"


def _stacked_marks(text: str, at: list[int]) -> Iterable[int]:
    """Marks (among the positions `at`) that obscure their Latin, Greek, Cyrillic or neutral base: overlays and
    other marks that do not compose, marks with no base, or more than two on one letter. One accent that does not
    compose (Yoruba `ẹ́`) is ordinary spelling and is not counted."""
    n = len(text)
    done = 0
    for i in at:
        if i < done or not _is_mark(text[i]):
            continue
        j = i
        while j < n and _is_mark(text[j]):
            j += 1
        done = j
        base = text[i - 1] if i else ""
        marks = tuple(text[i:j])
        if not base or not _keeps_marks(base, marks):
            yield from (k for k, mark in zip(range(i, j), marks, strict=True) if not _orthographic(base, marks, mark))


def _orthographic(base: str, marks: tuple[str, ...], mark: str) -> bool:
    """Is this mark ordinary spelling on its base?"""
    if not base or len(marks) > 2:
        return False
    read = unicodedata.normalize("NFKC", base)
    if len(read) == 1 and len(unicodedata.normalize("NFC", read + mark)) == 1:
        return True
    # An accent from the combining-diacritics block that is not an overlay (class 1) or an enclosing mark.
    return (read.isalpha() and 0x0300 <= ord(mark) <= 0x036F and unicodedata.combining(mark) != 1
            and len(marks) == 1)


def _lookalikes(text: str) -> Iterable[int]:
    """The original positions of the letters the reading flags as look-alikes."""
    reading = _reading(text)
    return (reading.starts[k] for k in reading.flagged)


def _mixed_without_twins(word: Sequence[str]) -> Iterable[int]:
    """In a word that mixes Latin with another script that has no twin for every letter (`Москвa`), the letters
    of the script in the minority."""
    scripts = _word_scripts(word)
    if len(scripts) < 2 or "LATIN" not in scripts or scripts & _MIXING_SCRIPTS:
        return
    foreign = [k for k, c in enumerate(word) if _script(c) not in _NEUTRAL_SCRIPTS | {"LATIN"}]
    if all(_latin_twin(word[k]) for k in foreign):
        return  # read as Latin, and already counted
    latin = [k for k, c in enumerate(word) if _script(c) == "LATIN"]
    yield from latin if len(latin) < len(foreign) else foreign


@lru_cache(maxsize=8192)
def _compat_kind(ch: str) -> str | None:
    """The NFKC decomposition tag of a letter or digit whose NFKC form differs (`wide`, `font`, `circle` ...)."""
    category = unicodedata.category(ch)
    if ch in _ORDINARY_COMPAT or not (category[0] == "L" or category in ("Nd", "So")) or _script(ch) == "HAN":
        return None  # CJK compatibility ideographs are Han text, not Latin look-alikes
    nfkc = unicodedata.normalize("NFKC", ch)
    if nfkc == ch or (category == "So" and not (len(nfkc) == 1 and nfkc.isalnum()) and not _unparenthesised(nfkc)):
        return None
    decomposition = unicodedata.decomposition(ch)
    tag = decomposition[1:decomposition.index(">")] if decomposition.startswith("<") else "canonical"
    # Halfwidth kana and hangul, and Arabic presentation forms, are ordinary text of their scripts.
    return None if tag in ("narrow", "isolated", "initial", "medial", "final") else tag


def _compatibility(ch: str, text: str, i: int) -> bool:
    """A compatibility letter or digit (fullwidth, mathematical, circled, superscript) that ordinary text does not
    use; fullwidth Latin beside CJK text (`ＡＢＣ株式会社`) is ordinary."""
    if ch.isascii():
        return False
    tag = _compat_kind(ch)
    if tag is None:
        return False
    if tag == "wide":
        near = text[max(0, i - 8):i + 9]
        return not any(_script(c) in _MIXING_SCRIPTS for c in near)
    return True
