"""The critic eval's figures on a small hand-made table, and `eval suggest`: the brief, the written version, the
comparison that decides whether it is kept."""

from __future__ import annotations

import json
import tomllib
from contextlib import nullcontext
from pathlib import Path

import pytest

import firstpass.session as session
from evals.critic_eval import CriticOutcome, critic_report
from evals.suggest import brief_text, copied_examples, copies, make_brief, next_version
from firstpass.cli import main
from firstpass.suggest import check_proposal
from prompts.loader import load_prompt, template_text

from fakes import FakeCritic, FakeDrafter
from tests.conftest import DEV_SET, AppFactory, good_line
from tests.test_eval_runs import prompts_dir, versioned  # noqa: F401 - the fixture

DAY = 86400.0


def test_critic_figures_on_a_hand_made_table() -> None:
    outcomes = [
        CriticOutcome("1", ok=False, flagged=True, confidence=0.2, categories=("tone",), rules=("tone.hype",),
                      human_categories=("tone",)),
        CriticOutcome("2", ok=False, flagged=True, confidence=0.4, categories=("pricing",), human_categories=("tone",)),
        CriticOutcome("3", ok=False, flagged=False, confidence=0.9, human_categories=("pricing",)),
        CriticOutcome("4", ok=True, flagged=True, confidence=0.5, categories=("tone",), rules=("tone.hype",)),
        CriticOutcome("5", ok=True, flagged=False, confidence=0.95),
        CriticOutcome("6", ok=True, flagged=False, confidence=0.85),
    ]
    r = critic_report(outcomes, "critic-v1")
    assert r["confusion"] == {"flagged_bad": 2, "flagged_ok": 1, "passed_bad": 1, "passed_ok": 2}
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["base_rate_bad"] == 0.5
    assert r["kappa"] == pytest.approx(1 / 3)  # observed 4/6 agreement against 1/2 by chance
    assert r["brier"] == pytest.approx((0.04 + 0.16 + 0.81 + 0.25 + 0.0025 + 0.0225) / 6)
    per_category = {c["category"]: c for c in r["per_category"]}
    assert (per_category["tone"]["precision"], per_category["tone"]["recall"]) == (0.5, 0.5)
    assert (per_category["pricing"]["precision"], per_category["pricing"]["recall"]) == (0.0, 0.0)
    assert r["per_rule"] == [{"code": "tone.hype", "fired": 2, "on_approved": 1, "precision": 0.5}]
    buckets = [(b["low"], b["n"], b["observed"]) for b in r["reliability"]]
    assert buckets == [(0.2, 1, 0.0), (0.4, 1, 0.0), (0.5, 1, 1.0), (0.8, 1, 1.0), (0.9, 2, 0.5)]


def _case(key: str, split: str, age_days: float, categories: list[str], final: str | None = None,
          note: str = "", label: str | None = None) -> dict:
    return {"case_key": key, "split": split, "created_at": 100 * DAY - age_days * DAY, "withdrawn_at": None,
            "prospect": {"company": f"Co {key}", "industry": "Dental", "notes": "Opened a clinic."},
            "ai_line": f"line of {key}", "final_line": final, "verdict": "edit" if final else "reject",
            "categories": categories, "errors": [], "note": note, "reviewer": "ana", "label": label}


def test_the_brief_counts_trends_and_quotes_the_train_split_only() -> None:
    cases = [_case("a", "train", 1, ["tone"], final="Co a opened a clinic."),
             _case("b", "train", 2, ["tone"], note="too pushy"),
             _case("c", "train", 20, ["tone", "pricing"]),
             _case("d", "train", 21, ["pricing"]),
             _case("e", "train", 22, ["pricing"]),
             _case("t", "test", 1, ["tone"], final="SECRET test line", note="SECRET test note")]
    brief = make_brief(cases, now=100 * DAY)
    assert [(c.category, c.count, c.recent, c.earlier, c.trend) for c in brief.categories] == [
        ("pricing", 3, 0, 3, "falling"), ("tone", 3, 2, 1, "rising")]
    tone = brief.categories[1]
    assert tone.examples[0].final == "Co a opened a clinic."  # a case with the human's own line comes first
    text = brief_text(brief)
    assert "SECRET" not in text and '"too pushy"' in text and "From 5 train-split case(s)" in text
    assert brief_text(make_brief(list(reversed(cases)), now=100 * DAY)) == text  # the same cases, the same brief
    assert [e.line for e in brief.approved] == ["Co a opened a clinic."]


def test_the_new_version_file_loads_with_its_examples_and_revision() -> None:
    parent = template_text("drafter", "drafter-v1")
    text = next_version(parent, "drafter-v1", "drafter-v7", 'v1 plus "examples"', [("Company: X\nNotes: y", "X did y.")],
                        system="Write one line under {max_length} characters.")
    data = tomllib.loads(text)
    assert data["version"] == "drafter-v7" and data["description"] == 'v1 plus "examples"'
    assert data["system"] == "Write one line under {max_length} characters."
    assert data["examples"][-1] == {"user": "Company: X\nNotes: y", "assistant": "X did y."}
    assert data["examples"][:-1] == tomllib.loads(parent)["examples"] and data["user"] == tomllib.loads(parent)["user"]
    assert check_proposal("Write one line under {max_length} characters, naming the company.") is None
    assert "drops the {max_length}" in str(check_proposal("Write one short line that names the company."))
    assert "other than" in str(check_proposal("Write under {max_length} characters to {first_name}."))


