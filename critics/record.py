"""Reading a prospect record: its facts, and the instructions quarantined from them.

A CRM record states facts about a prospect. Text in it that addresses the model or the writer of the email is
not a fact, whatever words it shares with the line: it is quarantined, shown to the reviewer, and never grounds a
claim. The reading does not depend on knowing the attack's phrasing. It looks for what any instruction needs:

- structure no fact has: chat-template role and turn markers, separators that pretend the data has ended, text
  hidden from a human reader (HTML comments, hidden markup, markdown link titles, Unicode tag characters), and
  payloads that decode (base64, hex, escapes, letters split by a separator, reversed text) — quarantined as found,
  their decoded text kept for the reviewer;
- someone addressed: a sentence that pairs a directive (an instruction verb or a deontic marker, or an imperative
  verb opening the sentence) with an addressee (you, the AI or its rules, or the message being written), in any of
  the languages of `instruction_lexicon.toml`; or a sentence that names the AI and speaks to "you".

A free-text field is quarantined from its first instruction to its end (what follows an instruction belongs to
it). Name fields (first name, last name, company) are names: only structure is looked for there, so a company
called "Ignore Media" is a name, not an order. Quoted text inside a statement is reported speech (a slogan, a
campaign name): it counts as an instruction only when it names the AI or carries structure.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from critics.normalise import normalise
from critics.provenance import fold_word, line_language, stem, vocabulary

NAME_FIELDS = ("first_name", "last_name", "company")
TEXT_FIELDS = ("title", "industry", "city", "website", "notes")


@dataclass(frozen=True)
class Quarantined:
    """Text of the record that is not a fact: where it is, what it reads as, and why it was quarantined."""

    field: str
    start: int
    end: int
    text: str
    reason: str


@dataclass(frozen=True)
class RecordReading:
    """The record split into fact cells (field, text with quarantined stretches blanked) and quarantined text."""

    facts: tuple[tuple[str, str], ...]
    quarantined: tuple[Quarantined, ...]

    @property
    def injected(self) -> str:
        """The quarantined text, joined, as it reads (decoded)."""
        return " ".join(q.text for q in self.quarantined)


# ----------------------------------------------------------------------------------------------------------------
# Structure no fact has.
# ----------------------------------------------------------------------------------------------------------------

_ROLE_WORDS = r"(?:system|user|assistant|human|ai|bot|model|developer|instructions?|prompt|context|input|output|response)"
# A role label opening a line or sentence ("System:", "### Assistant:"); "Model:" or "Output:" can label a fact.
_LABEL_WORDS = r"(?:system|user|assistant|human|ai|bot|chatbot|developer|instructions?|(?:system\s+)?prompt)"
# Role and turn markers of the common chat templates, and labelled turns ("### System:", "Assistant:" opening a line).
_ROLE_MARKER = re.compile(
    r"<\|[\w.-]{1,30}\|>"
    r"|\[/?(?:inst|sys|system|user|assistant)\]"
    r"|<</?sys>>"
    r"|</?(?:start_of_turn|end_of_turn|s|bos|eos)>"
    rf"|</?{_ROLE_WORDS}(?:\s[^<>]{{0,40}})?>"
    rf"|(?:^|[\n\r(\[—–]|[.!?;,]\s)\s*(?:#{{1,6}}\s*|\*\*)?{_LABEL_WORDS}(?:\s+(?:message|prompt|note|override|mode))?\s*\*{{0,2}}\s*[:：]"
    rf"|#{{2,6}}\s*{_ROLE_WORDS}\b",
    re.IGNORECASE,
)
# Separators that pretend the data has ended: a run of one punctuation character, fenced code, end-of-data labels.
_SEPARATOR = re.compile(
    r"([-=_*#~+<>|`\"'/\\])\1{2,}"
    r"|\[\s*(?:end|/)\s*[\w ]{0,20}\]"
    r"|\b(?:end|begin|start)[\s_-]*(?:of[\s_-]*)?(?:the[\s_-]*)?(?:record|data|notes|input|context|document|prompt|"
    r"instructions?|system|user[\s_-]*data|profile|prospect|row|file|crm|contact|lead)\b"
    # Markup or JSON that closes the record's own container: the text after it pretends to be outside the data.
    r"|\]\]>|</(?:notes?|data|record|context|input|document|prospect|profile|field|row|crm|user_data|untrusted|"
    r"description|text|content)\s*>"
    r"|[\"']\s*[}\]]\s*[,}\]]"
    r"|[\"']role[\"']\s*:\s*[\"'](?:system|user|assistant|developer|tool)[\"']"
    r"|(?:\r?\n\s*){4,}\S",
    re.IGNORECASE,
)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_HIDDEN_MARKUP = re.compile(
    r"<(\w+)[^>]*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0|"
    r"color\s*:\s*(?:#fff(?:fff)?\b|white|transparent)|hidden)[^>]*>.*?(?:</\1\s*>|$)",
    re.IGNORECASE | re.DOTALL,
)
_MD_TITLE = re.compile(r"\]\(\s*[^\s)]*\s+([\"'(])(.+?)[\"')]\s*\)")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_BIDI_OVERRIDE = re.compile("[\u202d\u202e\u202b\u202a][^\u202c]*\u202c?")

# Payloads that decode.
_BASE64 = re.compile(r"(?<![\w+/=])[A-Za-z0-9+/_-]{16,}={0,2}(?![\w+/=])")
_HEX = re.compile(r"(?<![\w])(?:[0-9a-fA-F]{2}[\s:,-]?){8,}(?![\w])")
_ESCAPES = re.compile(r"(?:(?:\\x|\\u00|%|&#x?)[0-9a-fA-F]{2,3};?){5,}")
_SPLIT_LETTERS = re.compile(r"(?<![\w])(?:[^\W\d_][\s.\-_*|/\\+,]{1,2}){4,}[^\W\d_](?![\w])")


def _printable_text(raw: bytes) -> str | None:
    """Decoded bytes when they read as text (mostly letters and spaces), else None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 6 or not all(ch.isprintable() or ch in "\n\t" for ch in text):
        return None
    letters = sum(ch.isalpha() for ch in text)
    return text if letters >= 0.6 * len(text.replace(" ", "")) and " " in text.strip() else None


