"""The analysis every rule shares: text folding, the compiled policy, the grounded record and the draft's analysis.

All rules share one analysis of the (draft, record, policy) triple, computed once and memoised, so that a
full run costs one pass of tokenising and grounding rather than one per rule.

The workhorse is grounding: every number and every capitalised name in the line must be supported by the
record (all fields, notes and extra columns), less any sentence of the record that carries instructions
aimed at the model; those are not facts, and a line that repeats them obeys an injection.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property, lru_cache
from typing import Any, cast

from anyascii import anyascii
from rapidfuzz import fuzz

from critics.findings import Category, Finding, Severity, SourceSpan
from critics.normalise import leet_fold, normalise, normalise_text
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.provenance import (
    Claim,
    Source,
    base_form,
    fact_index,
    foreign_number,
    is_english,
    is_english_record,
    is_phrasing,
    language_of,
    line_language,
    phrasing_phrases,
    scaled_numbers,
    trace_word,
    word_stems,
)
from critics.record import Quarantined, lexicon_verbs, read_record

Span = tuple[int, int]

# --------------------------------------------------------------------------------------------
# Text folding. Folding must keep the length of the text, so that a span found in the folded
# text is the same span in the draft.
# --------------------------------------------------------------------------------------------

_SPECIAL = {
    "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ı": "i", "ß": "ß",
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "“": '"', "”": '"', "„": '"',
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2011": "-", "\u2010": "-",
}


class _FoldTable(dict[int, str]):
    """str.translate table that folds case, accents and curly quotes one character at a time."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = _SPECIAL.get(ch)
        if out is None:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out = base.lower() if len(base) == 1 else ch.lower()
            if len(out) != 1:
                out = ch
        self[code] = out
        return out


_FOLD = _FoldTable()


def fold(text: str) -> str:
    return text.translate(_FOLD)


# A word: letters/digits, with inner . ' & - joining parts ("A.J", "R&D", "Smith-Jones",
# "Ohio's"). Underscores are left out so template tokens split apart (they are masked anyway).
_WORD = re.compile(r"[^\W_]+(?:[.'’&\-][^\W_]+)*")
_SPLIT_PARTS = re.compile(r"[.'&\-]")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_CAPS = re.compile(r"\b[A-Z][A-Z0-9&]*\b")
_PART = re.compile(r"[^\W_]+")
_PEOPLE = re.compile(r"\b([A-Z][^\W\d_]+)\s+([A-Z][^\W\d_]+)\b")

PLACEHOLDER = re.compile(
    r"\{\{[^{}]{0,60}\}\}"                      # {{company_name}}
    r"|\$\{[^{}]{1,60}\}"                       # ${first_name}
    r"|\{[^{}\s][^{}]{0,58}\}"                  # {first_name}
    r"|\[\[?[^\W\d][\w .'’/-]{0,58}\]\]?"       # [Company], [FIRST_NAME]
    r"|<[^\W\d][\w .'’/-]{0,58}>"               # <first name>, <COMPANY>
    r"|%\(\w+\)s|(?<!\w)%s(?!\w)"               # printf style
    r"|\b[A-Za-z]+(?:_[A-Za-z]+)+\b"            # bare FIRST_NAME / company_name
    r"|\bX{3,}\b"
)
_LINK = re.compile(
    # A link ends at white space, a quote or a bracket: `=hyperlink("http://x/y","Acme ...")` must not swallow the name.
    r"(?i)\bhttps?://[^\s\"'<>()\[\]{}]+|\bwww\.[^\s\"'<>()\[\]{}]+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b[a-z0-9][\w-]*(?:\.[a-z0-9][\w-]*)*\.(?:com|net|org|io|co|ai|biz|info|us|ca|uk|app|dev|xyz|shop|site|online|ly|me)\b(?:/\S*)?"
)
# Cheap tests that let most drafts skip the costlier patterns below them.
_LINK_HINT = re.compile(r"[\w-]\.[a-z]{2}|@|www|http")
PLACEHOLDER_HINT = re.compile(r"[{\[<%_]|XXX")
_PHONE = re.compile(r"\+?\(?\d[\d().\s-]{4,}\d")
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F\u200D]+")
MARKDOWN = re.compile(r"\*\*|__|^\s*(?:#{1,6}|>|[-*•]\s)")
MARKDOWN_HINT = re.compile(r"[*_#>•]|^\s*-")
WRAP_QUOTES = {'"': '"', "“": "”", "”": "”", "'": "'", "‘": "’", "’": "’", "«": "»"}
PAREN = re.compile(r"\(([^()]{3,})\)")

# Sentence ends: a terminator, closing quotes/brackets, whitespace, then more text.
_BREAK = re.compile(r"(\.{3}|…|[.!?]+)([\"'”’)\]]*)(\s+)(?=(\S))")
_PREV_WORD = re.compile(r"([^\W\d_](?:[^\W\d_]|\.)*)$")

# Numbers. Number words are grammar, not policy, so they live here.
_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ORDINALS = {
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "twentieth": 20, "thirtieth": 30, "fiftieth": 50, "hundredth": 100,
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 1_000_000_000_000}
_SUFFIX_SCALES = {"k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_ORDINALS) | frozenset(_SCALES)
_DIGITS = re.compile(
    r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:(?:st|nd|rd|th|s)\b|(k|mm|m|bn|b)\b|\s+(hundred|thousand|million|billion|trillion)\b)?"
)


def _spelled_value(text: str) -> float | None:
    """Value of a run of number words ("two million", "twenty-five", "a dozen"); None for a lone "one"."""
    words = [w for w in re.split(r"[\s-]+", text) if w and w not in ("and", "a")]
    if words == ["one"]:
        return None  # "one of", "one to watch": almost never a numeric claim
    total = 0
    current = 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _ORDINALS:
            current += _ORDINALS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in _SCALES:
            total += max(current, 1) * _SCALES[w]
            current = 0
    return float(total + current)


