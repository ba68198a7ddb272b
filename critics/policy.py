"""The gate policy: rule limits and word lists, and the routing thresholds, read from TOML."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critics.context import DEFAULT_ALLOW, internal_reason
from critics.findings import Severity


class PolicyError(ValueError):
    """A policy file that cannot be read or does not validate; the message names the file and field."""


class RulesPolicy(BaseModel):
    """Limits and word lists for the deterministic rules."""

    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(gt=0, description="Longest allowed first line, in characters.")
    untraced_word_limit: int = Field(default=2, ge=0, description="How much untraced wording a line may carry before "
                                     "it is an ungrounded claim: each content word that traces to no fact and is not "
                                     "phrasing counts 1, a past form (what happened) 2; above this the line is flagged.")
    action_verbs: list[str] = Field(default_factory=list, description="Verbs that, opening a clause of the line, ask "
                                    "the reader to act (reply, verify, click): a first line states a fact, and a request "
                                    "like this is what an injected instruction wants. The instruction lexicon's verbs "
                                    "count too.")
    flag_generic: bool = Field(default=True, description="Flag a line that uses no fact from the record (`generic`): "
                               "it could be sent to any company.")
    claim_terms: list[str] = Field(default_factory=list, description="Claim words (award, keynote, record, ...) that need support from the record.")
    pricing_terms: list[str] = Field(description="Words and phrases that talk about price, discounts or free offers.")
    spam_terms: list[str] = Field(description="Hype and spam phrases.")
    tone_terms: list[str] = Field(description="Rude, overly familiar, creepy, sarcastic or pushy phrases.")
    leak_terms: list[str] = Field(description="Model artefacts: 'As an AI', 'Here is', 'Sure!', echoed instructions.")
    injection_terms: list[str] = Field(description="Phrases that address the model inside a prospect record.")
    # The fields below default to empty so that a hand-built RulesPolicy stays valid; the bundled
    # default_policy.toml fills them in.
    pricing_patterns: list[str] = Field(default_factory=list, description="Regular expressions for prices and offers, e.g. currency amounts.")
    pricing_exclusions: list[str] = Field(default_factory=list, description="Phrases that contain a pricing term but are not about price ('feel free').")
    spam_patterns: list[str] = Field(default_factory=list, description="Regular expressions for spam markers beyond the word list.")
    tone_patterns: list[str] = Field(default_factory=list, description="Regular expressions for rude, creepy, familiar, sarcastic or pushy wording.")
    leak_openers: list[str] = Field(default_factory=list, description="Phrases that are model artefacts when they open the line ('Sure,', 'Here is a').")
    leak_parenthetical_terms: list[str] = Field(default_factory=list, description="Words that mark a parenthetical as a note to the user, e.g. '(let me know ...)'.")
    injection_patterns: list[str] = Field(default_factory=list, description="Regular expressions for instructions aimed at the model inside a record.")
    injection_ignore_words: list[str] = Field(default_factory=list, description="Words of an injected instruction that do not show the line obeyed it (function words, 'write', 'line').")
    greeting_words: list[str] = Field(default_factory=list, description="Greetings that may precede a first name ('Hi', 'Good morning').")
    common_words: list[str] = Field(default_factory=list, description="Words that may be capitalised without being names or claims (sentence starts, interjections).")
    allowed_terms: list[str] = Field(default_factory=list, description="Capitalised terms and acronyms that need no support from the record ('I', 'AI', 'CEO', months).")
    org_words: list[str] = Field(default_factory=list, description="Words that mark a capitalised phrase as an organisation name ('Inc', 'Group', 'Partners').")
    abbreviations: list[str] = Field(default_factory=list, description="Abbreviations whose period does not end a sentence ('Inc', 'Dr', 'e.g').")

    @field_validator("pricing_patterns", "spam_patterns", "tone_patterns", "injection_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return value


class TierPolicy(BaseModel):
    """What a consequence tier changes: forced review and the audit-sampling rate."""

    model_config = ConfigDict(extra="forbid")

    force_review: bool = Field(default=False, description="Send every line to a human, flagged or not.")
    audit_sample_rate: float = Field(default=0.02, ge=0.0, le=1.0, description="Share of auto-approved lines sampled "
                                     "for audit: the floor the adaptive audit rate decays to (or the fixed rate).")


class RoutePolicy(BaseModel):
    """When a line may skip the human: thresholds, consequence tiers and audit sampling."""

    model_config = ConfigDict(extra="forbid")

    confidence_threshold: float = Field(ge=0.0, le=1.0, description="Lowest critic confidence that may auto-approve.")
    blocking_severity: Severity = Field(description="Critic findings at or above this severity block auto-approval.")
    tier: str = Field(description="The consequence tier in force (a key of `tiers`).")
    tiers: dict[str, TierPolicy] = Field(description="Consequence tiers by name.")
    audit_seed: int = Field(default=0, description="Seed for audit sampling, so that a rerun gives the same sample.")
    max_regenerate_rounds: int = Field(default=3, ge=0, description="How often a reviewer may send one line back to the drafter.")
    shadow: bool = Field(default=False, description="Shadow mode: every line goes to a human, and the gate's would-be "
                         "route is recorded, so that `firstpass calibrate` has verdicts on lines it would auto-approve.")
    accepted_error_rate: float = Field(default=0.02, gt=0.0, lt=1.0, description="The share of bad lines among "
                                       "auto-approved (sent) lines the team accepts: audits, calibration and the "
                                       "narrowing verdict are measured against it.")
    adaptive_audit: bool = Field(default=True, description="Audit every auto-approved line until the 95% upper bound "
                                 "on the error among sent lines is under accepted_error_rate, then decay to the "
                                 "tier's audit_sample_rate; off: sample at the tier's rate only.")

    def active_tier(self) -> TierPolicy:
        """The tier in force."""
        return self.tiers[self.tier]


class PanelPolicy(BaseModel):
    """The review panel: sign-in limits, session length, and how long a decision may be taken back."""

    model_config = ConfigDict(extra="forbid")

    max_failures: int = Field(default=5, ge=1, description="Wrong passwords (per account, and per address) before "
                              "a lockout.")
    failure_window_seconds: float = Field(default=900.0, gt=0, description="How far back wrong passwords count.")
    lockout_seconds: float = Field(default=900.0, gt=0, description="How long a locked account or address waits.")
    session_hours: float = Field(default=12.0, gt=0, description="How long a login lasts.")
    undo_minutes: float = Field(default=10.0, ge=0, description="How long a reviewer may take a decision back.")
    min_display_ms: float = Field(default=400.0, ge=0, description="A decision key pressed sooner after its item "
                                  "appeared is ignored: a double press decides once, and nobody decides unseen.")
    edit_with_findings: Literal["confirm", "refuse"] = Field(
        default="confirm", description="An edit the rules still flag: approved only with an explicit 'approve anyway' "
        "(confirm), or never (refuse). The panel and the command line follow the same setting.")


class ReviewersPolicy(BaseModel):
    """Measuring reviewers: known-bad check lines (canaries), reading time and the rubber-stamp warning."""

    model_config = ConfigDict(extra="forbid")

    canary_rate: float = Field(default=0.02, ge=0.0, le=0.5, description="Share of a reviewer's queue that is a "
                               "known-bad check line (scored, never exported); 0 turns canaries off.")
    min_catch_rate: float = Field(default=0.8, ge=0.0, le=1.0, description="A reviewer whose canary catch rate is "
                                  "shown (95% upper bound) to be below this gets a rubber-stamp warning.")
    reading_words_per_minute: float = Field(default=300.0, gt=0, description="Reading speed: a decision faster than "
                                            "the line's words at this pace was taken without reading it.")
    max_fast_share: float = Field(default=0.25, ge=0.0, le=1.0, description="A reviewer with more of their decisions "
                                  "faster than reading time than this gets a rubber-stamp warning.")
    min_decisions: int = Field(default=20, ge=1, description="Decisions (or canaries) a reviewer needs before a "
                               "warning is given: fewer say too little.")


class NarrowPolicy(BaseModel):
    """When the human step may be removed for a tier or an error category."""

    model_config = ConfigDict(extra="forbid")

    min_outputs: int = Field(default=500, ge=1, description="Human-measured outputs needed before narrowing.")


class ContextPolicy(BaseModel):
    """What of a prospect CSV reaches a model: the notes-like columns sent as context; every other column is kept
    for the export only."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW), description="Header patterns of the "
                             "columns sent to the model as context, matched case-insensitively on the header's words "
                             "('recent news' matches 'Recent_News' and 'RecentNews'; a plural s is allowed).")
    columns: list[str] = Field(default_factory=list, description="Headers also sent as context, as written in the "
                               "file (like --context-columns); a column the never-list names is refused.")
    never: list[str] = Field(default_factory=list, description="Header patterns never sent, on top of the built-in "
                             "list of contact data and CRM internals (email, phone, id, owner, stage, ...), which no "
                             "policy can open up.")
    max_structured_share: float = Field(default=0.5, ge=0.0, le=1.0, description="A column with more than this share "
                                        "of its sampled values email addresses, phone numbers, URLs, ids, dates or "
                                        "numbers is never context.")
    sample_rows: int = Field(default=200, ge=1, description="Rows read from the top of a file to judge each column's "
                             "values.")

    @model_validator(mode="after")
    def _columns_are_not_internal(self) -> ContextPolicy:
        refused = [f"{c!r} ({term!r})" for c in self.columns if (term := internal_reason(c, self.never)) is not None]
        if refused:
            raise ValueError(f"columns {', '.join(refused)}: the name marks contact data or a CRM field, which never "
                             "reaches a model")
        return self