def _decode_base64(blob: str) -> str | None:
    if blob.isalpha() and (blob.islower() or blob.isupper()):
        return None  # one long plain word
    padded = blob + "=" * (-len(blob) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            out = _printable_text(decoder(padded))
        except (binascii.Error, ValueError):
            continue
        if out:
            return out
    return None


def _decode_hex(blob: str) -> str | None:
    digits = re.sub(r"[\s:,-]", "", blob)
    try:
        return _printable_text(bytes.fromhex(digits))
    except ValueError:
        return None


def _decode_escapes(blob: str) -> str | None:
    codes = re.findall(r"(?:\\x|\\u00|%|&#x)([0-9a-fA-F]{2})|&#(\d{2,3})", blob)
    try:
        raw = bytes(int(h, 16) if h else int(d) for h, d in codes)
    except ValueError:
        return None
    return _printable_text(raw) or (raw.decode("latin-1") if raw.isascii() and len(raw) >= 5 else None)


# Cheap tests that a text may carry structure at all; most facts carry none and skip the scans below. Apart,
# and without IGNORECASE, they cost a third of one combined pattern.
_HINTS = (
    re.compile(r"[<\[{}#`|\\%&*=~\]]|([-_\"'/+])\1\1|\n\s*\n"),
    re.compile(r"[A-Za-z0-9+/_-]{16}"),
    re.compile(r"(?:[0-9a-fA-F]{2}[\s:,-]?){8}"),
    re.compile(r"(?<![\w])(?:[^\W\d_][\s.\-_*|/\\+,]{1,2}){4}"),
)
_HINT_WORDS = re.compile(r"\b(?:end|begin|start|system|user|assistant|human|ai|bot|chatbot|developer|instructions?|"
                         r"prompt|role)")


def _may_have_structure(text: str) -> bool:
    return any(h.search(text) for h in _HINTS) or bool(_HINT_WORDS.search(text.lower()))


def _structure(text: str) -> list[tuple[int, int, str, str, bool]]:
    """Structural findings in one field's reading: (start, end, decoded text, reason, runs to the field's end)."""
    out: list[tuple[int, int, str, str, bool]] = []
    if not _may_have_structure(text):
        return out
    for m in _ROLE_MARKER.finditer(text):
        start = m.start() + (len(m.group()) - len(m.group().lstrip(".!?\n\r \t")))
        out.append((start, len(text), text[start:], "a chat-template role or turn marker", True))
    for m in _SEPARATOR.finditer(text):
        if m.group(1) and m.group(1) in "-'\"/\\" and len(m.group()) < 4 and not text[m.end():].strip():
            continue  # a trailing "---" or "..." on its own is punctuation
        out.append((m.start(), len(text), text[m.start():], "a separator that pretends the data has ended", True))
    for regex, reason in ((_HTML_COMMENT, "text hidden in an HTML comment"), (_HIDDEN_MARKUP, "text hidden by markup")):
        out.extend((m.start(), m.end(), m.group(), reason, False) for m in regex.finditer(text))
    for m in _MD_TITLE.finditer(text):
        out.append((m.start(2), m.end(2), m.group(2), "text hidden in a link title", False))
    for m in _BASE64.finditer(text):
        decoded = _decode_base64(m.group())
        if decoded:
            out.append((m.start(), m.end(), decoded, "an encoded payload (base64)", False))
    for m in _HEX.finditer(text):
        decoded = _decode_hex(m.group())
        if decoded:
            out.append((m.start(), m.end(), decoded, "an encoded payload (hex)", False))
    for m in _ESCAPES.finditer(text):
        decoded = _decode_escapes(m.group())
        if decoded:
            out.append((m.start(), m.end(), decoded, "an encoded payload (escapes)", False))
    for m in _SPLIT_LETTERS.finditer(text):
        letters = "".join(ch for ch in m.group() if ch.isalpha())
        if len(letters) >= 5 and not re.fullmatch(r"(?:[A-Z]\.){2,}[A-Z]?\.?", m.group().replace(" ", "")):
            out.append((m.start(), m.end(), letters, "letters split apart to hide a word", False))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Someone addressed: the lexicon of the concepts every instruction uses, in many languages.
# ----------------------------------------------------------------------------------------------------------------

CONCEPTS = ("second_person", "addressee", "artefact", "verbs", "modals")


@dataclass(frozen=True)
class _Lexicon:
    words: dict[str, frozenset[str]]          # concept -> single words matched whole
    phrases: dict[str, tuple[tuple[tuple[str, bool], ...], ...]]  # concept -> phrases: (word, is a stem) tuples
    prefixes: dict[str, tuple[str, ...]]      # concept -> stems matched at a word's start
    substrings: dict[str, tuple[str, ...]]    # concept -> strings matched anywhere (scripts without spaces)
    ascii_substrings: dict[str, re.Pattern[str] | None]  # ASCII entries of those tables, not inside a Latin word
    raw_words: dict[str, frozenset[str]]      # single words of `fold = false` tables, matched without accent folding
    raw_phrases: dict[str, tuple[tuple[str, ...], ...]]
    prefix_lengths: frozenset[int]
    stems: dict[str, dict[str, frozenset[str]]]  # language -> concept -> Snowball stems of its single words
    english_verbs: frozenset[str]  # English instruction verbs and their stems: English spells many nouns alike
    imperatives: tuple[str, ...] = ()  # Japanese and Korean verb forms that only an order uses
    languages: dict[tuple[str, object], frozenset[str]] = field(default_factory=dict)  # (concept, entry) -> tables
    # (first word, second word) -> the phrases that start so, with their concept (see _index)
    phrase_index: dict[tuple[str, str], tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]] = field(
        default_factory=dict)
    pair_heads: frozenset[str] = frozenset()  # the first-word keys of phrase_index