def _starts_word(text: str, regex: re.Pattern[str], extra: str = "") -> Iterable[re.Match[str]]:
    """Matches of `regex` that do not start inside a word (nor after a char in `extra`). The check is
    done here rather than as a lookbehind, which would stop the re engine skipping ahead."""
    pos = 0
    while True:
        m = regex.search(text, pos)
        if m is None:
            return
        s = m.start()
        if s and (text[s - 1].isalnum() or text[s - 1] == "_" or text[s - 1] in extra):
            pos = m.end() if m.end() > s else s + 1
            continue
        yield m
        pos = m.end() if m.end() > s else s + 1


def _numbers(folded: str, parts: Iterable[str] | None = None) -> list[tuple[int, int, float]]:
    """Every number in folded text, digits or words, with its span and value."""
    out: list[tuple[int, int, float]] = []
    for m in _starts_word(folded, _DIGITS, "."):
        value = float(m.group(1).replace(",", "") + (m.group(2) or ""))
        if m.group(3):
            value *= _SUFFIX_SCALES[m.group(3)]
        elif m.group(4):
            value *= _SCALES[m.group(4)]
        out.append((m.start(), m.end(), round(value, 6)))
    if parts is not None and _NUMBER_WORDS.isdisjoint(parts):
        return out
    for m in _starts_word(folded, _SPELLED):
        spelled = _spelled_value(m.group())
        if spelled is not None:
            out.append((m.start(), m.end(), round(spelled, 6)))
    return out


def _levenshtein(a: str, b: str) -> int:
    if abs(len(a) - len(b)) > 3:
        return 4
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def near(a: str, b: str) -> bool:
    """A likely misspelling of b: same first letter, different, within two edits (names of 3+ letters)."""
    return len(a) >= 3 and len(b) >= 3 and a[0] == b[0] and a != b and _levenshtein(a, b) <= 2


def strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word


def overlaps(s: int, e: int, spans: Iterable[Span]) -> bool:
    return any(s < b and a < e for a, b in spans)


# --------------------------------------------------------------------------------------------
# The compiled policy, cached per policy object (a weak reference drops it with the policy).
# Policies are read once: change a policy with model_copy(update=...) rather than in place.
# --------------------------------------------------------------------------------------------


def _trie(terms: list[str], boundary: str = r"(?![\w-])") -> str:
    """A regex for a word list, shaped as a trie: one alternation per shared prefix is many times faster
    for the re engine than a flat alternation of dozens of phrases."""
    root: dict[str, Any] = {}
    for term in terms:
        node = root
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {"term": term}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if "" in node:
            term = node[""]["term"]
            alts.append(boundary if term[-1].isalnum() else "")  # the shorter term, after the longer ones
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return build(root)


# Number words: a trie alternation, since a flat one of fifty words dominates the rule's run time.
_WORDNUM = r"(?:" + _trie(sorted(_NUMBER_WORDS), boundary=r"(?!\w)") + r")"
_SPELLED = re.compile(rf"{_WORDNUM}(?:[\s-]+(?:and[\s-]+)?{_WORDNUM})*")


