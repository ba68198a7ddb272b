"""What of a prospect record may reach a model: the context allowlist, and the screen every prompt value passes.

A CSV column is a named field (mapped by the loader), context (sent to the model, joined to the notes) or kept
(kept in the row for the export, never sent to a model, an eval case's prompt text or a prompt file). Only
notes-like columns are context: their header matches the policy's allowlist, or the user asked for them. Columns
whose name marks them as contact data or CRM internals, and columns whose values are mostly email addresses, phone
numbers, URLs, ids, dates or numbers, are never context, whatever the allowlist says. Inside any value that does
reach a prompt, email addresses, phone numbers, tracking links, CRM ids and internal "Field: value" pairs are
replaced by a marker.

Pure functions over strings; the detectors here are the one definition the loader, the prompt fields, the prompt
files' check and the rules share.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from critics.policy import ContextPolicy

# Header patterns (matched on normalised header words, see `header_words`) of notes-like columns: the default
# allowlist. The policy's [context] allow list repeats it; a test keeps the two the same.
DEFAULT_ALLOW: tuple[str, ...] = (
    "note", "description", "company description", "about", "summary", "bio", "biography", "headline", "news",
    "recent news", "keyword", "specialty", "specialties", "speciality", "specialities", "technology", "technologies",
    "tech stack", "interest", "personalization", "personalisation", "personalized", "personalised", "icebreaker",
    "talking point", "highlight", "announcement",
)

# Header patterns that mark contact data or CRM internals: never context, whatever the allowlist or the user says.
# Not a policy setting, so that no policy file can open them up (a policy may add to them with `never`).
NEVER: tuple[str, ...] = (
    # contact data
    "email", "mail", "mailing", "phone", "telephone", "tel", "mobile", "cell", "fax", "whatsapp", "skype",
    "address", "street", "zip", "zipcode", "postal", "postcode", "ip",
    # ids
    "id", "uuid", "guid", "record id", "contact id", "lead id", "object id", "account id", "user id", "person id",
    "company id", "deal id", "external id", "crm id",
    # CRM state and ownership
    "owner", "stage", "lifecycle", "status", "lead status", "score", "source", "campaign", "utm", "deal",
    "pipeline", "hubspot", "salesforce", "sfdc", "hs", "pardot", "mailchimp",
    # times and counts
    "created", "modified", "updated", "last activity", "last contacted", "date", "timestamp", "number", "number of",
    "count", "revenue", "employee", "headcount", "visit", "pageview", "page view",
    # links and tracking
    "url", "link", "linkedin", "tracking",
    # consent
    "unsubscribe", "unsubscribed", "opt out", "opted out", "opt in", "consent", "gdpr", "do not call", "do not email",
    "bounce", "bounced",
    # sensitive personal data
    "birth", "birthday", "birthdate", "dob", "age", "gender", "salary", "ssn", "password", "token",
)
# Never-list terms also matched at the start or end of a one-word header ("emailaddress", "WorkPhone"): long and
# unambiguous enough not to hit other words.
_AFFIX_TERMS: tuple[str, ...] = ("email", "phone", "mobile", "linkedin", "lifecycle", "unsubscribe", "optout",
                                 "gdpr", "hubspot", "salesforce")

MARKERS: dict[str, str] = {
    "email": "[email removed]",
    "phone": "[phone removed]",
    "tracking link": "[tracking link removed]",
    "CRM id": "[id removed]",
    "internal field": "[internal field removed]",
}


# --- header names ------------------------------------------------------------------------------------------------

def header_words(name: str) -> tuple[str, ...]:
    """A header as lower-case words: camelCase, spaces, underscores, hyphens and other punctuation split it."""
    text = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return tuple(w for w in re.split(r"[^0-9a-z]+", text.lower()) if w)


@lru_cache(maxsize=4096)
def _compact(pattern: str) -> str:
    # Cached: the never-list is matched against every "Field:" label of every screened text.
    return "".join(header_words(pattern))


def _runs(words: Sequence[str]) -> Iterable[str]:
    for i in range(len(words)):
        for j in range(i + 1, len(words) + 1):
            yield "".join(words[i:j])


def header_matches(name: str, patterns: Iterable[str], affixes: Iterable[str] = ()) -> str | None:
    """The first pattern that names this header, or None: a pattern matches a run of the header's words, joined
    ("e-mail", "E Mail" and "EMail" are all "email"), with a plural "s" or "es" allowed; an affix term also matches
    the start or end of a one-word header."""
    words = header_words(name)
    runs = set(_runs(words))
    for pattern in patterns:
        term = _compact(pattern)
        if term and (term in runs or term + "s" in runs or term + "es" in runs):
            return pattern
    if len(words) == 1:
        for term in affixes:
            if words[0] != term and (words[0].startswith(term) or words[0].endswith(term)):
                return term
    return None


def internal_reason(name: str, never: Iterable[str] = ()) -> str | None:
    """The never-list term that marks a header as contact data or a CRM internal, or None."""
    return _internal_reason(name, tuple(never))


@lru_cache(maxsize=4096)
def _internal_reason(name: str, never: tuple[str, ...]) -> str | None:
    return header_matches(name, (*NEVER, *never), _AFFIX_TERMS)


def is_internal_column(name: str, never: Iterable[str] = ()) -> bool:
    """Whether a header names contact data or a CRM internal (never sent to a model)."""
    return internal_reason(name, never) is not None


# --- values ------------------------------------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9][A-Za-z0-9-]*"
EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@" + _LABEL + r"(?:\." + _LABEL + r")*\.[A-Za-z]{2,}"
                   r"(?![\w-])")
# "dana [at] acme [dot] com", "dana(at)acme.com": the same address written to dodge a filter.
EMAIL_SPELLED = re.compile(r"(?<![\w.%+-])[\w.%+-]+\s*[\[(<{]\s*at\s*[\])>}]\s*[\w-]+"
                           r"(?:(?:\s*[\[(<{]\s*dot\s*[\])>}]\s*|\.)[\w-]+)+", re.IGNORECASE)
_PHONE_CANDIDATE = re.compile(r"(?<![\w@/=#+.,-])(?:\+\d{1,3}[\s.-]{0,2})?(?:\(\d{1,5}\)[\s.-]{0,2})?\d{1,6}"
                              r"(?:(?:\s?[.-]\s?|\s)\d{1,6}){0,5}(?![\w@/-]|[.,]\d)")
_YEAR = re.compile(r"(?:19|20)\d\d")
_DATE_LIKE = re.compile(r"\d{1,4}[.-]\d{1,2}[.-]\d{1,4}")
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", re.IGNORECASE)
_TRACKING_PARAMS = re.compile(r"^(?:utm_|_?hs|mc_|mkt_tok$|fbclid$|gclid$|msclkid$|sfmc_|pk_)", re.IGNORECASE)
_TRACKING_HOSTS: tuple[str, ...] = (
    "hubspot.com", "hubspotlinks.com", "hubspotemail.net", "hs-sites.com", "hsforms.com", "hs-analytics.net",
    "salesforce.com", "force.com", "exacttarget.com", "pardot.com", "list-manage.com", "mailchimp.com", "mailchi.mp",
    "mcusercontent.com", "mandrillapp.com", "sendgrid.net",
)
_SALESFORCE_ID = re.compile(r"(?<![\w-])00[0-9A-Za-z][0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?(?![\w-])")
_UUID = re.compile(r"(?<![\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(?<![\w.,/$€£-])\d{9,}(?![\w.,/%-])")
# "Lifecycle Stage: Lead", "Record ID: 123" inside a text: a label (one to four words) and its value.
_FIELD = re.compile(r"(?:^|(?<=[\n;(,])|(?<=\.\s))[ \t]*([A-Za-z][\w/#&-]*(?:[ \t][\w/#&-]+){0,3})[ \t]*:[ \t]*"
                    r"([^\s;()][^;\n()]*?)[ \t]*(?=[;\n()]|\.\s|\.?$)")
_BARE_DOMAIN = re.compile(r"(?:[\w-]+\.)+(?:com|net|org|io|co|ai|app|dev|biz|info|us|uk|de|fr|es|it|nl|ca|au|eu|"
                          r"ch|se|no|dk|fi|ie|be|at|pl|in|jp|br|mx)(?:/\S*)?", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s?(?:Z|[+-]\d{2}:?\d{2}|UTC)?)?"
                   r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?:,?\s\d{1,2}:\d{2}(?::\d{2})?\s?(?:[AaPp][Mm])?)?"
                   r"|(?:\d{1,2}\s)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s(?:\d{1,2},?\s)?"
                   r"\d{4}|\d{1,2}:\d{2}(?::\d{2})?\s?(?:[AaPp][Mm])?", re.IGNORECASE)
_NUMBER = re.compile(r"[-+~]?[$€£¥]?\s?\d[\d,.\s]*\s?(?:%|[kmb]|mm|bn|million|billion|thousand)?\+?"
                     r"(?:\s?(?:-|–|to)\s?[$€£¥]?\d[\d,.]*\s?(?:%|[kmb]|mm|bn|million|billion|thousand)?\+?)?",
                     re.IGNORECASE)
_TOKEN_ID = re.compile(r"(?=(?:[^\d]*\d){3})[A-Za-z0-9][A-Za-z0-9_#:-]{3,63}")
_FLAG = re.compile(r"yes|no|y|n|true|false|0|1|x|checked|unchecked|none|null|n/a", re.IGNORECASE)


def _is_phone(candidate: str) -> bool:
    """Whether a phone-shaped run of digits is a phone number, not a date, a year range or a grouped amount."""
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15:
        return False
    if candidate.startswith("+") or "(" in candidate:
        return True
    groups = re.findall(r"\d+", candidate)
    if len(groups) < 2 or _DATE_LIKE.fullmatch(candidate.strip()):
        return False
    if all(_YEAR.fullmatch(g) for g in groups):
        return False  # "2019 2023", "1995-2005"
    if not re.search(r"\d[.-]|\d\s?[.-]", candidate) and all(len(g) == 3 for g in groups[1:]):
        return False  # "12 500 000": an amount grouped by thousands
    if re.fullmatch(r"[\d.\s]+", candidate) and all(len(g) == 3 for g in groups[1:]):
        return False  # "1.200.000"
    return True


def phones(text: str) -> list[re.Match[str]]:
    """The phone numbers in a text."""
    return [m for m in _PHONE_CANDIDATE.finditer(text) if _is_phone(m.group(0))]


def is_tracking_url(url: str) -> bool:
    """Whether a URL is a marketing or CRM tracking link: utm_/hs/mc_ parameters or a tracking host."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _TRACKING_HOSTS):
        return True
    return any(_TRACKING_PARAMS.match(key) for key, _v in parse_qsl(parts.query, keep_blank_values=True))


