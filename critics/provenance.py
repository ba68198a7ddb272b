"""Claim provenance: every factual word of a line traces to a fact of the record, or is only phrasing.

A line's words are of three kinds. Function words (articles, pronouns, prepositions, auxiliaries) and phrasing
(words that comment on a fact without adding one: "a big step", "congrats on", "real momentum") come from a small
policy-owned vocabulary, `phrasing.toml`. Every other word says something checkable — a name, a number, a place,
a product, an event, what happened — and must trace to a fact cell of the record: the same word after folding
case and accents, or the same Snowball stem (in English and in the record's own language), so that "openings"
traces to "opened" and "troisième boutique" to a French record that says so. Instructions quarantined from the
record (critics.record) are not fact cells, so a line cannot borrow its claims from them.

This module holds the vocabulary, the stemming and the tracing of one word; critics.rules.analysis applies it to
every word of a line, and `trace_claims` lists each claim of a line with the record spans it rests on.
"""

from __future__ import annotations

import re
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

# ISO 639-1 codes of the languages the vocabulary lists function words for, and their Snowball stemmers.
SNOWBALL = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese",
    "nl": "dutch", "sv": "swedish", "da": "danish", "fi": "finnish", "hu": "hungarian", "ro": "romanian",
    "ru": "russian", "tr": "turkish", "el": "greek", "cs": "czech", "lt": "lithuanian", "et": "estonian",
    "ga": "irish", "ar": "arabic", "id": "indonesian", "pl": "polish", "no": "norwegian",
}


# The lexicon's normalisation (see the header of instruction_lexicon.toml): case folded, and the marks on Latin,
# Greek and Cyrillic letters dropped; marks of other scripts (Devanagari vowel signs, harakat) kept.
_LETTER_MAP = {"ı": "i", "ł": "l", "đ": "d", "ø": "o", "ħ": "h"}


def _folds_marks(ch: str) -> bool:
    code = ord(ch)
    return code < 0x0530 or 0x1E00 <= code < 0x2000


class _Fold(dict[int, str]):
    """str.translate table: each character case-folded with its accents dropped, computed once per character."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = _LETTER_MAP.get(ch.lower())
        if out is None:
            folded = unicodedata.normalize("NFKC", ch).casefold()
            if _folds_marks(ch) or unicodedata.combining(ch) and code < 0x0370:
                folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
            out = folded
        self[code] = out
        return out


_FOLD = _Fold()


def fold_word(text: str) -> str:
    """Case-folded with the accents of Latin, Greek and Cyrillic letters dropped: how the lexicon, the phrasing
    vocabulary and the record's words are compared."""
    return text.translate(_FOLD)


_STEMMERS = threading.local()


def _stemmer(language: str) -> Any:
    # A Snowball stemmer keeps its working state on itself: one per thread, or concurrent items corrupt each other.
    import snowballstemmer  # imported on first use: loading every algorithm costs start-up time

    made = getattr(_STEMMERS, "by_language", None)
    if made is None:
        made = _STEMMERS.by_language = {}
    found = made.get(language)
    if found is None:
        found = made[language] = snowballstemmer.stemmer(SNOWBALL[language])
    return found


@lru_cache(maxsize=200_000)
def stem(word: str, language: str = "en") -> str:
    """The Snowball stem of a folded word in a language (the word itself where there is no stemmer)."""
    if language not in SNOWBALL or not word.isalpha():
        return word
    return str(_stemmer(language).stemWord(word))


@dataclass(frozen=True)
class Vocabulary:
    """The policy-owned words that need no fact: function words by language, and phrasing (as words and stems)."""

    function: dict[str, frozenset[str]]
    function_all: frozenset[str]
    phrasing: frozenset[str]
    phrasing_stems: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]