def _terms_regex(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for a word list, on word boundaries, matched against folded text."""
    folded = sorted({fold(t.strip()) for t in terms if t.strip()})
    words = [t for t in folded if t[0].isalnum()]
    others = [t for t in folded if not t[0].isalnum()]
    parts = ([r"(?<![\w-])" + _trie(words)] if words else []) + ([_trie(others)] if others else [])
    return re.compile("|".join(parts)) if parts else None


def _word_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _leading_literals(body: str) -> tuple[str, ...]:
    """The literal text every match of a regex must start with, one per top-level alternative of a
    leading group: "(?:take|hop\\s+on)..." gives ("take", "hop"). Empty when unsure (then the
    pattern always runs); the literals are only a cheap test for whether to run it."""
    if body[:1].isalpha():
        alts, rest = [body], ""
    elif body.startswith("(?:"):
        depth, i, alts, start = 0, 3, [], 3
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "|" and depth == 0:
                alts.append(body[start:i])
                start = i + 1
            i += 1
        else:
            return ()
        alts.append(body[start:i])
        rest = body[i + 1:i + 2]
        if rest in ("?", "*", "{"):
            return ()  # the whole group is optional
    else:
        return ()
    literals = []
    for alt in alts:
        m = re.match(r"[a-z0-9' &-]+", alt)
        if m is None:
            return ()
        literal = m.group()
        if alt[m.end():m.end() + 1] in ("?", "*", "{"):
            literal = literal[:-1]  # "instructions?": the last letter is optional
        if not literal.strip():
            return ()
        literals.append(literal)
    return tuple(literals)


class _PatternSet:
    """A policy's list of regexes, matched against folded text. Each is compiled on its own with a
    leading \\b taken out and checked by hand: without it the re engine can skip ahead to the
    pattern's possible first letters, which makes a scan two to three times faster."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.items: list[tuple[re.Pattern[str], bool, tuple[str, ...]]] = []
        for pattern in patterns:
            if not pattern:
                continue
            lead_b = pattern.startswith(r"\b")
            body = pattern[2:] if lead_b else pattern
            # Folded text is lower-case: IGNORECASE (which doubles the cost) only for patterns that
            # spell an upper-case letter outside an escape such as \W or \S.
            ignore_case = bool(re.search(r"(?<!\\)[A-Z]", body))
            flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
            cues = () if ignore_case else _leading_literals(body)
            self.items.append((re.compile(body, flags), lead_b, cues))

    def spans(self, text: str, first_only: bool = False) -> list[Span]:
        """Non-overlapping matches of each pattern (only the first found, with first_only)."""
        out: list[Span] = []
        for regex, lead_b, cues in self.items:
            if cues and not any(cue in text for cue in cues):
                continue  # none of the words the pattern must start with is in the text
            pos = 0
            while True:
                m = regex.search(text, pos)
                if m is None:
                    break
                s = m.start()
                if lead_b and _word_at(text, s - 1) == _word_at(text, s):
                    pos = s + 1  # not at a word boundary: \b would have failed here
                    continue
                out.append((s, m.end()))
                if first_only:
                    return out
                pos = max(m.end(), s + 1)
        return out


class _Phrases:
    """Several word lists matched in one pass: phrases are indexed by their first word, so a draft costs
    one walk over its words plus a startswith() per candidate, whatever the lists' length."""

    def __init__(self, lists: dict[str, Iterable[str]]) -> None:
        self.names = tuple(lists)
        self.by_first: dict[str, list[tuple[str, str, bool]]] = {}
        self.odd: list[tuple[str, str, bool]] = []  # phrases that start with a symbol: "% off", "/month"
        for name, terms in lists.items():
            for term in {fold(t.strip()) for t in terms if t.strip()}:
                entry = (term, name, term[-1].isalnum())
                first = _PART.match(term)
                if first is None:
                    self.odd.append(entry)
                else:
                    self.by_first.setdefault(first.group(), []).append(entry)
        for entries in self.by_first.values():
            entries.sort(key=lambda x: -len(x[0]))  # longest first: "free trial" before "free"

    def find(self, folded: str, parts: set[str] | None = None) -> dict[str, list[Span]]:
        """Leftmost-longest, non-overlapping matches of every list, by list name."""
        out: dict[str, list[Span]] = {name: [] for name in self.names}
        n = len(folded)
        found: list[tuple[int, int, str]] = []
        # Only the words that start some phrase are looked for, by str.find, which is far cheaper
        # than visiting every word of the draft.
        for word in self.by_first.keys() & (parts if parts is not None else set(_PART.findall(folded))):
            entries = self.by_first[word]
            s = folded.find(word)
            while s != -1:
                if not (s and (folded[s - 1].isalnum() or folded[s - 1] in "_-")):
                    done: set[str] = set()
                    for term, name, bounded in entries:
                        if name in done or not folded.startswith(term, s):
                            continue
                        e = s + len(term)
                        if bounded and e < n and (folded[e].isalnum() or folded[e] in "_-"):
                            continue
                        found.append((s, e, name))
                        done.add(name)
                s = folded.find(word, s + 1)
        for s, e, name in sorted(found):
            spans = out[name]
            if not spans or spans[-1][1] <= s:
                spans.append((s, e))
        for term, name, bounded in self.odd:
            start = folded.find(term)
            while start != -1:
                e = start + len(term)
                if not (bounded and e < n and (folded[e].isalnum() or folded[e] in "_-")):
                    out[name].append((start, e))
                start = folded.find(term, start + 1)
        return out


@dataclass(eq=False)
class _Injection:
    """The policy's signs of an instruction aimed at the model: phrases and regexes."""

    phrases: _Phrases
    patterns: _PatternSet

    def search(self, folded: str, parts: set[str] | None = None) -> bool:
        """Does the folded text carry an instruction to the model? (`parts`: its words, if known.)"""
        return bool(self.phrases.find(folded, parts)["injection"]) or bool(self.patterns.spans(folded, first_only=True))


@dataclass(eq=False)
class _Compiled:
    phrases: _Phrases
    pricing_pat: _PatternSet
    spam_pat: _PatternSet
    tone_pat: _PatternSet
    leak_open: re.Pattern[str] | None
    leak_paren: tuple[str, ...]
    injection: _Injection
    injection_ignore: frozenset[str]
    greet_start: re.Pattern[str] | None
    common: frozenset[str]
    allowed: frozenset[str]
    org: frozenset[str]
    abbrev: frozenset[str]
    shout_words: frozenset[str]
    untraced_limit: int = 2
    action_verbs: frozenset[str] = frozenset()


_NAME = r"([^\W\d_][^\W\d_]*(?:[-'’][^\W\d_]+)*)"
_G_NAME_FIRST = re.compile(rf"^[^\w<\[{{]*{_NAME}(?=\s*(?:,|!|:|—|–|\s-\s))")
_G_NAME_LAST = re.compile(rf"(?:,|—|–)\s*{_NAME}\s*[.!?…]*[\"'”’]?\s*$")
_G_NAME_MID = re.compile(rf",\s*{_NAME}\s*,")

_COMPILED: dict[int, tuple[weakref.ref[RulesPolicy], _Compiled]] = {}


def _compile(policy: RulesPolicy) -> _Compiled:
    greetings = sorted({fold(g.strip()) for g in policy.greeting_words if g.strip()}, key=len, reverse=True)
    greet = (
        re.compile(rf"^[^\w<\[{{]*(?:{'|'.join(re.escape(g) for g in greetings)})\b[\s,!.:\-]*{_NAME}", re.IGNORECASE)
        if greetings else None
    )
    allowed_single = set()
    allowed_multi = []
    for term in policy.allowed_terms:
        folded = fold(term.strip())
        if not folded:
            continue
        if _WORD.fullmatch(folded) and "-" not in folded:
            allowed_single.add(strip_possessive(folded))
        else:
            allowed_multi.append(term.strip())
    word_sets = [fold(t) for t in (*policy.spam_terms, *policy.pricing_terms)]
    return _Compiled(
        phrases=_Phrases({
            "pricing": policy.pricing_terms, "pricing_excl": policy.pricing_exclusions, "spam": policy.spam_terms,
            "tone": policy.tone_terms, "leak": policy.leak_terms, "allowed": allowed_multi,
            "claim": policy.claim_terms,
        }),
        pricing_pat=_PatternSet(policy.pricing_patterns),
        spam_pat=_PatternSet(policy.spam_patterns),
        tone_pat=_PatternSet(policy.tone_patterns),
        leak_open=(
            re.compile(r"^[^\w]*(?:" + _terms_regex(policy.leak_openers).pattern + ")")  # type: ignore[union-attr]
            if policy.leak_openers else None
        ),
        leak_paren=tuple(fold(t) for t in policy.leak_parenthetical_terms if t),
        injection=_Injection(_Phrases({"injection": policy.injection_terms}), _PatternSet(policy.injection_patterns)),
        injection_ignore=frozenset(fold(w) for w in policy.injection_ignore_words),
        greet_start=greet,
        common=frozenset(fold(w) for w in policy.common_words),
        allowed=frozenset(allowed_single),
        org=frozenset(fold(w).rstrip(".") for w in policy.org_words),
        abbrev=frozenset(fold(w).rstrip(".") for w in policy.abbreviations),
        shout_words=frozenset(w for t in word_sets for w in _WORD.findall(t)) | frozenset(fold(w) for w in policy.common_words),
        untraced_limit=policy.untraced_word_limit,
        action_verbs=frozenset(fold(w) for w in policy.action_verbs),
    )


def _compiled(policy: RulesPolicy) -> _Compiled:
    key = id(policy)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0]() is policy:
        return hit[1]
    comp = _compile(policy)
    def forget(_ref: object, key: int = key) -> None:
        _COMPILED.pop(key, None)

    _COMPILED[key] = (weakref.ref(policy, forget), comp)
    return comp