class _Lower(dict[int, str]):
    """str.translate table for `fold = false` tables (Vietnamese): case folded, accents kept."""

    def __missing__(self, code: int) -> str:
        out = unicodedata.normalize("NFKC", chr(code)).casefold()
        self[code] = out
        return out


_LOWER = _Lower()


# Combining marks of the scripts that need them: a word runs on through its vowel signs and harakat.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
          "\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u0981-\u0983\u09bc-\u09d7\u0e31"
          "\u0e34-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f")
# A word: word characters and combining marks; apostrophes and hyphens part words ("n'oubliez" is "n oubliez").
_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARKS}])+")
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _words(text: str) -> list[str]:
    """The words of a text (see _TOKEN); ASCII text, which has no marks, by a pattern five times cheaper."""
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)


@lru_cache(maxsize=1)
def lexicon() -> _Lexicon:
    """The instruction lexicon bundled with critics (critics/instruction_lexicon.toml), compiled once."""
    data = tomllib.loads(resources.files("critics").joinpath("instruction_lexicon.toml").read_text(encoding="utf-8"))
    words: dict[str, set[str]] = {c: set() for c in CONCEPTS}
    phrases: dict[str, set[tuple[tuple[str, bool], ...]]] = {c: set() for c in CONCEPTS}
    prefixes: dict[str, set[str]] = {c: set() for c in CONCEPTS}
    substrings: dict[str, set[str]] = {c: set() for c in CONCEPTS}
    raw_words: dict[str, set[str]] = {c: set() for c in CONCEPTS}
    raw_phrases: dict[str, set[tuple[str, ...]]] = {c: set() for c in CONCEPTS}
    stems: dict[str, dict[str, set[str]]] = {}
    english: set[str] = set()
    imperatives: set[str] = set()
    langs: dict[tuple[str, object], set[str]] = {}  # (concept, entry) -> the languages that list it
    for code, lang in data.get("languages", {}).items():
        mode = lang.get("match", "word")
        fold = lang.get("fold", True)
        for concept in CONCEPTS:
            for term in lang.get(concept, []):
                term = term.strip()
                if not term:
                    continue
                if mode == "substring":
                    substrings[concept].add(fold_word(term))
                    langs.setdefault((concept, fold_word(term)), set()).add(code)
                    if concept == "verbs" and code in ("ja", "ko"):
                        imperatives.add(fold_word(term))
                    continue
                if not fold:
                    tokens_raw = tuple(_words(term.translate(_LOWER)))
                    if len(tokens_raw) == 1:
                        raw_words[concept].add(tokens_raw[0])
                    elif tokens_raw:
                        raw_phrases[concept].add(tokens_raw)
                    langs.setdefault((concept, tokens_raw), set()).add(code)
                    continue
                whole = [w.endswith("$") for w in term.split()]
                tokens = tuple(_words(fold_word(term)))
                if not tokens:
                    continue
                stemmed = mode == "prefix"
                if len(tokens) > 1:
                    marks = whole + [False] * (len(tokens) - len(whole))
                    phrase = tuple((t, stemmed and not w and len(t) >= 4) for t, w in zip(tokens, marks, strict=False))
                    phrases[concept].add(phrase)
                    langs.setdefault((concept, phrase), set()).add(code)
                elif stemmed and not whole[-1] and len(tokens[0]) >= 4:
                    prefixes[concept].add(tokens[0])
                    langs.setdefault((concept, ("prefix", tokens[0])), set()).add(code)
                else:
                    words[concept].add(tokens[0])
                    langs.setdefault((concept, tokens[0]), set()).add(code)
                    if code in STEMMED and concept == "verbs" and len(tokens[0]) >= 4:
                        stems.setdefault(code, {c: set() for c in CONCEPTS})[concept].add(stem(tokens[0], code))
                    if code == "en" and concept == "verbs":
                        english.add(tokens[0])

    def ascii_pattern(entries: set[str]) -> re.Pattern[str] | None:
        plain = sorted((e for e in entries if e.isascii()), key=len, reverse=True)
        return re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, plain)) + r")(?![a-z0-9])") if plain else None

    return _Lexicon(
        words={c: frozenset(v) for c, v in words.items()},
        phrases={c: tuple(sorted(v)) for c, v in phrases.items()},
        prefixes={c: tuple(sorted(v)) for c, v in prefixes.items()},
        substrings={c: tuple(sorted((e for e in v if not e.isascii()), key=len, reverse=True))
                    for c, v in substrings.items()},
        ascii_substrings={c: ascii_pattern(v) for c, v in substrings.items()},
        raw_words={c: frozenset(v) for c, v in raw_words.items()},
        raw_phrases={c: tuple(sorted(v)) for c, v in raw_phrases.items()},
        prefix_lengths=frozenset(len(p) for v in prefixes.values() for p in v),
        stems={lang: {c: frozenset(v) for c, v in by.items()} for lang, by in stems.items()},
        english_verbs=frozenset(english) | frozenset(stems.get("en", {}).get("verbs", ())),
        imperatives=tuple(sorted((e for e in imperatives if not e.isascii()), key=len, reverse=True)),
        languages={k: frozenset(v) for k, v in langs.items()},
        phrase_index=_index(phrases),
        pair_heads=frozenset(a for a, _b in _index(phrases)),
    )


