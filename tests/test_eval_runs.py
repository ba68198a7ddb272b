"""Stored eval runs on fake models: two versions compared on the test split, the critic against the humans, a
stopped run resumed, few-shot drawn from the train split only, `--only failing`, history, reports, suggestions."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import pytest

import prompts.loader as loader
from critics.critic import CriticVerdict
from evals.fewshot import Example, nearest
from firstpass.cli import main
from firstpass.evalrun import EvalError, EvalPlan, run_evals
from firstpass.service import Firstpass
from graph.human import Decision

from fakes import FakeCritic, FakeDrafter
from tests.conftest import DEV_SET, AppFactory, company_of, good_line, load_items, prospect

MARK = "VERSION TWO"


@pytest.fixture
def prompts_dir(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A team prompt folder holding drafter-v2: drafter-v1 with a marker the fake drafter answers to."""
    monkeypatch.setattr(loader, "_EXTRA_DIRS", [])
    # The bundled folder as these tests know it (drafter-v1, critic-v1), whatever versions ship later.
    bundled = home.parent / "bundled-prompts"
    bundled.mkdir(parents=True)
    for name in ("drafter-v1", "critic-v1"):
        (bundled / f"{name}.toml").write_text(loader.template_text(name.split("-")[0], name),  # type: ignore[arg-type]
                                              encoding="utf-8")
    monkeypatch.setattr(loader, "bundled_dir", lambda: bundled)
    folder = home.parent / "team-prompts"
    folder.mkdir()
    v1 = loader.template_text("drafter", "drafter-v1")
    (folder / "drafter-v2.toml").write_text(
        v1.replace('version = "drafter-v1"', 'version = "drafter-v2"').replace(
            "You write the first line", f"{MARK}. You write the first line"), encoding="utf-8")
    monkeypatch.setenv("FIRSTPASS_PROMPTS_DIR", str(folder))
    return folder


def versioned(messages: list[dict[str, str]]) -> str:
    """drafter-v2 writes a clean line; drafter-v1 a spammy one for companies whose name has an even length."""
    if MARK in messages[0]["content"] or len(company_of(messages)) % 2:
        return good_line(messages)
    return f"{company_of(messages)} is AMAZING!!"


def dev_app(make_app: AppFactory, drafter: FakeDrafter, critic: FakeCritic | None = None) -> Firstpass:
    app = make_app(drafter=drafter, critic=critic)
    assert main(["eval", "import", str(DEV_SET)]) == 0
    return app


def test_two_versions_compared_and_stored(prompts_dir: Path, make_app: AppFactory) -> None:
    app = dev_app(make_app, FakeDrafter(versioned))
    result = run_evals(app, EvalPlan(candidate="drafter-v2", baseline="drafter-v1"))
    report = result.report
    test_split = [c for c in app.store.eval_cases() if c["split"] == "test"]
    drafter = report["drafter"]
    assert drafter["candidate"]["cases"] == len(test_split) == report["run"]["cases"]
    assert drafter["candidate"]["passed"] == len(test_split)  # v2's lines are all clean
    assert drafter["newly_failing_cases"] == []
    fixed = {c["key"] for c in drafter["cases"] if c["change"] == "newly fixed"}
    assert fixed == set(drafter["newly_fixed_cases"]) and fixed
    assert all("AMAZING" in c["baseline"]["line"] for c in drafter["cases"] if c["key"] in fixed)
    # Stored: the run with its configuration and report, one result per job, each with its rendered prompt's hash.
    (run,) = app.store.eval_runs.runs()
    assert run["finished_at"] and run["report"]["drafter"]["verdict"] == drafter["verdict"]
    assert run["config"]["candidate_sha"] != run["config"]["baseline_sha"]
    results = app.store.eval_runs.results(run["id"])
    assert len([r for r in results if r.kind == "drafter"]) == 2 * len(test_split)
    assert all(r.prompt_hash for r in results if r.kind == "drafter")
    # The critic eval covers every labelled line of the development set.
    assert report["critic"]["n"] == 60 and sum(report["critic"]["confusion"].values()) == 60


def test_a_stopped_run_resumes_and_reuses_finished_jobs(prompts_dir: Path, make_app: AppFactory) -> None:
    class Stop(BaseException):
        """Stands in for Ctrl-C or a crash in the middle of the run."""

    calls = {"n": 0}

    def stops_after_ten(messages: list[dict[str, str]]) -> str:
        calls["n"] += 1
        if calls["n"] > 10:
            raise Stop
        return versioned(messages)

    app = dev_app(make_app, FakeDrafter(stops_after_ten))
    plan = EvalPlan(candidate="drafter-v2", baseline="drafter-v1", concurrency=1, critic_eval=False)
    with pytest.raises(Stop):
        run_evals(app, plan)
    (stopped,) = app.store.eval_runs.runs()
    assert stopped["finished_at"] is None and len(app.store.eval_runs.results(stopped["id"])) == 10

    again = FakeDrafter(versioned)
    resumed = run_evals(make_app(drafter=again), plan)
    jobs = 2 * resumed.report["run"]["cases"]
    assert (resumed.run_id, resumed.resumed, resumed.reused) == (stopped["id"], True, 10)
    assert len(again.calls) == jobs - 10  # only what was missing was drafted
    assert len(app.store.eval_runs.results(stopped["id"])) == jobs
    # A finished run is not resumed: the same command starts a new one.
    assert run_evals(make_app(drafter=FakeDrafter(versioned)), plan).run_id != stopped["id"]