# --------------------------------------------------------------------------------------------
# The record, analysed once per prospect: what the line may draw on, and what was injected.
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Record:
    first: str
    first_parts: frozenset[str]
    last: str
    company: str
    company_folded: str
    company_words: frozenset[str]
    company_acronym: str
    tokens: set[str]
    clean: str
    clean_folded: str
    city_folded: str
    place_words: frozenset[str]
    injected: str
    injected_folded: str
    inj_strong: tuple[str, ...]
    inj_words: frozenset[str]
    quarantined: tuple[Quarantined, ...] = ()
    fact_cells: tuple[tuple[str, str], ...] = ()

    # Only some drafts need these (a number, an acronym, a name at the end), so they are computed on
    # first use: most records are analysed for exactly one draft.
    @cached_property
    def caps(self) -> frozenset[str]:
        return frozenset(_CAPS.findall(self.clean))

    @cached_property
    def people(self) -> frozenset[str]:
        # A person named in the notes shows up as two capitalised words in a row ("CEO Dana Reyes").
        people = {fold(word) for pair in _PEOPLE.findall(self.clean) for word in pair}
        return frozenset(people - set(self.company_folded.split()) - set(self.city_folded.split()))

    @cached_property
    def language(self) -> str | None:
        """The language of the record's facts, when it is not English (for stemming)."""
        return language_of(self.tokens)

    @cached_property
    def translit_tokens(self) -> frozenset[str]:
        """The record's words in Latin letters (transliterated), to match names a line writes in another script."""
        return frozenset(fold(anyascii(t)).lower() for t in self.tokens)

    @cached_property
    def english(self) -> bool:
        """Are the record's facts written in English (so that a line's words can be traced to them)?"""
        return is_english_record(self.clean, self.tokens)

    @cached_property
    def fact_stems(self) -> frozenset[str]:
        """The stems of every fact word, in English and in the record's language."""
        lang = self.language
        return frozenset(st for t in self.tokens for st in word_stems(base_form(t), lang))

    @cached_property
    def numbers(self) -> frozenset[float]:
        found = {v for _s, _e, v in _numbers(self.clean_folded, self.tokens)}
        if not self.english:
            found.update(v for v in map(foreign_number, self.tokens) if v is not None)
            found.update(scaled_numbers(self.clean_folded))
        return frozenset(found)


def _prospect_key(p: Prospect) -> tuple[object, ...]:
    # The raw values: the record reading (critics.record) normalises them itself, and must see what the
    # normalisation would drop (tag characters, bidi overrides) to quarantine it.
    return (p.first_name, p.last_name, p.title, p.company, p.industry, p.city, p.website, p.notes,
            tuple(p.extra.items()))


def _tokens(text_folded: str) -> set[str]:
    """Words of folded text, split at hyphens, periods, ampersands and apostrophes ("smith", "jones")."""
    return set(_PART.findall(text_folded))


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find_company(folded: str, company: str) -> list[Span]:
    """Where the folded company name occurs in the folded draft, on word boundaries, any whitespace."""
    if not company:
        return []
    if "  " in folded or "\n" in folded or "\t" in folded:
        pattern = r"\s+".join(re.escape(w) for w in company.split(" "))
        found = [m.span() for m in re.finditer(pattern, folded)]
    else:
        found = []
        start = folded.find(company)
        while start != -1:
            found.append((start, start + len(company)))
            start = folded.find(company, start + 1)
    end_word = _word_char(company[-1]) and not _UNSPACED.match(company[-1])
    start_word = not _UNSPACED.match(company[0])
    return [(s, e) for s, e in found
            if (s == 0 or not start_word or not _word_char(folded[s - 1]))
            and (not end_word or e == len(folded) or not _word_char(folded[e]))]


# Scripts written without spaces between words (and Korean, whose particles attach to the word): a name in them
# has no word boundary after it.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_MARKS = "®™©℠"


_FIELD_NAMES = ("first_name", "last_name", "title", "company", "industry", "city", "website", "notes")


@lru_cache(maxsize=16384)
def _read(text: str) -> str:
    """A record value as the rules read it (critics.normalise), remembered: names and titles recur across rows."""
    return normalise_text(text)


@lru_cache(maxsize=4096)
def _record(key: tuple[object, ...], comp: _Compiled) -> _Record:
    columns = cast("tuple[tuple[str, str], ...]", key[8])
    fields = tuple((name, str(v)) for name, v in zip(_FIELD_NAMES, key[:8], strict=True) if v)
    fields += tuple((k, str(v)) for k, v in columns if v)
    # The policy's own signs of an instruction are looked for sentence by sentence only in a record that has one.
    joined = fold("\n".join(_read(v) for _n, v in fields))
    policy_signs = (lambda sentence: comp.injection.search(fold(normalise_text(sentence)))) if comp.injection.search(
        joined) else None
    reading = read_record(fields, policy_signs)
    by_name = dict(reading.facts)
    first, last, company, city = (_read(by_name.get(f, "")) for f in ("first_name", "last_name", "company", "city"))
    industry, title = (_read(by_name.get(f, "")) for f in ("industry", "title"))
    clean_parts = [_read(text) for _name, text in reading.facts]
    clean = "\n".join(" ".join(p.split()) for p in clean_parts if p.strip())
    clean_folded = fold(clean)
    tokens = _tokens(clean_folded)
    company_words = fold(company.rstrip(_MARKS).rstrip()).split()
    company_folded = " ".join(company_words)
    acronym = "".join(w[0] for w in company_words if w[0].isalnum() and w not in ("of", "the", "and"))
    injected = normalise_text(reading.injected)
    injected_folded = fold(injected)
    strong: list[str] = []
    words: set[str] = set()
    if injected:
        strong.extend(m.group().rstrip(".") for m in _LINK.finditer(injected_folded))
        strong.extend(m.group() for m in _PHONE.finditer(injected_folded))
        strong.extend(m.group() for m in _starts_word(injected_folded, _DIGITS, "."))
        for m in _WORD.finditer(injected):
            word = strip_possessive(fold(m.group()))
            if word in tokens or word in comp.injection_ignore or len(word) < 3:
                continue
            words.add(word)
            if m.group()[0].isupper() and not _is_initial(injected, m.start()) and word not in comp.common:
                strong.append(word)
    strong = [s for s in strong if s and s not in clean_folded]
    return _Record(
        first=fold(first.strip()),
        first_parts=frozenset(p for p in fold(first).replace("-", " ").split() if len(p) > 1),
        last=fold(last.strip()),
        company=company.strip(),
        company_folded=company_folded,
        company_words=frozenset(_tokens(company_folded)),
        company_acronym=acronym if len(acronym) >= 2 else "",
        tokens=tokens,
        clean=clean,
        clean_folded=clean_folded,
        city_folded=fold(city),
        place_words=frozenset(_PART.findall(fold(f"{city} {industry} {title}"))),
        injected=injected,
        injected_folded=injected_folded,
        inj_strong=tuple(dict.fromkeys(strong)),
        inj_words=frozenset(words),
        quarantined=reading.quarantined,
        fact_cells=reading.facts,
    )