# Labels that alone are ordinary prose in a note ("Source: TechCrunch", "Date: March 3"); with another word
# ("Lead Source", "Close Date") they are CRM fields.
_PROSE_LABELS = frozenset({"source", "date", "status", "stage", "number", "count", "address", "link", "url", "age",
                           "created", "updated", "modified", "campaign", "deal", "visit", "tracking", "mail"})


def _internal_pairs(text: str, never: Iterable[str] = ()) -> list[re.Match[str]]:
    found = []
    for m in _FIELD.finditer(text):
        label, value = m.group(1), m.group(2)
        if value.startswith("{") or internal_reason(label, never) is None:
            continue
        if len(header_words(label)) == 1 and _compact(label).removesuffix("s") in _PROSE_LABELS:
            continue
        found.append(m)
    return found


@dataclass(frozen=True)
class Sensitive:
    """Something in a text that must not reach a model: its kind ("email", "phone", ...) and where it is."""

    kind: str
    start: int
    end: int
    text: str

    def masked(self) -> str:
        """The found text, shortened so that a warning does not repeat it in full."""
        value = self.text
        if self.kind == "email" and "@" in value:
            local, _, domain = value.partition("@")
            return f"{local[:1]}...@{domain}"
        if self.kind == "internal field":
            return value.partition(":")[0].strip()  # the field's name says enough
        if self.kind == "phone":
            return "..." + "".join(ch for ch in value if ch.isdigit())[-4:]
        return value if len(value) <= 12 else value[:6] + "..." + value[-3:]