def test_few_shot_examples_come_from_the_train_split_only(prompts_dir: Path, make_app: AppFactory) -> None:
    drafter = FakeDrafter(versioned)
    app = dev_app(make_app, drafter)
    cases = app.store.eval_cases()
    train_lines = {c["ai_line"] for c in cases if c["split"] == "train" and c["label"] == "good"}
    test_lines = {c["ai_line"] for c in cases if c["split"] == "test"}
    report = run_evals(app, EvalPlan(candidate="drafter-v1", baseline="drafter-v1", few_shot=2,
                                     critic_eval=False)).report
    assert report["drafter"]["candidate"]["version"] == "drafter-v1+2shot"
    bundled = len(loader.load_prompt("drafter", "drafter-v1").examples)
    # The bundled worked examples come first; whatever follows them was drawn for the prospect.
    shots = [[m["content"] for m in call if m["role"] == "assistant"][bundled:] for call in drafter.calls]
    assert sorted(len(s) for s in shots) == [0] * report["run"]["cases"] + [2] * report["run"]["cases"]
    shots = [line for call in shots for line in call]
    assert set(shots) <= train_lines and not set(shots) & test_lines
    with pytest.raises(ValueError, match="train split"):
        nearest({"notes": "x"}, [Example("k", {"notes": "x"}, "line", split="test")], 1)
    with pytest.raises(EvalError, match="against itself"):
        run_evals(app, EvalPlan(candidate="drafter-v1", baseline="drafter-v1"))


def test_only_failing_reruns_the_failed_cases(prompts_dir: Path, make_app: AppFactory) -> None:
    app = dev_app(make_app, FakeDrafter(versioned))
    plan = EvalPlan(candidate="drafter-v1", baseline="drafter-v2", critic_eval=False)
    first = run_evals(app, plan).report["drafter"]
    failing = {c["key"] for c in first["cases"] if not c["candidate"]["passed"]}
    assert failing and len(failing) < first["candidate"]["cases"]
    again = run_evals(app, EvalPlan(candidate="drafter-v1", baseline="drafter-v2", critic_eval=False,
                                    only_failing=True)).report["drafter"]
    assert {c["key"] for c in again["cases"]} == failing
    with pytest.raises(EvalError, match="earlier finished run"):
        run_evals(app, EvalPlan(candidate="drafter-v2", baseline="drafter-v1", only_failing=True))


def test_the_critic_eval_reads_panel_approvals_and_leaves_undone_ones_out(make_app: AppFactory) -> None:
    doubtful = FakeCritic(CriticVerdict(findings=[], confidence=0.3))  # everything goes to a human
    app = make_app(drafter=FakeDrafter(good_line), critic=doubtful)
    load_items(app, "r", [prospect(1), prospect(2), prospect(3)])
    items = [app.process(i) for i in app.store.items(run="r")]
    app.decide(items[0].id, Decision(action="approve", reviewer="ana"))
    app.decide(items[1].id, Decision(action="reject", reviewer="ana", categories=["tone"]))
    app.decide(items[2].id, Decision(action="approve", reviewer="ana"))
    app.undo(items[2].id, "ana")
    judged = {j.line: j for j in app.store.eval_runs.judged_lines()}
    assert set(judged) == {items[0].ai_line, items[1].ai_line}
    assert judged[items[0].ai_line].ok and not judged[items[1].ai_line].ok
    assert judged[items[1].ai_line].categories == ("tone",)
    report = run_evals(app, EvalPlan(candidate="drafter-v1", baseline="drafter-v1", few_shot=1)).report
    assert report["drafter"] is None  # no test cases: the critic eval alone
    assert report["critic"]["confusion"] == {"flagged_bad": 1, "flagged_ok": 1, "passed_bad": 0, "passed_ok": 0}
    assert report["critic"]["reliability"][0]["n"] == 2


def test_eval_commands(prompts_dir: Path, make_app: AppFactory, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import firstpass.session as session

    make_app()  # the database, migrated
    monkeypatch.setenv("COLUMNS", "200")  # rich's tables, one row per line
    assert main(["eval", "run", "--drafter-prompt", "drafter-v2"]) == 1
    assert "no eval cases" in capsys.readouterr().err
    assert main(["eval", "import", str(DEV_SET)]) == 0
    # The command line builds its models from settings; here they are the fakes.
    monkeypatch.setattr(session, "open_models",
                        lambda settings: nullcontext(session.Models(FakeDrafter(versioned), FakeCritic())))
    html = tmp_path / "r.html"
    assert main(["eval", "run", "--drafter-prompt", "drafter-v2", "--fail-on-regression", "--html-out", str(html)]) == 0
    out = capsys.readouterr().out
    assert "drafter-v1" in out and "verdict: improved" in out and "critic eval" in out and "Wilson" in out
    assert "<html" in html.read_text() and (prompts_dir.parent / "home" / "reports" / "eval-1.json").exists()
    # drafter-v1 against drafter-v2 is the same comparison turned round: a regression.
    assert main(["eval", "run", "--drafter-prompt", "drafter-v1", "--baseline", "drafter-v2", "--no-critic-eval",
                 "--fail-on-regression"]) == 1
    assert "verdict: regressed" in capsys.readouterr().out
    assert main(["eval", "run", "--drafter-prompt", "drafter-v1", "--baseline", "drafter-v2", "--no-critic-eval"]) == 0
    assert main(["eval", "run", "--drafter-prompt", "drafter-v9"]) == 2
    capsys.readouterr()
    assert main(["eval", "history"]) == 0
    history = capsys.readouterr().out
    assert "drafter-v2 100%" in history and "regressed" in history and "improved" in history
    assert main(["eval", "history", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3] and rows[0]["summary"]["verdict"] == "improved"
    assert main(["eval", "report", "1", "--json-out", str(tmp_path / "one.json")]) == 0
    assert json.loads((tmp_path / "one.json").read_text())["run"]["id"] == 1
    assert main(["eval", "report", "99"]) == 1