def _is_initial(text: str, start: int) -> bool:
    """Does the word at `start` open a sentence (so its capital letter says nothing)?"""
    i = start - 1
    while i >= 0 and (text[i].isspace() or text[i] in "\"'“”‘’([{*"):
        i -= 1
    return i < 0 or text[i] in ".!?:…"


def _grounded(word: str, tokens: AbstractSet[str]) -> bool:
    """Is a folded word in the record, allowing a plural or singular form?"""
    if word in tokens:
        return True
    if word.endswith("s") and (word[:-1] in tokens or (word.endswith("es") and word[:-2] in tokens)):
        return True
    return word + "s" in tokens or word + "es" in tokens


# --------------------------------------------------------------------------------------------
# The analysis of one draft, shared by every rule.
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Analysis:
    draft: str
    folded: str
    rec: _Record
    comp: _Compiled
    company_spans: list[Span]
    company_near: tuple[int, int, str] | None
    placeholders: list[Span]
    links: list[Span]
    parts: set[str]
    phrase_hits: dict[str, list[Span]]
    vocatives: list[tuple[int, int, str]] = field(default_factory=list)
    misspelled: list[tuple[int, int, str]] = field(default_factory=list)
    other_companies: list[Span] = field(default_factory=list)
    ungrounded_names: list[Span] = field(default_factory=list)
    shouts: list[Span] = field(default_factory=list)
    ungrounded_numbers: list[Span] = field(default_factory=list)
    injected_hits: list[tuple[int, int, str]] = field(default_factory=list)
    ungrounded_words: list[Span] = field(default_factory=list)
    leet: str | None = None  # the leetspeak reading of `folded`, when it differs
    cross_language: bool = False  # the line and the record are written in different languages
    line_lang: str = "en"
    english: bool = True
    requests: list[Span] = field(default_factory=list)
    facts_used: int = 0
    sentence_break: int | None = None
    mask: list[Span] = field(default_factory=list)


# While run_rules runs, the analysis of its draft is shared by all rules by identity (per thread).
# A caller that runs the rules one by one gets the same sharing through a one-entry memo keyed
# on the draft and the prospect's values, so a prospect changed between calls is never served stale.
CURRENT_ANALYSIS = threading.local()


def analyse(draft: str, prospect: Prospect, policy: RulesPolicy) -> _Analysis:
    current = getattr(CURRENT_ANALYSIS, "value", None)
    if current is not None and current[0] is draft and current[1] is prospect and current[2] is policy:
        return cast(_Analysis, current[3])
    comp = _compiled(policy)
    key = (draft, _prospect_key(prospect), comp)
    last = getattr(CURRENT_ANALYSIS, "last", None)
    if last is not None and last[0] == key:
        return cast(_Analysis, last[1])
    analysis = _build(draft, _record(key[1], comp), comp)
    CURRENT_ANALYSIS.last = (key, analysis)
    return analysis


def _build(draft: str, rec: _Record, comp: _Compiled) -> _Analysis:
    folded = fold(draft)
    leet: str | None = leet_fold(folded)
    leet = None if leet == folded else leet
    company_spans = _find_company(folded, rec.company_folded)
    parts = set(_PART.findall(folded))
    a = _Analysis(
        draft=draft,
        folded=folded,
        rec=rec,
        comp=comp,
        company_spans=company_spans,
        company_near=None if company_spans or not rec.company else _company_near(folded, rec),
        placeholders=[m.span() for m in PLACEHOLDER.finditer(draft)] if PLACEHOLDER_HINT.search(draft) else [],
        links=[m.span() for m in _LINK.finditer(folded)] if _LINK_HINT.search(folded) else [],
        parts=parts,
        phrase_hits=_phrase_hits(comp, folded, parts, leet),
        leet=leet,
    )
    a.line_lang = line_language(parts)
    a.english = is_english(draft, parts, a.line_lang)
    # Text that other rules own is masked from the grounding checks, so one slip gives one finding.
    a.mask = a.company_spans + a.placeholders + a.links + a.phrase_hits["allowed"]
    if a.company_near:
        a.mask.append((a.company_near[0], a.company_near[1]))
    _find_vocatives(a)
    a.mask.extend((s, e) for s, e, _ in a.vocatives)
    _find_injection(a)
    _find_names(a)
    _find_numbers(a)
    _find_claim_words(a)
    _find_requests(a)
    _find_sentence_break(a)
    return a


# The word lists that leetspeak ("fr33", "gu4r4nt33d") is read for.
_LEET_LISTS = ("pricing", "spam", "tone", "leak", "claim")


def _phrase_hits(comp: _Compiled, folded: str, parts: set[str], leet: str | None) -> dict[str, list[Span]]:
    """Hits of the policy's word lists, in the line as read and in its leetspeak reading (one for one, so the
    spans are the same)."""
    hits = comp.phrases.find(folded, parts)
    if leet is not None:
        more = comp.phrases.find(leet)
        for name in _LEET_LISTS:
            hits[name] = merge(hits[name] + more[name])
    return hits


