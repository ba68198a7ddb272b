"""Known-bad check lines: how they are made, shown like any other item to one reviewer, scored, revealed, never
exported, and counted in the reviewer metrics with the rubber-stamp warning."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from critics.policy import load_policy
from evals.canaries import break_line, rejected
from firstpass import canaries, metrics
from firstpass.db import reviewqueue
from firstpass.db.canarystore import CANARY_RUN
from firstpass.export import ExportError, export_run
from firstpass.service import Firstpass
from graph.human import Decision
from ui import handlers
from ui.handlers import Session

from ui_support import LINES, csv_rows, id_of, load_csv, make_app

ROWS = [("1", "Amara", "Acme Dental", "Reno", "Opened a clinic."), ("2", "Bo", "Beta Labs", "Boise", "Opened a lab."),
        ("3", "Cy", "Gamma Co", "Tulsa", "Hired a CFO.")]


def test_breaking_a_line_names_what_is_wrong() -> None:
    rng = random.Random(1)
    name = break_line("Amara, the new clinic in Reno is a big step.", "Amara", "wrong_name", rng)
    assert "Amara" not in name.line and name.category == "wrong_name" and "calls Amara" in name.wrong
    absent = break_line("The new clinic in Reno is a big step.", "Amara", "wrong_name", rng)
    assert re.match(r"^[A-Z][a-z]+, the new clinic", absent.line)
    price = break_line("The new clinic is a big step.", "Amara", "pricing", rng)
    assert price.line.startswith("The new clinic is a big step, and") and price.category == "pricing"
    number = break_line("The new clinic is a big step.", "Amara", "invented_number", rng)
    assert number.category == "ungrounded_claim" and any(ch.isdigit() for ch in number.line)
    assert rejected("Act now!!", ["spammy"]).wrong == "a reviewer rejected this exact line before (spammy)"


def test_the_draw_is_the_policy_rate_and_seeded() -> None:
    policy = load_policy()
    policy.reviewers.canary_rate = 0.02

    class Counting:
        """A store stand-in: a reviewer with n items seen."""

        def __init__(self, n: int) -> None:
            self.n = n
            self.canaries = self

        def query(self, sql: str, args: dict) -> list[dict]:
            return [{"n": self.n}]

        def shown(self, reviewer: str) -> int:
            return 0

    draws = [canaries.due(Counting(n), policy, "ana") for n in range(5000)]  # type: ignore[arg-type]
    assert 60 <= sum(draws) <= 140  # 2% of 5000 = 100
    assert draws == [canaries.due(Counting(n), policy, "ana") for n in range(5000)]  # type: ignore[arg-type]
    policy.reviewers.canary_rate = 0.0
    assert not any(canaries.due(Counting(n), policy, "ana") for n in range(200))  # type: ignore[arg-type]


@pytest.fixture
def app(tmp_path: Path) -> Firstpass:
    a = make_app(tmp_path, LINES, canary_rate=1.0)  # every item is a check line once there is one to make
    load_csv(a, "r1", csv_rows(ROWS))
    yield a
    a.close()


def test_no_check_line_before_any_human_verdict(app: Firstpass) -> None:
    session, view = handlers.open_next(app, "ana", Session())
    assert view.item_id == id_of(app, "Acme Dental")  # nothing is known good or bad yet: a real item


def test_a_check_line_looks_like_any_item_and_is_revealed_after_the_decision(app: Firstpass, tmp_path: Path) -> None:
    app.decide(id_of(app, "Acme Dental"), Decision(action="reject", reviewer="ben", categories=["spammy"]))
    session, view = handlers.open_next(app, "ana", Session())
    item = app.item(session.item_id)
    assert item.run == CANARY_RUN and item.status == "review" and item.claimed_by == "ana"
    assert "run r1" in view.header and CANARY_RUN not in view.header  # shown in a real run
    assert view.line == item.draft and view.findings  # the rules ran on it, like on any flagged line
    # Another reviewer never sees it, nor does anyone's count.
    assert reviewqueue.count(app.store, "ben").left == reviewqueue.count(app.store, "ana").left - 1
    assert reviewqueue.claim_next(app.store, "ben") != item.id
    # A reload gives the same check line back.
    again, _ = handlers.open_next(app, "ana", Session())
    assert again.item_id == item.id

    session, view = handlers.decide(app, "ana", session, "approve")
    assert "That was a check line, and it was approved" in view.message and "fp-msg-error" in view.message
    (row,) = app.store.canaries.results()
    assert (row["reviewer"], row["action"], row["caught"]) == ("ana", "approve", 0)
    assert app.store.audit_log(item.id) == [] and len(app.store.eval_cases()) == 1  # never logged or learned from
    assert CANARY_RUN not in app.store.runs() and item.id not in {i.id for i in app.store.items()}
    with pytest.raises(ExportError, match="there is no run"):
        export_run(app.store, CANARY_RUN, tmp_path / "out.csv")
    counts = export_run(app.store, "r1", tmp_path / "r1.csv")
    assert counts.approved + counts.rejected + counts.undecided == 3


def test_a_caught_check_line_is_scored_and_said(app: Firstpass) -> None:
    app.decide(id_of(app, "Acme Dental"), Decision(action="approve", reviewer="ben"))
    session, _ = handlers.open_next(app, "ana", Session())
    session, view = handlers.decide(app, "ana", session, "reject", categories=["wrong_name"])
    assert "you caught it" in view.message and "fp-msg-ok" in view.message
    assert app.store.canaries.results()[0]["caught"] == 1


def test_missed_check_lines_give_a_rubber_stamp_warning(app: Firstpass) -> None:
    app.decide(id_of(app, "Acme Dental"), Decision(action="approve", reviewer="ben"))
    session = Session()
    for _ in range(8):
        session, view = handlers.open_next(app, "ana", session)
        assert app.item(session.item_id).run == CANARY_RUN
        session, view = handlers.decide(app, "ana", session, "approve")
    figures = metrics.collect(app.store, app.policy)
    ana = next(r for r in figures["reviewers"] if r["reviewer"] == "ana")
    assert (ana["canaries"], ana["canaries_caught"]) == (8, 0)
    assert ana["warnings"] and "caught 0 of 8 check lines" in ana["warnings"][0]
    assert figures["volume"]["gated"] == 3  # check lines are not gated lines
