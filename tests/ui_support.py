"""Shared helpers for the review panel's tests: a Firstpass app on fake models, loaded from CSV text."""

from __future__ import annotations

import re
from pathlib import Path

from critics.critic import CriticVerdict
from critics.policy import Policy, load_policy
from firstpass.csvfile import parse_prospects
from firstpass.db import Item
from firstpass.service import Firstpass
from firstpass.session import Models, build_app
from firstpass.settings import load_settings

from fakes import FakeCritic, FakeDrafter

CSV_HEADER = "Id,First Name,Company Name,City,Notes,Lead Source\n"
# The flagged drafts most panel tests start from.
LINES = {
    "Acme Dental": "Act now!! Get 50% off at Acme Dental today",
    "Beta Labs": "Beta Labs has a free trial for new patients.",
    "Delta Roofing": "Delta Roofing is GUARANTEED to love this",
}
# The critic's confidence breaks any tie in the rules' blocking counts: the queue order is Acme, Beta, Delta.
CONFIDENCES = {"Acme Dental": 0.1, "Beta Labs": 0.3, "Delta Roofing": 0.5}
FEEDBACK_MARK = "A reviewer turned down the line"


def clean_line(company: str, city: str = "") -> str:
    """A line that no rule flags (the fake critic passes it too): the company and one fact, its city."""
    if not city or city == "-":
        return f"{company} looks like a thoughtful team to follow."
    return f"{company} looks like a thoughtful team to follow in {city}."


def _field(messages: list[dict[str, str]], name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", messages[-1]["content"], re.MULTILINE)
    return match.group(1) if match else ""


class ScriptedDrafter(FakeDrafter):
    """Answers with the line scripted for the prospect's company; after reviewer feedback, with a clean line."""

    def __init__(self, lines: dict[str, str], regenerated: str | None = None) -> None:
        """`lines` maps a company name to the draft; `regenerated` (a template with {company}) answers feedback."""
        self.lines = lines
        self.regenerated = regenerated
        super().__init__(self._answer)

    def _answer(self, messages: list[dict[str, str]]) -> str:
        company, city = _field(messages, "Company"), _field(messages, "City")
        if FEEDBACK_MARK in messages[-1]["content"]:
            return (self.regenerated or clean_line("{company}", city)).format(company=company)
        return self.lines.get(company, clean_line(company, city))


def policy(audit_rate: float = 0.0, min_display_ms: float = 0.0, canary_rate: float = 0.0) -> Policy:
    """The default policy with a fixed audit-sampling rate (0 by default, so tests decide what is sampled: the
    adaptive rate is off) and minimum display time (0 by default, so tests decide as fast as they like unless they test that limit)."""
    base = load_policy()
    tiers = {name: tier.model_copy(update={"audit_sample_rate": audit_rate}) for name, tier in base.route.tiers.items()}
    panel = base.panel.model_copy(update={"min_display_ms": min_display_ms})
    route = base.route.model_copy(update={"tiers": tiers, "adaptive_audit": False})
    # No check lines unless a test asks for them: tests decide what the queue shows.
    reviewers = base.reviewers.model_copy(update={"canary_rate": canary_rate})
    return base.model_copy(update={"route": route, "panel": panel, "reviewers": reviewers})


class ScriptedCritic(FakeCritic):
    """No findings; a confidence per company (default 0.95), so tests fix the queue order whatever the rules say."""

    def __init__(self, confidences: dict[str, float] | None = None) -> None:
        """`confidences` maps a company name to the critic's confidence in its line."""
        self.confidences = confidences or {}
        super().__init__(self._answer)

    def _answer(self, messages: list[dict[str, str]]) -> CriticVerdict:
        company = _field(messages, "Company")
        draft = _field(messages, "Line to review")
        # A regenerated line is judged on its own: only the scripted first drafts get the low confidence.
        low = company in self.confidences and "looks like a thoughtful team" not in draft
        return CriticVerdict(findings=[], confidence=self.confidences[company] if low else 0.95)


def make_app(home: Path, lines: dict[str, str] | None = None, audit_rate: float = 0.0,
             confidences: dict[str, float] | None = None, regenerated: str | None = None,
             min_display_ms: float = 0.0, canary_rate: float = 0.0, database: str | None = None) -> Firstpass:
    """A Firstpass app over a fresh database in `home` (or the database at URL `database`), with scripted fakes."""
    settings = load_settings({"FIRSTPASS_HOME": str(home), "FIRSTPASS_DATABASE_URL": database or ""})
    models = Models(ScriptedDrafter(lines or {}, regenerated), ScriptedCritic(confidences))
    return build_app(settings, models, policy(audit_rate, min_display_ms, canary_rate))


def scripted_app(home: Path, rows: list[tuple[str, str, str, str, str]], run: str = "r1",
                 database: str | None = None) -> Firstpass:
    """An app on the scripted LINES and CONFIDENCES with `rows` loaded as `run` and taken through the gate."""
    app = make_app(home, LINES, confidences=CONFIDENCES, database=database)
    load_csv(app, run, csv_rows(rows))
    return app


def id_of(app: Firstpass, company: str) -> int:
    """The id of the item for a company."""
    return next(i.id for i in app.store.items() if i.prospect.company == company)


def load_csv(app: Firstpass, run: str, csv_text: str) -> list[Item]:
    """Load CSV text as a run and take every item through the gate."""
    loaded = parse_prospects(csv_text, source=run)
    app.store.ensure_run(run, source=run, headers=loaded.headers)
    app.store.add_items(run, [(r.row, r.original, r.prospect) for r in loaded.rows])
    return [app.process(item) for item in app.store.items(run=run)]


def csv_rows(rows: list[tuple[str, str, str, str, str]]) -> str:
    """CSV text with the test header for (id, first name, company, city, notes) rows."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for pid, first, company, city, notes in rows:
        writer.writerow([pid, first, company, city, notes, "Apollo"])
    return CSV_HEADER + out.getvalue()