Phrase = tuple[tuple[str, bool], ...]


def _key(word: str, stemmed: bool) -> str:
    return "~" + word[:4] if stemmed else word


def _index(phrases: dict[str, set[Phrase]]) -> dict[tuple[str, str], tuple[tuple[str, Phrase], ...]]:
    """Phrases by their first two words (a stem by its first four letters), so that a sentence looks up only the
    phrases that can start at each of its words: most start with "the", "a" or "to"."""
    out: dict[tuple[str, str], list[tuple[str, Phrase]]] = {}
    for concept, entries in phrases.items():
        for phrase in entries:
            (w1, s1), (w2, s2) = phrase[0], phrase[1]
            out.setdefault((_key(w1, s1), _key(w2, s2)), []).append((concept, phrase))
    return {k: tuple(v) for k, v in out.items()}


# Word-matched languages whose words are also compared by their Snowball stem ("tells" for "tell", "lines" for
# "line"); inflected languages list stems in the lexicon themselves.
STEMMED = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "ro")


Hit = tuple[str, str]  # (concept, language)


@lru_cache(maxsize=65536)
def _word_hits(token: str) -> frozenset[Hit]:
    """The concepts a word stands for, each with the language table that lists it."""
    lex = lexicon()
    found: set[Hit] = set()

    def add(concept: str, entry: object) -> None:
        found.update((concept, lang) for lang in lex.languages.get((concept, entry), ()))

    for concept in CONCEPTS:
        if token in lex.words[concept]:
            add(concept, token)
        if token.endswith("s") and len(token) > 4:
            # A plural names the same thing ("lines", "openers"); other inflections only for the verbs, below.
            for base in (token[:-1], token[:-2]):
                if base in lex.words[concept]:
                    add(concept, base)
    if len(token) >= 4 and token.isalpha():
        for lang, by in lex.stems.items():
            root = stem(token, lang)
            found.update((c, lang) for c, roots in by.items() if root in roots)
    if lex.prefix_lengths and len(token) >= 4:
        heads = {token[:k] for k in lex.prefix_lengths if k <= len(token)}
        for concept in CONCEPTS:
            for head in heads.intersection(lex.prefixes[concept]):
                add(concept, ("prefix", head))
    return frozenset(found)


def _phrase_at(tokens: list[str], i: int, phrase: tuple[tuple[str, bool], ...]) -> bool:
    if i + len(phrase) > len(tokens):
        return False
    return all(tokens[i + k].startswith(w) if stemmed else tokens[i + k] == w for k, (w, stemmed) in enumerate(phrase))


def _phrases_from(tokens: list[str], i: int) -> list[tuple[str, Phrase]]:
    """The lexicon's phrases that start at position i, with their concepts."""
    if i + 1 >= len(tokens):
        return []
    lex = lexicon()
    first, second = tokens[i], tokens[i + 1]
    heads = lex.pair_heads
    if not (first in heads or "~" + first[:4] in heads):
        return []  # no phrase starts with this word: one set lookup for most words
    index = lex.phrase_index
    out: list[tuple[str, Phrase]] = []
    for a in (first, "~" + first[:4]):
        for b in (second, "~" + second[:4]):
            for c, p in index.get((a, b), ()):
                if _phrase_at(tokens, i, p):
                    out.append((c, p))
    return out