def _company_near(folded: str, rec: _Record) -> tuple[int, int, str] | None:
    """Where the line seems to write the company another way: its acronym or a near spelling."""
    words = list(_WORD.finditer(folded))
    if rec.company_acronym:
        for m in words:
            if strip_possessive(m.group()) == rec.company_acronym:
                return m.start(), m.start() + len(rec.company_acronym), "acronym"
    target = rec.company_folded
    n = max(1, len(target.split()))
    # A near spelling starts with the first three letters of one of the company's words; other
    # windows are not worth a SequenceMatcher.
    prefixes = {w[:3] for w in target.split() if len(w) >= 3}
    anchored = [bool(prefixes) and m.group()[:3] in prefixes for m in words]
    best: tuple[float, int, int] = (0.0, 0, 0)
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(len(words) - size + 1):
            if not anchored[i]:
                continue
            s, e = words[i].start(), words[i + size - 1].end()
            if folded[e - 2:e] == "'s":
                e -= 2
            matcher = SequenceMatcher(None, folded[s:e], target, autojunk=False)
            if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
                continue
            ratio = matcher.ratio()
            if ratio > best[0]:
                best = (ratio, s, e)
    if best[0] >= 0.75:
        return best[1], best[2], "spelling"
    return None


def _masked(a: _Analysis, s: int, e: int) -> bool:
    """Is the span inside text that other rules own: the company, placeholders, links, allowed terms, names?"""
    for x, b in a.mask:
        if s < b and x < e:
            return True
    return False


def _find_vocatives(a: _Analysis) -> None:
    """Names the line greets or addresses that are not the prospect's first name."""
    rec, comp, draft = a.rec, a.comp, a.draft
    seen: set[int] = set()

    def check(m: re.Match[str] | None, strict: bool, opener: bool = False) -> None:
        if m is None or m.start(1) in seen or not m.group(1)[0].isupper():
            return
        s, e = m.span(1)
        if overlaps(s, e, a.company_spans) or overlaps(s, e, a.placeholders):
            return
        seen.add(s)
        name = fold(m.group(1))
        base = strip_possessive(name)
        if base == rec.first or base in rec.first_parts or base in comp.common or base in comp.allowed:
            return
        if base in rec.company_words or (strict and base in rec.place_words and base not in rec.people):
            return  # "Acme, ..." or "Denver, ..." opens with the company or a place from the record
        if opener and base.endswith(("ly", "able", "ible", "ous", "ful")):
            return  # "Remarkable, ..." is an adjective, not a name
        if not strict and base in rec.tokens and base not in rec.people and base != rec.last:
            return  # a place or thing from the record at the end of the line, not a name
        a.vocatives.append((s, e, m.group(1)))

    if comp.greet_start is not None:
        check(comp.greet_start.match(draft), strict=True)
    check(_G_NAME_FIRST.match(draft), strict=True, opener=True)
    check(_G_NAME_LAST.search(draft), strict=False)
    for m in _G_NAME_MID.finditer(draft):
        name = fold(m.group(1))
        if m.group(1)[0].isupper() and (near(name, rec.first) or (rec.last and name == rec.last)):
            check(m, strict=True)


def _find_injection(a: _Analysis) -> None:
    """What of an injected instruction the line repeats: links, numbers, names, its content words."""
    rec = a.rec
    if not rec.injected:
        return
    hits: list[tuple[int, int, str]] = []
    for item in rec.inj_strong:
        for m in re.finditer(r"(?<![\w])" + re.escape(item) + r"(?![\w])", a.folded):
            hits.append((m.start(), m.end(), a.draft[m.start():m.end()]))
    words: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(a.folded):
        word = strip_possessive(m.group())
        if _grounded(word, rec.inj_words) and not _grounded(word, rec.tokens):
            words.append((m.start(), m.end(), a.draft[m.start():m.end()]))
    # One shared content word can be chance; two, or any link/number/name, is the line obeying.
    if len({w[2].lower() for w in words}) >= 2:
        hits.extend(words)
    a.injected_hits = sorted(set(hits))


_RUN_GAP = re.compile(r"\s+|\s*&\s*|\s+(?:of|de|la|the|and)\s+")


def _find_names(a: _Analysis) -> None:
    """Capitalised words the record does not support, sorted into other companies, misspelt names,
    shouting and ungrounded names. The company's own spans and near-spellings are left to
    missing_company, greetings to wrong_name.greeting."""
    rec, comp, draft, folded = a.rec, a.comp, a.draft, a.folded
    injected = [(s, e) for s, e, _ in a.injected_hits]
    # Capitalised words in a row make one name ("World Cheese Cup"); it is reported whole when any of
    # its words is unsupported, even if another ("Cheese") happens to be in the record.
    runs: list[list[int]] = []  # [start, end, ungrounded words, camel-case words]
    last_end = -10
    lang = a.line_lang
    english = a.english
    for m in _WORD.finditer(draft):
        tok = m.group()
        if tok.lower() == tok:
            continue  # no capital letter: most words stop here
        s, e = m.span()
        if _masked(a, s, e) or (injected and overlaps(s, e, injected)):
            continue
        base = strip_possessive(folded[s:e])
        if base in comp.allowed or base in _NUMBER_WORDS:
            continue
        if lang == "de" and not tok.isupper():
            continue  # German capitalises every noun: a capital says nothing about a name
        if not english and _is_initial(draft, s):
            continue  # a capital opening a sentence in another language says nothing either
        if (not base.isascii() or not rec.english) and _transliterated(base, rec):
            a.facts_used += 1
            continue
        if _is_initial(draft, s) and (base in comp.common or (len(base) > 4 and base.endswith(("ing", "ed", "ly")))):
            continue
        if _is_initial(draft, s) and not tok.isupper() and _LOWER_NEXT.match(draft, e):
            continue  # "Heat pumps ...", "Organic certification ...": a capital opening a sentence, then plain words
        bare = tok[:-2] if tok.endswith(("'s", "’s")) else tok
        letters = sum(ch.isalpha() for ch in bare) if bare.isupper() else 0
        if letters >= 2:
            if bare in rec.caps or base == rec.company_acronym or (
                    _SPLIT_PARTS.search(bare) and all(p in rec.caps for p in _SPLIT_PARTS.split(bare) if p)):
                grounded = True
            elif letters >= 5 or base in comp.shout_words:
                a.shouts.append((s, e))
                continue
            else:
                grounded = False  # a short acronym the record does not use
        else:
            grounded = _grounded(base, rec.tokens) or bool(_SPLIT_PARTS.search(base)) and all(
                _grounded(p, rec.tokens) or p in comp.allowed or p in comp.common or raw.lower() == raw
                for p, raw in zip(_SPLIT_PARTS.split(base), _SPLIT_PARTS.split(tok.replace("’", "'")), strict=False))
        if not grounded and (near(base, rec.first) or (rec.last and near(base, rec.last))):
            a.misspelled.append((s, e, tok))
            continue
        camel = int(tok[0].islower() or any(ch.isupper() for ch in tok[1:]) and any(ch.islower() for ch in tok))
        if runs and s - last_end <= 5 and _RUN_GAP.fullmatch(draft, last_end, s):
            runs[-1][1] = e
            runs[-1][2] += not grounded
            runs[-1][3] |= camel
        else:
            runs.append([s, e, int(not grounded), camel])
        last_end = e
    company_missing = not a.company_spans
    for s, e, ungrounded, camel in runs:
        if not ungrounded:
            continue
        words = set(_PART.findall(folded, s, e))
        # An org word right after the name ("Acme Fitness members") marks it as a company too.
        after = _WORD.match(folded, e + 1) if folded[e:e + 1] == " " else None
        is_org = bool(words & comp.org) or (after is not None and after.group() in comp.org and draft[after.start()].isupper())
        if is_org or (company_missing and (camel or len(words) >= 2)):
            a.other_companies.append((s, e))
        else:
            a.ungrounded_names.append((s, e))