def test_suggest_writes_compares_and_keeps_or_removes(prompts_dir: Path, make_app: AppFactory,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    make_app()
    assert main(["eval", "import", str(DEV_SET)]) == 0
    assert main(["eval", "suggest"]) == 0
    brief = capsys.readouterr().out
    assert "train-split case(s)" in brief and not list(prompts_dir.glob("drafter-v3*"))

    def worse_with_examples(messages: list[dict[str, str]]) -> str:
        # More worked examples than the bundled two: this drafter copies them and leaves the company out.
        return "Nice work on the launch." if sum(m["role"] == "assistant" for m in messages) > 2 else versioned(messages)

    monkeypatch.setattr(session, "open_models",
                        lambda settings: nullcontext(session.Models(FakeDrafter(worse_with_examples), FakeCritic())))
    assert main(["eval", "suggest", "--write"]) == 1
    out = capsys.readouterr().out
    assert "wrote drafter-v3" in out and "+[[examples]]" in out and "verdict: regressed" in out
    assert "file was removed" in out and not (prompts_dir / "drafter-v3.toml").exists()

    monkeypatch.setattr(session, "open_models",
                        lambda settings: nullcontext(session.Models(FakeDrafter(good_line), FakeCritic())))
    assert main(["eval", "suggest", "--write", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "wrote drafter-v4" in out and "drafter-v4 is not shown to be better" in out  # v3's name stays used
    written = load_prompt("drafter", "drafter-v4")
    added = [e["assistant"] for e in written.examples[len(load_prompt("drafter", "drafter-v2").examples):]]
    from firstpass.db import Store
    from firstpass.settings import load_settings

    store = Store(load_settings().database)
    train = {c["ai_line"] for c in store.eval_cases() if c["split"] == "train" and c["label"] == "good"}
    assert len(added) == 2 and set(added) <= train


def test_a_worked_example_copied_into_fixed_lines_is_found_and_left_out() -> None:
    example = "A Spanish-language client portal is a thoughtful touch from Arden & Sato Immigration, Nora."
    record = {"company": "Patel Pharmacy", "notes": "Acquired two pharmacies."}
    assert copies("A Spanish-language pharmacy is a thoughtful addition to Patel Pharmacy.", record, example)
    assert not copies("Two new pharmacies are a thoughtful step for Patel Pharmacy.", record, example)
    # Words the line's own record has are not copied, even when the example has them too.
    assert not copies("A client portal at Patel Pharmacy.", {**record, "notes": "Launched a client portal."}, example)
    cases = [{**_case(k, "train", 1, ["ungrounded_claim"]), "ai_line": f"A Spanish-language client at Co {k}."}
             for k in "abc"]
    cases.append({**_case("d", "train", 1, [], label="good"), "ai_line": "A Spanish-language client at Co d."})
    assert copied_examples(cases, ["Three Ravens won gold.", example]) == {1: 3}  # the approved line is no evidence
    brief = make_brief(cases, now=100 * DAY, worked=["Three Ravens won gold.", example])
    assert "worked example 2 was copied into 3 line(s)" in brief_text(brief)
    parent = template_text("drafter", "drafter-v1")
    data = tomllib.loads(next_version(parent, "drafter-v1", "drafter-v8", "d", [("u", "a")], drop=[1]))
    assert [e["assistant"] for e in data["examples"]] == [tomllib.loads(parent)["examples"][0]["assistant"], "a"]


def test_worked_examples_never_carry_contact_data_or_crm_values(prompts_dir: Path, make_app: AppFactory,  # noqa: F811
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # Cases stored before the context allowlist: every CSV column of the prospect is in `extra`.
    cases, secrets = [], []
    for i in range(12):
        email, phone = f"owner{i}@bakery{i}.example", f"555-01{i:02d}-77{i:02d}"
        secrets += [email, phone, f"Rep {i} Halpert", f"9{i:09d}"]
        extra = {"Email": email, "Phone Number": phone, "Contact owner": f"Rep {i} Halpert",
                 "Record ID": f"9{i:09d}", "Recent News": f"Opened bakery number {i} downtown."}
        notes = f"Hiring bakers; reach us at {email}" if i == 0 else "Hiring bakers."
        line = f"Call {phone} about Bakery {i} Co." if i == 1 else f"Bakery {i} Co. opening a new shop is big news."
        cases.append({"id": f"b{i}", "prospect": {"first_name": "Dana", "company": f"Bakery {i} Co.", "notes": notes,
                                                  "extra": extra}, "draft": line, "label": "good"})
    path = tmp_path / "bakeries.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    make_app()
    assert main(["eval", "import", str(path)]) == 0
    monkeypatch.setattr(session, "open_models",
                        lambda settings: nullcontext(session.Models(FakeDrafter(good_line), FakeCritic())))
    main(["eval", "suggest", "--write", "--examples", "12", "--keep"])
    assert "wrote drafter-v3" in capsys.readouterr().out
    text = (prompts_dir / "drafter-v3.toml").read_text(encoding="utf-8")
    assert "Opened bakery number" in text  # the examples are there, with their allowed context
    assert not [s for s in secrets if s in text] and "@" not in text and "Halpert" not in text
    assert "removed]" not in text and "Call " not in text  # such examples are left out, not masked