@lru_cache(maxsize=1)
def lexicon_verbs() -> frozenset[str]:
    """The lexicon's instruction verbs matched as whole words (every language that has spaces)."""
    return lexicon().words["verbs"]


_NO_SPACES = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")


def concept_hits(sentence: str, skip: frozenset[int] = frozenset()) -> list[tuple[str, int, frozenset[str]]]:
    """Every use of an instruction concept in a sentence: (concept, token position, the languages whose tables
    list that word); position -1 for a match inside a script without spaces. `skip`: positions of name tokens."""
    folded = fold_word(sentence)
    tokens = _words(folded)
    lex = lexicon()
    out: list[tuple[str, int, frozenset[str]]] = []
    hits = [_word_hits(t) for t in tokens]
    heads = lex.pair_heads
    starts = [i for i in range(len(tokens) - 1) if tokens[i] in heads or "~" + tokens[i][:4] in heads]
    ascii_text = sentence.isascii()
    if ascii_text and not starts and not any(hits):
        return out  # most sentences of a record: no word of any table, no phrase, nothing else to look for
    # In English text an English function word is English: Hungarian "ön" folds to "on", Polish "was" is "you".
    english = vocabulary().function.get("en", frozenset())
    in_english = ascii_text and line_language(set(tokens)) == "en"
    for i, token in enumerate(tokens):
        if i in skip or not hits[i]:
            continue
        by: dict[str, set[str]] = {}
        for concept, lang in hits[i]:
            if lang == "en" or not (in_english and token in english):
                by.setdefault(concept, set()).add(lang)
        out.extend((c, i, frozenset(v)) for c, v in by.items())
    for i in starts:
        if i in skip:
            continue
        for concept, phrase in _phrases_from(tokens, i):
            out.append((concept, i, lex.languages.get((concept, phrase), frozenset())))
    if not ascii_text:
        raw = _words(sentence.translate(_LOWER))
        for concept in CONCEPTS:
            if any(t in lex.raw_words[concept] for t in raw) or any(
                    tuple(raw[i:i + len(p)]) == p for p in lex.raw_phrases[concept] for i in range(len(raw))):
                out.append((concept, -1, frozenset({"vi"})))
    if _NO_SPACES.search(folded):
        for concept in CONCEPTS:
            for entry in lex.substrings[concept]:
                if entry in folded:
                    out.append((concept, -1, lex.languages.get((concept, entry), frozenset())))
            pattern = lex.ascii_substrings[concept]
            if pattern is not None:
                for m in pattern.finditer(folded):
                    out.append((concept, -1, lex.languages.get((concept, m.group()), frozenset())))
        if any(s in folded for s in lex.imperatives):
            out.append(("imperative", -1, frozenset({"ja", "ko"})))
    return out


def _name_positions(sentence: str) -> frozenset[int]:
    """Token positions inside runs of two or more capitalised words ("Tell Your Story", "Say Cheese Bakery"): a
    name, which addresses nobody."""
    tokens: list[re.Match[str] | None] = [*_TOKEN.finditer(sentence), None]
    out: set[int] = set()
    run: list[int] = []
    english = vocabulary().function.get("en", frozenset())
    for i, m in enumerate(tokens):
        if m is not None and m.group()[0].isupper() and not m.group().isupper():
            if run or m.group().lower() not in english:  # "The AI ..." is not a name; "Tell Your Story" is
                run.append(i)
                continue
        if m is not None and m.group().isupper() and len(m.group()) > 1 and run:
            run.append(i)
            continue
        if len(run) >= 2:
            out.update(run)
        run = []
    return frozenset(out)


def addresses_writer(sentence: str, quoted: bool = False) -> bool:
    """Does this sentence speak to the model or the writer (see the module docstring)? Each language's table is
    read with English's, never with another's: Spanish "vd" (you) is the Swedish title "VD" (chief executive)."""
    hits = concept_hits(sentence, _name_positions(sentence))
    if not hits:
        return False
    # English first (most instructions are English, and it is read with every table); then only the languages that
    # have a word of their own here (a language whose every hit English shares reads as English does), most hits
    # first.
    own: dict[str, int] = {}
    for _c, _i, langs in hits:
        if "en" not in langs:
            for lang in langs:
                own[lang] = own.get(lang, 0) + 1
    languages = ["en", *sorted(own, key=lambda lang: -own[lang])]
    return any(_addresses_in(sentence, quoted, language, hits) for language in languages)