# A sentence's first word followed by a plain lower-case word ("Heat pumps"): not a name.
_LOWER_NEXT = re.compile(r"[ -](?:[a-z][a-z'’-]*)\b")
_VOWELS = str.maketrans("", "", "aeiouy")


def _transliterated(word: str, rec: _Record) -> bool:
    """Does a name in the line stand in the record in another script ("Murmansk" for "Мурманске", "Assyrtiko" for
    "Ασύρτικο", "Jebel Ali" for "جبل علي", "Nimman" inside a Thai run)? Compared in Latin letters, by similarity,
    and without vowels where the record's script writes none."""
    latin = fold(anyascii(word)).lower()
    if len(latin) < 3:
        return False
    bare = latin.translate(_VOWELS)
    for other in rec.translit_tokens:
        if latin == other or (len(latin) >= 4 and len(other) >= 8 and latin in other):
            return True
        if min(len(latin), len(other)) >= 4 and fuzz.ratio(latin, other) >= 80:
            return True
        if len(bare) >= 2 and bare == other.translate(_VOWELS) and len(other) >= 2:
            return True
    return False


def _find_numbers(a: _Analysis) -> None:
    """Numbers in the line whose value the record does not state (in digits or in words)."""
    rec = a.rec
    injected = [(s, e) for s, e, _ in a.injected_hits]
    for s, e, value in _numbers(a.folded, a.parts):
        if value in rec.numbers or _masked(a, s, e) or overlaps(s, e, injected):
            continue
        if a.folded[s:e] in rec.injected_folded and rec.injected:
            continue
        a.ungrounded_numbers.append((s, e))


def _shared_bigrams(folded: str, rec: _Record) -> int:
    """Two-character pieces of a line in a script without spaces that also stand in the record's facts (outside the
    company's name): how a Japanese or Chinese line uses a fact."""
    text = folded.replace(rec.company_folded, " ") if rec.company_folded else folded
    facts = rec.clean_folded.replace(rec.company_folded, " ") if rec.company_folded else rec.clean_folded
    grams = {text[i:i + 2] for i in range(len(text) - 1) if _UNSPACED.match(text[i]) and _UNSPACED.match(text[i + 1])}
    return sum(g in facts for g in grams)


def _event_form(word: str) -> bool:
    """A past or -ing form: it says what happened, which the record must state ("won", "closing", "launched")."""
    return word.endswith(("ed", "ing")) or base_form(word) != word


def _commentary(word: str, comp: _Compiled) -> bool:
    """A common word of the policy (sentence openers, evaluations: "ready", "only", "major") that is not an event."""
    return word in comp.common and not _event_form(word)


def _find_claim_words(a: _Analysis) -> None:
    """Content words of the line that trace to no fact (claim provenance, see critics.provenance), and how many
    words of the line do trace to one (none at all: the line is generic)."""
    rec, comp, draft = a.rec, a.comp, a.draft
    injected = [(s, e) for s, e, _ in a.injected_hits]
    skip = a.mask + injected + a.ungrounded_names + a.other_companies + [(s, e) for s, e, _ in a.misspelled]
    phrases = phrasing_phrases()
    if phrases is not None and " " in a.folded:
        skip += [m.span() for m in phrases.finditer(a.folded)]
    numbers = {(s, e) for s, e in a.ungrounded_numbers}
    lang = rec.language
    untraced: list[Span] = []
    weight = 0
    # Words are traced only between an English line and an English record: a translation shares no words.
    english = a.english and rec.english
    a.cross_language = a.english != rec.english
    if _UNSPACED.search(draft):
        a.facts_used += _shared_bigrams(a.folded, rec)
    tokens, company, first = rec.tokens, rec.company_words, rec.first
    for m in _PART.finditer(a.folded):
        word = m.group()
        # The cheap set tests first: most words of a line are in the record or are phrasing.
        if word in company or word == first:
            continue
        if len(word) < 3 or not word.isalpha() or word in _NUMBER_WORDS:
            if word.isdigit():
                s, e = m.span()
                if (s, e) not in numbers and not overlaps(s, e, skip):
                    a.facts_used += word in tokens or float(word) in rec.numbers
            continue
        if word in tokens or _grounded(word, tokens):
            if word not in rec.first_parts:
                a.facts_used += not is_phrasing(word, lang)
            continue
        if not english or is_phrasing(word, lang) or word in comp.allowed or _commentary(word, comp):
            continue
        s, e = m.span()
        if draft[s].isupper() and not _is_initial(draft, s):
            continue  # a name: the names check owns it
        if any(st in rec.fact_stems for st in word_stems(base_form(word), lang)):
            a.facts_used += 1
            continue
        if overlaps(s, e, skip):
            continue
        untraced.append((s, e))
        # A past form says what happened: an event the record must state. Other words may only comment.
        weight += 2 if _event_form(word) and not word.endswith("ing") else 1
    if weight > comp.untraced_limit:
        a.ungrounded_words = untraced