def find_sensitive(text: str, never: Iterable[str] = ()) -> list[Sensitive]:
    """Every email address, phone number, tracking link, CRM id and internal "Field: value" pair in a text, in order
    (overlaps resolved in favour of the first found, in that order of kinds)."""
    found: list[Sensitive] = []
    spans: list[tuple[int, int]] = []  # sorted and disjoint: a bisection finds an overlap in a long text

    def add(kind: str, start: int, end: int) -> None:
        i = bisect.bisect_left(spans, (start, end))
        if (i and spans[i - 1][1] > start) or (i < len(spans) and spans[i][0] < end):
            return
        spans.insert(i, (start, end))
        found.append(Sensitive(kind, start, end, text[start:end]))

    for m in URL.finditer(text):
        if is_tracking_url(m.group(0)):
            add("tracking link", m.start(), m.end())
    for pattern in (EMAIL, EMAIL_SPELLED):
        for m in pattern.finditer(text):
            add("email", m.start(), m.end())
    for m in _internal_pairs(text, never):
        add("internal field", m.start(1), m.end(2))
    for m in phones(text):
        add("phone", m.start(), m.end())
    for pattern in (_SALESFORCE_ID, _UUID, _LONG_NUMBER):
        for m in pattern.finditer(text):
            if any(ch.isdigit() for ch in m.group(0)):
                add("CRM id", m.start(), m.end())
    return sorted(found, key=lambda s: s.start)