def _addresses_in(sentence: str, quoted: bool, language: str, hits: list[tuple[str, int, frozenset[str]]]) -> bool:
    found: dict[str, list[int]] = {}
    for concept, i, langs in hits:
        if language in langs or "en" in langs:
            found.setdefault(concept, []).append(i)
    if not found:
        return False
    # A verb directs only where an order puts it: opening a clause (after openers and politeness), or in a script
    # matched as a whole. "Our AI helps you write emails" describes a product; "write ..." after "and" orders.
    orders = _imperative_positions(sentence, language)
    tokens = _words(fold_word(sentence))
    english = lexicon().english_verbs
    # English only: its verbs double as nouns and follow their subjects; verb-final languages put the order last.
    directive = any(i < 0 or tokens[i] not in _WEAK_MODALS for i in found.get("modals", ())) or any(
        i < 0 or i in orders or tokens[i] not in english and stem(tokens[i]) not in english for i in found.get("verbs", ()))
    addressee = "second_person" in found or "addressee" in found or "artefact" in found
    if quoted:
        return "addressee" in found and directive
    if directive and addressee:
        return True
    # The AI or the writer called by name to open the sentence ("Writer, ...", "Assistant: ..."): a vocative.
    head = re.match(r"([^,:：]{1,40})[,:：]", sentence)
    if head and "addressee" in found:
        words = _words(fold_word(head.group(1)))
        if 0 < len(words) <= 3 and len(words) - 1 in found["addressee"]:
            return True
    # The thing being written, named and given content ("the ideal opener notes that ...", "the P.S.: ...").
    if _WRITING.search(fold_word(sentence)) and (re.search(r"[:\"“«]|\bthat\b", sentence) or "verbs" in found):
        return True
    if "imperative" in found:
        return True  # a Japanese or Korean imperative ending: nothing else in a record speaks so
    # A clause (the sentence, or what follows a dash, colon, semicolon or bracket in it) that opens by speaking to
    # someone: with "you" ("tu es maintenant ...", "du bist jetzt ...") or with an imperative after any openers and
    # politeness words ("also, say ...", "bitte erwähne ...", "proszę dodać ..."). English spells many nouns as its
    # verbs ("Print shop", "Repeat customers"): there the verb must be followed by what it wants said (a colon, a
    # quote, "that") or by a pronoun or determiner ("say we ...", "mention the ...").
    parts = _CLAUSE_START.split(sentence)
    # Pieces alternate: clause, delimiter, clause, ...; "you" opening a bracket is an aside, not an address.
    return any(_opens_by_addressing(parts[i], language, you=i == 0 or parts[i - 1].strip() not in "([")
               for i in range(0, len(parts), 2) if parts[i].strip())


_CLAUSE_START = re.compile(r"(\s[—–-]\s|[:;(\[]|\s—|—\s)")
# English possessives: "Your one-stop shop" opens a slogan, not an address.
_POSSESSIVES = frozenset({"your", "yours", "ur", "thy", "thine"})
# English words of the modal list that marketing copy uses without ordering anyone ("never sleeps", "always on",
# "the only ..."): with a verb they order, alone they do not.
_WEAK_MODALS = frozenset({"always", "never", "only", "instead"})
# Words that join clauses, in the lexicon's languages: a verb right after one opens a clause.
_JOINERS = frozenset({"and", "then", "or", "but", "und", "dann", "oder", "aber", "et", "puis", "ou", "mais", "y", "luego",
                      "o", "pero", "e", "poi", "ma", "en", "dan", "of", "maar", "och", "sedan", "eller", "men", "og",
                      "sa", "i", "oraz", "lub", "a", "potem", "и", "или", "потом", "а", "ve", "sonra", "veya", "ama",
                      "si", "apoi", "sau", "και", "ή", "és", "majd", "vagy", "ja", "sitten", "tai", "pak",
                      "nebo", "و", "ثم", "ו"})


def _imperative_positions(sentence: str, language: str) -> frozenset[int]:
    """Token positions where an order's verb stands: the first word of each clause after its openers."""
    folded = fold_word(sentence)
    spans = [m.span() for m in _TOKEN.finditer(folded)]
    tokens = [folded[a:b] for a, b in spans]
    out: set[int] = set()
    for i, (a, _b) in enumerate(spans):
        gap = folded[spans[i - 1][1]:a] if i else ""
        if i == 0 or re.search(r"[,;:—–(\[.!?]", gap) or tokens[i - 1] in _JOINERS:
            first = _after_openers(tokens[i:], language)
            if first is not None:
                out.add(i + first)
    return frozenset(out)


def _in(token: str, language: str) -> frozenset[str]:
    """The concepts a word stands for in one language's table or in English's."""
    return frozenset(c for c, lang in _word_hits(token) if lang in (language, "en"))


def _after_openers(tokens: list[str], language: str) -> int | None:
    """The position of the first word after the openers and politeness a clause may start with ("also", "P.S.",
    "please", "be sure to", "bitte"), or None when nothing follows them."""
    lex = lexicon()
    i = 0
    while i < len(tokens):
        if tokens[i] in _OPENERS or "modals" in _in(tokens[i], language):
            i += 1
            continue
        phrase = next((p for c, p in _phrases_from(tokens, i) if c == "modals"
                       and lex.languages.get((c, p), frozenset()) & {language, "en"}), None)
        if phrase is None:
            return i
        i += len(phrase)
    return None