class Policy(BaseModel):
    """The whole gate policy."""

    model_config = ConfigDict(extra="forbid")

    rules: RulesPolicy
    route: RoutePolicy
    panel: PanelPolicy = Field(default_factory=PanelPolicy)
    reviewers: ReviewersPolicy = Field(default_factory=ReviewersPolicy)
    narrow: NarrowPolicy = Field(default_factory=NarrowPolicy)
    context: ContextPolicy = Field(default_factory=ContextPolicy)

    def checks_hash(self) -> str:
        """A short hash of what decides which lines the gate flags (rules and blocking severity, not the threshold):
        calibration and audit evidence hold only under the same checks."""
        data = {"rules": self.rules.model_dump(), "blocking": self.route.blocking_severity}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def default_policy_text() -> str:
    """The bundled default policy file, as text."""
    return resources.files("critics").joinpath("default_policy.toml").read_text(encoding="utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """Load the default policy, overlaid with the TOML file at `path` if one is given."""
    data = tomllib.loads(default_policy_text())
    if path is not None:
        path = Path(path)
        try:
            data = _merge(data, tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise PolicyError(f"policy file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        where = f"policy file {path}" if path else "default policy"
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{where} is invalid: {fields}") from exc
    if policy.route.tier not in policy.route.tiers:
        raise PolicyError(f"route.tier {policy.route.tier!r} is not one of the tiers {sorted(policy.route.tiers)}")
    return policy
