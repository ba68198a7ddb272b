"""Undo: a reviewer's decision taken back within the window, unless exported or regenerated; the audit log keeps
both rows and the eval case is withdrawn, not deleted. On both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from critics.policy import load_policy
from firstpass.cli import main
from firstpass.export import export_run
from firstpass.service import DecisionError, Firstpass
from firstpass.settings import Settings, load_settings
from graph.human import Decision

from fakes import FakeDrafter
from tests.conftest import AppFactory, load_items, prospect
from tests.test_graph import bad_line


@pytest.fixture
def settings(home: Path, database: str | None, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Undo on both backends: the SQLite file and PostgreSQL."""
    if database:
        monkeypatch.setenv("FIRSTPASS_DATABASE_URL", database)
    return load_settings()


def _flagged(make_app: AppFactory, n: int = 1, **kw: object) -> tuple[Firstpass, list[int]]:
    app = make_app(drafter=FakeDrafter(bad_line), **kw)
    load_items(app, "r", [prospect(i) for i in range(n)])
    return app, [app.process(item).id for item in app.store.items(run="r")]


@pytest.mark.parametrize("action", ["approve", "reject", "edit"])
def test_undo_returns_the_item_to_review(make_app: AppFactory, action: str) -> None:
    app, (item_id,) = _flagged(make_app)
    shown = app.item(item_id)
    decision = {"approve": Decision(action="approve", reviewer="ana"),
                "reject": Decision(action="reject", reviewer="ana", categories=["spammy"]),
                "edit": Decision(action="edit", reviewer="ana", line="The new office is a big step for Harbor 0 Freight.")}
    app.decide(item_id, decision[action])
    back = app.undo(item_id, "ana")
    assert (back.status, back.draft, back.checkpoint_id, back.final_line) == (
        "review", shown.draft, shown.checkpoint_id, None)
    rows = app.store.audit_log(item_id)
    assert [r.action for r in rows] == [action, "undo"] and rows[1].status_after == "review"
    (case,) = app.store.eval_cases()
    assert case["withdrawn_by"] == "ana" and case["withdrawn_at"] is not None  # kept, marked
    assert app.store.verify_audit_log().ok
    # The item can be decided again, on the line it shows.
    assert app.decide(item_id, Decision(action="approve", reviewer="ana")).status == "approved"


def test_undo_is_refused_when_it_should_be(make_app: AppFactory, tmp_path: Path) -> None:
    policy = load_policy()
    app, (a, b, c) = _flagged(make_app, n=3, policy=policy)
    app.decide(a, Decision(action="approve", reviewer="ana"))
    with pytest.raises(DecisionError, match="decided by ana; only they can undo it"):
        app.undo(a, "ben")
    export_run(app.store, "r", tmp_path / "out.csv")
    with pytest.raises(DecisionError, match="was exported"):
        app.undo(a, "ana")
    app.decide(b, Decision(action="regenerate", reviewer="ana", note="again"))
    with pytest.raises(DecisionError, match="regenerated"):
        app.undo(b, "ana")
    with pytest.raises(DecisionError, match="no decision to undo"):
        app.undo(c, "ana")
    app.decide(c, Decision(action="reject", reviewer="ana", categories=["spammy"]))
    policy.panel.undo_minutes = 0
    with pytest.raises(DecisionError, match="older than 0 minutes"):
        app.undo(c, "ana")
    assert app.item(c).status == "rejected" and [r.action for r in app.store.audit_log(c)] == ["reject"]


def test_undo_an_audit_puts_the_line_back_in_the_audit_queue(make_app: AppFactory) -> None:
    policy = load_policy()
    policy.route.tiers["standard"].audit_sample_rate = 1.0
    app = make_app(policy=policy)
    load_items(app, "r", [prospect(1)])
    (item,) = [app.process(i) for i in app.store.items(run="r")]
    assert item.audit_pending
    app.audit(item.id, Decision(action="reject", reviewer="ana", categories=["tone"]))
    back = app.undo(item.id, "ana")
    assert back.audit_pending and back.status == "auto_approved" and back.final_line == item.final_line


def test_undo_from_the_command_line(make_app: AppFactory, capsys: pytest.CaptureFixture[str]) -> None:
    app, (item_id,) = _flagged(make_app)
    app.decide(item_id, Decision(action="approve", reviewer="ana"))
    assert main(["undo", str(item_id), "--reviewer", "ben"]) == 1
    assert "only they can undo it" in capsys.readouterr().err
    assert main(["undo", str(item_id), "--reviewer", "ana"]) == 0
    assert f"item {item_id}: back to review" in capsys.readouterr().out
    assert app.item(item_id).status == "review"