_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The bundled vocabulary (critics/phrasing.toml), read once."""
    data = tomllib.loads(resources.files("critics").joinpath("phrasing.toml").read_text(encoding="utf-8"))
    function = {lang: frozenset(fold_word(w) for w in words) for lang, words in data.get("function", {}).items()}
    single: set[str] = set()
    phrases: set[tuple[str, ...]] = set()
    for words in data.get("phrasing", {}).values():
        for term in words:
            tokens = tuple(_TOKEN.findall(fold_word(term)))
            if len(tokens) == 1:
                single.add(tokens[0])
            elif tokens:
                phrases.add(tokens)
    function_all = frozenset().union(*function.values()) if function else frozenset()
    return Vocabulary(function, function_all, frozenset(single), frozenset(stem(w) for w in single),
                      tuple(sorted(phrases)))


def language_of(tokens: set[str]) -> str | None:
    """The record's language, told by its function words (None: too few to tell, or English)."""
    vocab = vocabulary()
    best, hits = None, 1
    for lang, words in vocab.function.items():
        n = len(tokens & words)
        if n > hits:
            best, hits = lang, n
    return None if best == "en" else best


@lru_cache(maxsize=1)
def phrasing_phrases() -> re.Pattern[str] | None:
    """One pattern for the vocabulary's multi-word phrases ("one to watch", "stuck with me"), on word boundaries."""
    phrases = sorted((" ".join(p) for p in vocabulary().phrases), key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(r"(?<![\w'])(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases) + r")(?![\w'])")


def line_language(tokens: set[str]) -> str:
    """The language whose function words a text uses most ("en" when none stands out)."""
    vocab = vocabulary()
    english = len(tokens & vocab.function.get("en", frozenset()))
    best, hits = "en", max(english, 1)
    for lang, words in vocab.function.items():
        n = len(tokens & words)
        if lang != "en" and n > hits:
            best, hits = lang, n
    return best


def is_english_record(text: str, tokens: set[str]) -> bool:
    """Are a record's facts written in English? As a line (below); a record with no English function word at all
    may be telegraphic English ("Added 12 CNG trucks") or another language written in ASCII ("Avasi uuden
    kalanjalostamon Rovaniemelle"): a language identifier (py3langid) tells them apart."""
    if len(tokens) >= 4 and tokens.isdisjoint(vocabulary().function.get("en", frozenset())):
        return identify_language(text) == "en"
    return is_english(text, tokens)


def identify_language(text: str) -> str:
    """The language of a text by py3langid's model (loaded on first use, about 0.7 s)."""
    import py3langid  # imported on first use: most records are told by their function words alone

    return str(py3langid.classify(text)[0])


def is_english(text: str, tokens: set[str], language: str | None = None) -> bool:
    """Is a line written in English (or too short to tell)? Only then is every content word traced: the phrasing
    vocabulary is English, and a line in another language is checked by its names, numbers and links."""
    if text.isascii():
        return (language or line_language(tokens)) == "en"
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(not ch.isascii() for ch in letters) > len(letters) / 2:
        latin = sum(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
        if latin < len(letters) / 2:
            return False
    if sum(not ch.isascii() for ch in letters) > 0.05 * len(letters):
        vocab = vocabulary()
        english = len(tokens & vocab.function.get("en", frozenset()))
        if not english or any(len(tokens & words) > english for lang, words in vocab.function.items() if lang != "en"):
            return False
    return line_language(tokens) == "en"


def is_phrasing(word: str, language: str | None = None) -> bool:
    """A folded word that asserts nothing: a function word of English or of the record's language, or phrasing
    (by its stem). Each language's function words count only for its own records: German "die" or Dutch "net" are
    not English function words."""
    vocab = vocabulary()
    if word in vocab.phrasing or word in vocab.function.get("en", ()):
        return True
    if language is not None and word in vocab.function.get(language, ()):
        return True
    return stem(word) in vocab.phrasing_stems


def word_stems(word: str, language: str | None) -> tuple[str, ...]:
    """The stems a folded word is compared by: English, and the record's language when it is another."""
    if language is None or language == "en":
        return (stem(word),)
    return (stem(word), stem(word, language))


@dataclass(frozen=True)
class Source:
    """Where a claim's fact sits in the record: the field and the [start, end) offsets of the word in its text."""

    field: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Claim:
    """One factual word of a line, its span in the line, and the record spans it traces to (none: ungrounded)."""

    start: int
    end: int
    text: str
    sources: tuple[Source, ...]


def fact_index(cells: tuple[tuple[str, str], ...], language: str | None) -> dict[str, list[Source]]:
    """Every word of the fact cells, by folded form and by stem, with where it sits."""
    index: dict[str, list[Source]] = {}
    for field, text in cells:
        for m in _TOKEN.finditer(text):
            word = fold_word(m.group())
            source = Source(field, m.start(), m.end(), m.group())
            for key in {word, *word_stems(word, language)}:
                index.setdefault(key, []).append(source)
    return index


def trace_word(word: str, index: dict[str, list[Source]], language: str | None) -> tuple[Source, ...]:
    """The record spans a folded word of the line traces to (by form, then by stem)."""
    found = index.get(word)
    if found:
        return tuple(found)
    for key in word_stems(word, language):
        found = index.get(key)
        if found:
            return tuple(found)
    if word.endswith("s") and len(word) > 3:
        return tuple(index.get(word[:-1], ()))
    return ()


# English irregular verbs: their past forms trace to the base form's stem ("won" to "win", "grew" to "grow").
_IRREGULAR = {
    "won": "win", "grew": "grow", "grown": "grow", "built": "build", "ran": "run", "sold": "sell", "led": "lead",
    "held": "hold", "took": "take", "taken": "take", "brought": "bring", "became": "become", "made": "make",
    "began": "begin", "begun": "begin", "bought": "buy", "chose": "choose", "chosen": "choose", "drew": "draw",
    "drawn": "draw", "drove": "drive", "driven": "drive", "fell": "fall", "fallen": "fall", "felt": "feel",
    "found": "find", "flew": "fly", "flown": "fly", "gave": "give", "given": "give", "went": "go", "gone": "go",
    "had": "have", "heard": "hear", "hid": "hide", "kept": "keep", "knew": "know", "known": "know", "laid": "lay",
    "left": "leave", "lent": "lend", "lost": "lose", "meant": "mean", "met": "meet", "paid": "pay", "rode": "ride",
    "rose": "rise", "risen": "rise", "said": "say", "saw": "see", "seen": "see", "sent": "send", "set": "set",
    "shook": "shake", "shot": "shoot", "shown": "show", "shut": "shut", "sang": "sing", "sung": "sing", "sat": "sit",
    "slept": "sleep", "spoke": "speak", "spoken": "speak", "spent": "spend", "split": "split", "spread": "spread",
    "stood": "stand", "stole": "steal", "stolen": "steal", "struck": "strike", "swore": "swear", "taught": "teach",
    "told": "tell", "thought": "think", "threw": "throw", "thrown": "throw", "understood": "understand",
    "woke": "wake", "wore": "wear", "worn": "wear", "wrote": "write", "written": "write", "broke": "break",
    "broken": "break", "caught": "catch", "came": "come", "cut": "cut", "dealt": "deal", "did": "do", "done": "do",
    "ate": "eat", "eaten": "eat", "fed": "feed", "fought": "fight", "forgot": "forget", "froze": "freeze",
    "frozen": "freeze", "got": "get", "gotten": "get", "hung": "hang", "hit": "hit", "hurt": "hurt", "let": "let",
    "lit": "light", "put": "put", "quit": "quit", "read": "read", "rang": "ring", "rung": "ring", "sought": "seek",
    "shone": "shine", "shrank": "shrink", "sank": "sink", "sunk": "sink", "slid": "slide", "spun": "spin",
    "sprang": "spring", "stuck": "stick", "stung": "sting", "strove": "strive", "swam": "swim", "swung": "swing",
    "tore": "tear", "torn": "tear", "withdrew": "withdraw", "withdrawn": "withdraw", "wound": "wind", "wove": "weave",
    "bore": "bear", "born": "bear", "beat": "beat", "beaten": "beat", "bent": "bend", "bet": "bet", "bid": "bid",
    "bit": "bite", "bitten": "bite", "bled": "bleed", "blew": "blow", "blown": "blow", "bred": "breed",
    "burnt": "burn", "burst": "burst", "cast": "cast", "clung": "cling", "cost": "cost", "crept": "creep",
    "dug": "dig", "dove": "dive", "dreamt": "dream", "drank": "drink", "drunk": "drink", "fled": "flee",
    "forbade": "forbid", "forgave": "forgive", "forgiven": "forgive", "hidden": "hide", "knelt": "kneel",
    "leapt": "leap", "learnt": "learn", "lain": "lie", "overcame": "overcome", "oversaw": "oversee",
    "overseen": "oversee", "rebuilt": "rebuild", "redone": "redo", "rewrote": "rewrite", "rewritten": "rewrite",
    "undertook": "undertake", "undertaken": "undertake", "upheld": "uphold", "won't": "will",
    "children": "child", "people": "person", "men": "man", "women": "woman",
}


def base_form(word: str) -> str:
    """The base form of an English irregular past or plural form (the word itself otherwise)."""
    return _IRREGULAR.get(word, word)


# Languages whose number words a non-English record may use for a number the line writes in English.
_NUMBER_LANGUAGES = ("fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "ru", "uk", "cs", "sk", "sl",
                     "ro", "hu", "tr", "lt", "lv", "vi", "id", "he", "ar", "ko", "ja")


@lru_cache(maxsize=1)
def foreign_numbers() -> tuple[dict[str, float], dict[str, float]]:
    """Number words of other languages (cardinals and ordinals, from num2words): by folded word, and by a
    four-letter head for inflected forms ("третью" for "третий")."""
    from num2words import num2words  # imported on first use, for a record in another language only

    values = list(range(1, 21)) + list(range(30, 101, 10)) + [1000]
    words: dict[str, float] = {}
    heads: dict[str, float] = {}
    english = vocabulary().function.get("en", frozenset())
    for lang in _NUMBER_LANGUAGES:
        for n in values:
            for kind in ("cardinal", "ordinal"):
                try:
                    text = num2words(n, lang=lang, to=kind)
                except (NotImplementedError, ValueError, TypeError, AttributeError, KeyError, IndexError):
                    continue
                word = fold_word(str(text)).strip()
                if len(word) < 3 or word in english or " " in word:
                    continue
                words.setdefault(word, float(n))
                if len(word) >= 5 and word.isalpha():
                    heads.setdefault(word[:4], float(n))
    return words, heads


def foreign_number(word: str) -> float | None:
    """The value of a folded number word of another language, or None."""
    words, heads = foreign_numbers()
    if word in words:
        return words[word]
    return heads.get(word[:4]) if len(word) >= 5 else None


# Words for a thousand, a million and a billion in the record's language, after a number ("60 mil toneladas",
# "20 ألف متر", "3 Mio."): the line may write the whole number.
_SCALES = {
    1_000: ("mil", "mille", "mila", "tausend", "tsd", "duizend", "tusen", "tuhat", "tysiac", "tysiace", "tysiecy",
            "tys", "tisic", "tis", "ezer", "bin", "тысяч", "тысячи", "тысяча", "тыс", "хиляди", "тисяч", "χιλιαδες",
            "ألف", "آلاف", "אלף", "nghin", "ngan", "ribu"),
    1_000_000: ("millon", "millones", "million", "millions", "milione", "milioni", "milhao", "milhoes", "miljoen",
                "miljon", "miljoner", "miljoona", "milion", "miliony", "milionow", "millio", "milyon", "миллион",
                "миллиона", "миллионов", "млн", "mio", "mln", "εκατομμυρια", "مليون", "מיליון", "trieu", "juta"),
    1_000_000_000: ("milliard", "milliarden", "miliardo", "miliardi", "miljard", "miliard", "mrd", "млрд",
                    "milyar", "tỷ", "ty", "مليار"),
}
_SCALE_OF = {fold_word(word): value for value, words in _SCALES.items() for word in words}
_SCALED = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\W\d_]+)")


def scaled_numbers(folded: str) -> set[float]:
    """The values of numbers followed by a scale word of another language ("60 mil" is 60,000)."""
    out = set()
    for m in _SCALED.finditer(folded):
        scale = _SCALE_OF.get(m.group(2).rstrip("."))
        if scale:
            out.add(round(float(m.group(1).replace(",", ".")) * scale, 6))
    return out