def _opens_by_addressing(clause: str, language: str, you: bool = True) -> bool:
    folded = fold_word(clause)
    tokens = _words(folded)
    if not tokens:
        return False
    if _NO_SPACES.match(folded.lstrip(" \"'“«「『")):
        head = folded.lstrip(" \"'“«「『")[:3]
        return any(head.startswith(p) for p in lexicon().substrings["second_person"])
    lex = lexicon()
    first = _after_openers(tokens, language)
    if first is None:
        return False
    opening = _in(tokens[first], language)
    if "second_person" in opening and first == 0 and tokens[0] not in _POSSESSIVES:
        # "you are now ...", "du bist jetzt ..."; not "Your partner in ..." (a slogan) nor a title that spells a pronoun
        return you and len(tokens) >= 3
    if "verbs" not in opening:
        return False
    verb = tokens[first]
    if verb not in lex.english_verbs and stem(verb) not in lex.english_verbs:
        return True
    following = tokens[first + 1] if first + 1 < len(tokens) else ""
    return bool(re.search(r"[:\"“«]|\bthat\b", clause)) or following in _ENGLISH_OBJECTS


# Names of the cold email's own parts: no fact about a company speaks of them.
_WRITING = re.compile(r"\b(?:opener|openers|opening lines?|first lines?|intro lines?|icebreakers?|subject lines?|"
                      r"p\.?s\.?|postscript|cold emails?|outreach emails?)\b")
# Words that may come before the imperative that opens an instruction.
_OPENERS = frozenset({"also", "and", "then", "please", "now", "so", "just", "ps", "p", "s", "btw", "note", "oh", "to",
                      "finally", "additionally", "kindly", "remember", "important", "nb", "update", "edit"})
# What follows an English imperative but not a noun: pronouns, determiners, quantifiers.
_ENGLISH_OBJECTS = frozenset({"we", "you", "your", "they", "them", "their", "him", "her", "he", "she", "it", "its",
                              "i", "me", "my", "our", "us", "the", "a", "an", "this", "that", "these", "those",
                              "all", "every", "each", "any", "some", "no", "nothing", "everything", "only",
                              "exactly", "back", "out", "up", "about", "to", "how", "what", "why", "instead"})


_SENTENCE = re.compile(r"[^.!?。！？\n;]*(?:[.!?。！？;]+[\"'”’»)]*|\n|$)")
_QUOTED = re.compile(r"[\"“«„]([^\"“”«»„]{2,200})[\"”»“]|(?<!\w)'([^']{2,200})'(?!\w)")


def _sentences(text: str) -> list[tuple[int, int]]:
    """The sentences of a text; a quotation is never cut ("Your assistant. Your rules." is one quoted slogan)."""
    quotes = [m.span() for m in _QUOTED.finditer(text)] if any(q in text for q in "\"“«„'") else []
    out: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE.finditer(text):
        end = m.end()
        if any(a < end < b for a, b in quotes):
            continue  # the terminator sits inside a quotation: the sentence goes on
        if text[start:end].strip():
            out.append((start, end))
        start = end
    if text[start:].strip():
        out.append((start, len(text)))
    return out


Check = Callable[[str], bool]


def _instruction_at(text: str, spans_taken: list[tuple[int, int]],
                    extra: Check | None = None) -> tuple[int, int] | None:
    """Where the first sentence that addresses the writer starts, and where its instruction ends: the end of the
    field (what follows an instruction belongs to it), or the end of the sentence when the instruction is only
    quoted in it. Stretches already quarantined are passed over; `extra`: the policy's own signs of an instruction."""
    for s, e in _sentences(text):
        if any(a <= s and e <= b for a, b in spans_taken):
            continue
        sentence = text[s:e]
        quotes = list(_QUOTED.finditer(sentence))
        outside = _QUOTED.sub(lambda m: " " * len(m.group()), sentence) if quotes else sentence
        if addresses_writer(outside) or (extra is not None and extra(outside)):
            return s, len(text)
        for q in quotes:
            if addresses_writer(q.group(1) or q.group(2) or "", quoted=True):
                return s, e
    return None


# ----------------------------------------------------------------------------------------------------------------
# The reading.
# ----------------------------------------------------------------------------------------------------------------


def _reversed_reads_better(sentence: str) -> bool:
    """Is this text written backwards (its reversal uses instruction concepts, the text itself none)?"""
    letters = [ch for ch in sentence if ch.isalpha()]
    if len(letters) < 12 or addresses_writer(sentence):
        return False
    return addresses_writer(sentence[::-1])


def _rot13_reads_better(sentence: str) -> bool:
    if not sentence.isascii() or sum(ch.isalpha() for ch in sentence) < 12 or addresses_writer(sentence):
        return False
    return addresses_writer(codecs.decode(sentence, "rot13"))


def _worth_reading(text: str, extra: Check | None) -> bool:
    """Could any sentence of this text address the writer? Only if the text has, in one language's table (with
    English's), what such a sentence needs: a directive and an addressee, an instruction verb, "you", a part of the
    email named. Most facts have none, and are not written backwards or in ROT13: those skip the sentence reading."""
    folded = fold_word(text)
    hits = concept_hits(text)
    for language in {lang for _c, _i, langs in hits for lang in langs}:
        found = {c for c, _i, langs in hits if language in langs or "en" in langs}
        if found & {"verbs", "addressee", "second_person", "imperative"} or ("modals" in found and found & _ADDRESSEES):
            return True
    if _WRITING.search(folded) or (extra is not None and extra(text)):
        return True
    return _unreadable(text)