# Where a clause starts: the line's start, after a comma, colon, semicolon or dash, or after a joining word.
_CLAUSE = re.compile(r"(?:^|[,;:—–(]\s*|\b(?:so|and|then|now|just|please|kindly|simply|or)\s+)(?:(?:please|kindly|just|simply)\s+)?([^\W\d_]+)(?![\w'’-])")


def _find_requests(a: _Analysis) -> None:
    """Imperatives that open a clause and ask the reader to act ("so reply with ...", "verify yours at ...")."""
    verbs = a.comp.action_verbs
    for m in _CLAUSE.finditer(a.folded):
        word = m.group(1)
        if (word in verbs or word in lexicon_verbs()) and not overlaps(m.start(1), m.end(1), a.company_spans):
            if a.draft[m.start(1)].isupper() and m.start(1) > 0 and not _is_initial(a.draft, m.start(1)):
                continue  # a capitalised word inside the line is a name ("Call Nine Radio")
            a.requests.append(m.span(1))


def _find_sentence_break(a: _Analysis) -> None:
    """Where a second sentence starts, if there is one (a line break counts too)."""
    draft = a.draft.rstrip()
    company_starts = {s for s, _ in a.company_spans}
    for m in _BREAK.finditer(draft):
        term, nxt, pos = m.group(1), m.group(4), m.start(1)
        if _masked(a, pos, pos + len(term)):
            continue
        if term == ".":
            prev = _PREV_WORD.search(draft, 0, pos)
            if prev:
                word = fold(prev.group(1))
                if word in a.comp.abbrev or len(word.rsplit(".", 1)[-1]) == 1:
                    continue  # "Inc.", "e.g.", initials like "A.J."
        # A new sentence starts with a capital, a digit, an opening quote, or the company's own name
        # (which may start lower-case); "the Why Wait? campaign" and "approx. half" go on.
        if nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘" or m.end() in company_starts:
            a.sentence_break = m.end()
            break
    newline = draft.find("\n")
    if newline != -1 and (a.sentence_break is None or newline < a.sentence_break):
        a.sentence_break = newline + 1


# --------------------------------------------------------------------------------------------
# Findings.
# --------------------------------------------------------------------------------------------


def finding(code: str, severity: Severity, span: Span | None, message: str, fix: str | None = None,
            sources: list[SourceSpan] | None = None) -> Finding:
    # model_construct skips validation (a third of a rule's cost on a flagged line); every value here
    # comes from this module, and the tests check each rule's category and spans.
    return Finding.model_construct(
        source="rule", code=code, category=cast(Category, code.split(".", 1)[0]),
        severity=severity, start=span[0] if span else None, end=span[1] if span else None,
        message=message, suggested_fix=fix, sources=sources or [],
    )


def quarantine_sources(a: _Analysis) -> list[SourceSpan]:
    """The quarantined instructions of the record as finding sources (field, span, the text as read)."""
    return [SourceSpan(field=q.field, start=q.start, end=q.end, text=q.text[:300]) for q in a.rec.quarantined]


def term_hits(a: _Analysis, name: str, pattern: _PatternSet | None = None, exclude: str = "") -> list[Span]:
    """Hits of a word list (and its regexes), except inside the company name, inside an excluded phrase,
    or where the line quotes the record (a prospect may sell "free" things or be named "Urgent Care")."""
    found = list(a.phrase_hits.get(name, ()))
    if pattern is not None:
        found.extend(pattern.spans(a.folded))
        if a.leet is not None:
            found.extend(pattern.spans(a.leet))
    hits = []
    excluded = a.phrase_hits.get(exclude, []) if exclude else []
    for s, e in found:
        if e == s or overlaps(s, e, a.company_spans) or overlaps(s, e, excluded):
            continue
        text = a.folded[s:e].strip()
        if text.isalnum():
            if _grounded(text, a.rec.tokens):
                continue
        elif text in a.rec.clean_folded:
            continue
        hits.append((s, e))
    return hits




def merge(spans: list[Span]) -> list[Span]:
    """Sorted spans with overlapping ones joined, so that one phrase gives one finding."""
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out



def claims(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Claim]:
    """Every factual word of a line (names, numbers, content words; not phrasing) with the record spans it traces
    to: the provenance the panel and `firstpass gate --out` show. A claim with no sources is ungrounded."""
    norm = normalise(draft)
    a = analyse(norm.text, prospect, policy)
    rec = a.rec
    index = fact_index(rec.fact_cells, rec.language)
    out: list[Claim] = []
    for s, e in a.company_spans:
        company = [Source(f, 0, len(t), t) for f, t in rec.fact_cells if f == "company"]
        out.append(Claim(s, e, a.draft[s:e], tuple(company)))
    injected = [(x, y) for x, y, _ in a.injected_hits]
    for m in _PART.finditer(a.folded):
        s, e = m.span()
        word = m.group()
        if overlaps(s, e, a.company_spans) or overlaps(s, e, a.placeholders) or overlaps(s, e, a.links):
            continue
        if not word.isdigit() and (len(word) < 3 or is_phrasing(word, rec.language) or _commentary(word, a.comp)):
            continue
        sources = () if overlaps(s, e, injected) else trace_word(base_form(word), index, rec.language)
        out.append(Claim(s, e, a.draft[s:e], sources))
    if norm.origin is not None:
        mapped = []
        for c in out:
            start, end = norm.span(c.start, c.end)
            mapped.append(Claim(start or 0, end or 0, draft[start or 0:end or 0], c.sources))
        out = mapped
    return sorted(out, key=lambda c: c.start)
