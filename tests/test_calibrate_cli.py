"""`firstpass calibrate` end to end: shadow-mode verdicts gathered through the app, the guarantee or the refusal,
and `--apply` writing a new policy version that the next app uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from critics.policy import load_policy
from firstpass.batch import run_batch, todo
from firstpass.cli import main
from firstpass.db import Store
from firstpass.settings import load_settings
from graph.human import Decision

from tests.conftest import AppFactory, load_items, prospect


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings name the fake models, so that calibration looks for the lines they drafted."""
    monkeypatch.setenv("FIRSTPASS_DRAFTER_MODEL", "fake-drafter")
    monkeypatch.setenv("FIRSTPASS_CRITIC_MODEL", "fake-critic")


def shadow_verdicts(make_app: AppFactory, n: int, edits: int = 0) -> None:
    policy = load_policy()
    policy.route.shadow = True
    app = make_app(policy=policy)
    load_items(app, "shadow", [prospect(i) for i in range(n)])
    run_batch(app, todo(app, "shadow"), concurrency=4)
    for k, item in enumerate(app.store.items(run="shadow")):
        assert item.status == "review" and item.gate_route == "auto"
        line = f"A better line for {item.prospect.company} in {item.prospect.city}."
        app.decide(item.id, Decision(action="edit", reviewer="ana", line=line) if k < edits
                   else Decision(action="approve", reviewer="ana"))


def test_too_few_verdicts_are_refused_naming_how_many_more(make_app: AppFactory, fake_models: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    shadow_verdicts(make_app, 20)
    assert main(["calibrate"]) == 1
    captured = capsys.readouterr()
    assert "20 shadow-mode verdicts" in captured.out
    assert "About 129 more verdicts" in captured.err and "at least 149 with no miss" in captured.err


def test_calibrate_certifies_and_apply_writes_a_new_policy_version(make_app: AppFactory, fake_models: None,
                                                                   home: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    shadow_verdicts(make_app, 150)
    assert main(["calibrate", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # The fakes' confidence is always 0.95: no signal, so it gets no weight and every finding-free line counts.
    assert not data["calibration"]["signal"] and data["threshold"] == 0.0
    assert data["curve"] == [{"threshold": 0.0, "auto_rate": 1.0, "auto_approved": 150, "misses": 0, "miss_rate": 0.0,
                              "upper": pytest.approx(0.0198, abs=1e-4), "p_value": pytest.approx(0.98 ** 150),
                              "passed": True, "calibrated_approval": 1.0}]
    assert "at most 2.0%" in data["guarantee"]

    assert main(["calibrate", "--apply"]) == 0
    out = capsys.readouterr().out
    assert "applied: confidence_threshold = 0.00" in out
    in_force = home / "policy.toml"
    assert load_policy(in_force).route.confidence_threshold == 0.0
    assert sorted(p.name for p in (home / "policies").iterdir()) == ["policy-v1.toml", "policy-v2.toml"]
    assert "no overrides" in (home / "policies" / "policy-v1.toml").read_text()  # the old one, kept
    assert load_settings().policy_file == in_force
    store = Store(load_settings().database)
    (version,) = store.policy_versions()
    assert version["summary"] == "confidence_threshold = 0.00"
    assert json.loads(version["data_json"])["lines"] == 150
    store.close()


def test_misses_among_auto_approvable_lines_block_the_guarantee(make_app: AppFactory, fake_models: None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    shadow_verdicts(make_app, 40, edits=10)
    assert main(["calibrate", "--target-miss-rate", "0.05", "--delta", "0.1"]) == 1
    assert "cannot certify any threshold" in capsys.readouterr().err
    assert main(["calibrate", "--delta", "2"]) == 2