def _turned_reads_better(text: str) -> bool:
    """Does the whole text, reversed or in ROT13, use more ordinary function words than as written?"""
    plain = _function_words(text)
    return _function_words(text[::-1]) >= plain + 2 or (
        text.isascii() and _function_words(codecs.decode(text, "rot13")) >= plain + 2)


_ADDRESSEES = frozenset({"second_person", "addressee", "artefact"})


def _unreadable_run(tokens: list[str]) -> bool:
    """Six words in a row with at most one function word: the only way a backwards or ROT13 sentence shows."""
    common = vocabulary().function_all
    marks = [t in common for t in tokens if t.isalpha()]
    # One short word may be a function word of some language by chance ("si" backwards is "is").
    return any(sum(marks[i:i + 6]) <= 1 for i in range(len(marks) - 5))


def _function_words(text: str) -> int:
    common = vocabulary().function_all
    return sum(t in common for t in _words(fold_word(text)))


def _unreadable(text: str) -> bool:
    """Written backwards or in ROT13? A sentence with at most one ordinary function word that reads better turned
    (see _turned_reads_better); the cheap tests on the whole text come first."""
    if not (_unreadable_run(_words(fold_word(text))) and _turned_reads_better(text)):
        return False
    return any(_function_words(text[s:e]) <= 1 and _turned_reads_better(text[s:e]) for s, e in _sentences(text))


def read_field(name: str, value: str, extra: Check | None = None) -> tuple[str, list[Quarantined]]:
    """One field's facts (its text with quarantined stretches blanked) and what was quarantined from it."""
    if not value:
        return value, []
    original = value
    taken: list[tuple[int, int, str, str]] = []
    if not original.isascii():
        for m in _TAGS.finditer(original):
            hidden = "".join(chr(ord(ch) - 0xE0000) for ch in m.group() if 0xE0020 <= ord(ch) <= 0xE007E)
            taken.append((m.start(), m.end(), hidden, "text hidden in Unicode tag characters"))
        for m in _BIDI_OVERRIDE.finditer(original):
            taken.append((m.start(), m.end(), m.group()[1:].rstrip("\u202c")[::-1], "text reversed by a bidi override"))
    reading = normalise(original)
    text = reading.text

    def back(s: int, e: int) -> tuple[int, int]:
        a, b = reading.span(s, e)
        return (a or 0), (b if b is not None else len(original))

    spans: list[tuple[int, int]] = []
    for s, e, decoded, reason, to_end in _structure(text):
        a, b = back(s, e)
        taken.append((a, len(original) if to_end else b, decoded, reason))
        spans.append((s, len(text) if to_end else e))
    if name not in NAME_FIELDS and _worth_reading(text, extra):
        found = _instruction_at(text, spans, extra)
        first = found
        while found is not None:
            at, until = found
            spans.append((at, until))
            at += len(text[at:until]) - len(text[at:until].lstrip())
            a, b = back(at, until)
            taken.append((a, len(original) if until == len(text) else b, text[at:until].strip(),
                          "addresses the model or the writer"))
            found = None if until == len(text) else _instruction_at(text, spans, extra)
        if first is None and _unreadable(text):
            for s, e in _sentences(text):
                chunk = text[s:e]
                if _reversed_reads_better(chunk):
                    a, b = back(s, e)
                    taken.append((a, b, chunk.strip()[::-1], "text written backwards"))
                elif _rot13_reads_better(chunk):
                    a, b = back(s, e)
                    taken.append((a, b, codecs.decode(chunk.strip(), "rot13"), "text encoded with ROT13"))
    if not taken:
        return original, []
    taken.sort()
    merged: list[tuple[int, int, str, str]] = []
    for s, e, decoded, reason in taken:
        if merged and s <= merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], max(prev[1], e), prev[2], prev[3])
            continue
        merged.append((s, e, decoded, reason))
    chars = list(original)
    out = []
    for s, e, decoded, reason in merged:
        chars[s:e] = " " * (e - s)
        out.append(Quarantined(name, s, e, decoded.strip() or original[s:e], reason))
    return "".join(chars), out


@lru_cache(maxsize=16384)
def _read_field(name: str, value: str) -> tuple[str, list[Quarantined]]:
    # Titles, cities and industries recur across the rows of a file: each is read once.
    return read_field(name, value)


def read_record(fields: tuple[tuple[str, str], ...], extra: Check | None = None) -> RecordReading:
    """Split a record's (field, value) pairs into fact cells and quarantined instructions (`extra`: the policy's
    own signs of an instruction in a sentence, beside the lexicon and the structure)."""
    facts: list[tuple[str, str]] = []
    quarantined: list[Quarantined] = []
    for name, value in fields:
        clean, found = read_field(name, value, extra) if extra is not None else _read_field(name, value)
        facts.append((name, clean))
        quarantined.extend(found)
    return RecordReading(tuple(facts), tuple(quarantined))