def screen(text: str, never: Iterable[str] = ()) -> str:
    """`text` with every email address, phone number, tracking link, CRM id and internal field replaced by a marker
    such as "[email removed]": the value-level screen for everything that reaches a prompt."""
    if not text:
        return text
    out, at = [], 0
    for s in find_sensitive(text, never):
        out += [text[at:s.start], MARKERS[s.kind]]
        at = s.end
    return "".join(out) + text[at:]


def value_kind(value: str) -> str | None:
    """What a whole cell is when it is structured data rather than text: "email", "phone", "url", "date",
    "number", "id" or "flag"; None for text."""
    v = value.strip()
    if not v:
        return None
    if all(EMAIL.fullmatch(part.strip()) for part in re.split(r"[,;]", v) if part.strip()):
        return "email"
    if _DATE.fullmatch(v):
        return "date"
    if (m := _PHONE_CANDIDATE.fullmatch(v)) and _is_phone(m.group(0)):
        return "phone"
    if URL.fullmatch(v) or _BARE_DOMAIN.fullmatch(v):
        return "url"
    if _NUMBER.fullmatch(v):
        return "number"
    if _SALESFORCE_ID.fullmatch(v) or _UUID.fullmatch(v) or _TOKEN_ID.fullmatch(v):
        return "id"
    if _FLAG.fullmatch(v):
        return "flag"
    return None


def structured(values: Iterable[str]) -> tuple[float, str | None]:
    """The share of non-empty values that are structured data, and the most common kind among them."""
    kinds = [value_kind(v) for v in values if v and v.strip()]
    if not kinds:
        return 0.0, None
    counted = Counter(k for k in kinds if k)
    share = sum(counted.values()) / len(kinds)
    return share, (counted.most_common(1)[0][0] if counted else None)


_KIND_WORDS = {"email": "email addresses", "phone": "phone numbers", "url": "URLs", "date": "dates",
               "number": "numbers", "id": "ids", "flag": "yes/no flags"}


def values_reason(values: Sequence[str], max_share: float) -> str | None:
    """Why a column's values make it structured data rather than context, or None."""
    share, kind = structured(values)
    if kind is None or share <= max_share:
        return None
    return f"{share:.0%} of its values are {_KIND_WORDS[kind]} or similar structured data"


def internal_values(record: Mapping[str, Any], never: Iterable[str] = ()) -> list[str]:
    """The values of a stored record's extra columns that the never-list names (records from before the allowlist
    may hold them)."""
    extra = record.get("extra") or {}
    return [str(v).strip() for k, v in extra.items()
            if v and str(v).strip() and internal_reason(str(k), never) is not None]


def leaks(text: str, record: Mapping[str, Any] | None = None, never: Iterable[str] = ()) -> list[str]:
    """What in `text` must not go into a prompt: sensitive values, and any internal column value of `record`
    (whole words, case-insensitive)."""
    found = [f"{s.kind} {s.masked()!r}" for s in find_sensitive(text, never)]
    for value in internal_values(record or {}, never):
        if len(value) >= 2 and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE):
            found.append(f"internal column value {value[:20]!r}")
    return found


# --- columns -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnPlan:
    """Which columns of a file go where: named fields (by field), context (sent to the model), and kept only."""

    named: dict[str, tuple[str, ...]] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    why_kept: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def plan_columns(headers: Sequence[str], named: Mapping[str, tuple[str, ...]], samples: Mapping[str, Sequence[str]],
                 policy: ContextPolicy, requested: Sequence[str] = ()) -> ColumnPlan:
    """Decide each column's place. `named` is the loader's header mapping, `samples` some non-empty values per
    column, `requested` the headers the user asked to send (--context-columns); a requested column the never-list
    or its values rule out lands in `refused`, with the reason."""
    used = {h for hs in named.values() for h in hs}
    asked = set(requested)
    chosen = set(policy.columns)
    context: list[str] = []
    kept: list[str] = []
    why: dict[str, str] = {}
    refused: dict[str, str] = {}
    warnings: list[str] = []
    for header in headers:
        if header in used:
            if header in asked:
                fieldname = next(f for f, hs in named.items() if header in hs)
                warnings.append(f"--context-columns {header!r}: already the {fieldname} field")
            continue
        if not (header in asked or header in chosen or header_matches(header, policy.allow) is not None):
            kept.append(header)
            continue
        term = internal_reason(header, policy.never)
        reason = (f"its name marks contact data or a CRM field ({term!r})" if term is not None
                  else values_reason(samples.get(header, ()), policy.max_structured_share))
        if reason is None:
            context.append(header)
            continue
        kept.append(header)
        why[header] = reason
        if header in asked:
            refused[header] = reason
        elif header in chosen:
            warnings.append(f"policy context.columns {header!r} is not sent to the model: {reason}")
    return ColumnPlan(dict(named), tuple(context), tuple(kept), why, refused, tuple(warnings))
