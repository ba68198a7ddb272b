"""Prompt versions: a used version never changes in place, the policy's limits reach the prompt, and the command
line lists, shows and diffs versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from critics.policy import load_policy
from critics.prospect import Prospect
from firstpass.cli import main
from firstpass.session import Models, build_app, check_prompt
from firstpass.settings import Settings
from firstpass.stores import open_store
from graph.models import drafter_for
from prompts.loader import PromptError, load_prompt, render

from fakes import FakeCritic, FakeDrafter
from tests.conftest import AppFactory, good_line, load_items, prospect


def test_a_used_version_changed_in_place_is_refused(settings: Settings) -> None:
    store = open_store(settings)
    original = load_prompt("drafter", "drafter-v1")
    check_prompt(store, original)  # first use: its hash is recorded
    check_prompt(store, original)  # the same again: fine
    edited = original.model_copy(update={"system": original.system + " Be brief.", "sha256": "0" * 64})
    with pytest.raises(PromptError, match="drafter-v1 was changed after it was first used.*new version file"):
        check_prompt(store, edited)


def test_opening_the_app_records_both_prompts(settings: Settings) -> None:
    app = build_app(settings, Models(FakeDrafter(good_line), FakeCritic()))
    try:
        recorded = {r["version"]: r["sha256"] for r in app.store.prompt_versions()}
        newest = load_prompt("drafter")  # None in the settings: the newest version drafts
        assert recorded == {newest.version: newest.sha256, "critic-v1": load_prompt("critic", "critic-v1").sha256}
    finally:
        app.close()


def test_the_policy_limit_reaches_the_prompt(make_app: AppFactory) -> None:
    fields = Prospect(first_name="Dana", company="Acme").prompt_fields()
    for kind in ("drafter", "critic"):
        template = load_prompt(kind)  # type: ignore[arg-type]
        assert "{max_length}" in template.system  # named, never written out
        assert "90 characters" in render(template, fields, limits={"max_length": 90})[0]["content"]
        with pytest.raises(PromptError, match="max_length"):
            render(template, fields)
    policy = load_policy()
    policy.rules.max_length = 95
    app = make_app(policy=policy)
    load_items(app, "r", [prospect(1)])
    item = app.process(app.store.items(run="r")[0])
    sent = drafter_for(app.context.drafter).calls[-1]
    assert "under 95 characters" in sent[0]["content"]
    assert item.prompt_version == load_prompt("drafter").version and item.prompt_hash and len(item.prompt_hash) == 16


def test_prompts_on_the_command_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list"]) == 0
    out = capsys.readouterr().out
    assert "drafter-v1" in out and "critic-v1" in out and load_prompt("drafter", "drafter-v1").description in out
    assert main(["prompts", "show", "drafter-v1"]) == 0
    assert 'version = "drafter-v1"' in capsys.readouterr().out
    assert main(["prompts", "diff", "drafter-v1", "critic-v1"]) == 0
    diff = capsys.readouterr().out
    assert diff.startswith("--- drafter-v1") and '-version = "drafter-v1"' in diff and '+version = "critic-v1"' in diff
    assert main(["prompts", "show", "drafter-v9"]) == 2
    assert "unknown drafter prompt version 'drafter-v9'" in capsys.readouterr().err


def test_prompts_list_flags_a_version_that_carries_contact_data(home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import prompts.loader as loader

    monkeypatch.setattr(loader, "_EXTRA_DIRS", [])
    folder = tmp_path / "team-prompts"
    folder.mkdir()
    v1 = loader.template_text("drafter", "drafter-v1")
    (folder / "drafter-v9.toml").write_text(v1.replace('version = "drafter-v1"', 'version = "drafter-v9"') + (
        '\n[[examples]]\nuser = "Company: Zinc Bakery Co.\\nNotes: Opened a bakery (Email: dana@zincbakery.com; '
        'Lifecycle Stage: Lead)"\nassistant = "A second bakery is a big step for Zinc Bakery Co."\n'), encoding="utf-8")
    monkeypatch.setenv("FIRSTPASS_PROMPTS_DIR", str(folder))
    assert main(["prompts", "list"]) == 0
    captured = capsys.readouterr()
    lines = {line.split()[0]: line for line in captured.out.splitlines()[1:]}
    assert "[! contact data]" in lines["drafter-v9"]
    assert "[! contact data]" not in lines["drafter-v1"] and "[! contact data]" not in lines["critic-v1"]
    (warning,) = captured.err.strip().splitlines()
    assert warning.startswith("firstpass: warning: drafter-v9 carries contact data or CRM fields")
    assert "email 'd...@zincbakery.com' in worked example 3" in warning
    assert "internal field 'Lifecycle Stage' in worked example 3" in warning and "Lead" not in warning
