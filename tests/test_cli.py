"""The command line, end to end over a local OpenAI-compatible stub server."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

import firstpass.session as session
from firstpass.cli import main
from firstpass.db import Store, migrate
from firstpass.settings import load_settings
from firstpass.stores import open_store
from graph.models import ModelCall

from fakes import FakeCritic, FakeDrafter
from stubserver import start_in_thread
from tests.conftest import DEV_SET, REPO, good_line

DEMO_CSV = REPO / "firstpass" / "demo" / "prospects.csv"


def serve_stub(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> Iterator[str]:
    """A stub model server for both roles, named in the environment the command line reads."""
    server, url = start_in_thread(delay)
    for role in ("DRAFTER", "CRITIC"):
        monkeypatch.setenv(f"FIRSTPASS_{role}_BASE_URL", url)
        monkeypatch.setenv(f"FIRSTPASS_{role}_MODEL", f"stub-{role.lower()}")
    yield url
    server.shutdown()


@pytest.fixture
def stub(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from serve_stub(monkeypatch)


def store() -> Store:
    return open_store(load_settings())


def strict_policy(tmp_path: Path) -> str:
    path = tmp_path / "strict.toml"
    path.write_text("[route]\nconfidence_threshold = 0.99\n")
    return str(path)


def test_run_summarises_and_rerun_continues(stub: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(DEMO_CSV), "--run", "demo", "--limit", "10"]) == 0
    out, err = capsys.readouterr()
    # Row 9 (LedgerLeaf) carries an instruction for the model: that line goes to a human whatever it says.
    assert "processed 10" in out and "auto-approved  9" in out and "for review     1" in out
    assert "skipped row 39: empty required field(s): Company Name" in err
    assert "skipped row 38: duplicate of row 2" in err
    assert main(["run", str(DEMO_CSV), "--run", "demo"]) == 0
    out, _ = capsys.readouterr()
    assert "processed 26" in out  # only what was left
    calls = store().query("SELECT COUNT(*) AS n FROM llm_calls")[0]["n"]
    assert calls == 72  # 36 prospects x (drafter + critic): nothing drafted twice
    assert main(["run", str(DEMO_CSV), "--run", "demo"]) == 0
    assert "processed 0" in capsys.readouterr().out
    items = store().items(run="demo")
    review = [i for i in items if i.status == "review"]
    assert {i.prospect.company for i in review} == {"LedgerLeaf", "Rossi Family Vineyards", "Aurora Skin Labs"}
    assert all("injection.record" in {f.code for f in i.findings} for i in review)
    assert {i.status for i in items} == {"auto_approved", "review"}
    assert {i.drafter_model for i in items} == {"stub-drafter"} and {i.critic_model for i in items} == {"stub-critic"}


def test_missing_column_exits_2(stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Name,Email\nAda,a@x\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing required column(s) company, first_name" in err and "'Email'" in err


def test_items_and_decide(stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = strict_policy(tmp_path)
    assert main(["run", str(DEMO_CSV), "--run", "d", "--limit", "3", "--policy", policy]) == 0
    capsys.readouterr()
    assert main(["items", "--run", "d", "--status", "review"]) == 0
    header, *listing = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:3] == ["ITEM", "RUN", "STATUS"]
    assert len(listing) == 3 and all("review" in line for line in listing)
    first, second, third = (int(line.split()[0]) for line in listing)

    assert main(["decide", str(first), "approve", "--reviewer", "ana", "--policy", policy]) == 0
    assert "approved" in capsys.readouterr().out
    assert main(["decide", str(first), "approve", "--reviewer", "ben"]) == 1
    assert "already decided (approve) by ana" in capsys.readouterr().err

    assert main(["decide", str(second), "reject", "--reviewer", "ana"]) == 2
    assert "category" in capsys.readouterr().err
    assert main(["decide", str(second), "reject", "--category", "tone", "--note", "meh", "--reviewer", "ana"]) == 0
    # Refused (rules still fire, no --force): exit 1, as every refusal.
    assert main(["decide", str(third), "edit", "--line", "{first_name}, hi", "--reviewer", "ana"]) == 1
    out = capsys.readouterr().out
    assert "rules still fire" in out and "placeholder" in out

    s = store()
    assert [s.item(i).status for i in (first, second, third)] == ["approved", "rejected", "review"]
    assert [(a.reviewer, a.action) for a in s.audit_log()] == [("ana", "approve"), ("ana", "reject"), ("ana", "edit")]
    assert main(["show", str(second)]) == 0
    text = capsys.readouterr().out
    assert f"item {second} · run d" in text and "ana (self-asserted): reject -> rejected · meh" in text
    assert main(["show", str(second), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "rejected" and shown["audit"][0]["categories"] == ["tone"]


def test_gate_rules_only_output_format(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["gate", str(DEV_SET), "--rules-only", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 60
    assert set(rows[0]) == {"id", "route", "findings", "confidence", "claims"}
    assert all(r["confidence"] is None and r["route"] in ("auto", "review") for r in rows)
    flagged = next(r for r in rows if r["findings"])
    assert set(flagged["findings"][0]) == {"source", "code", "category", "severity", "start", "end", "message",
                                           "sources"}
    # Provenance: every claim carries the record spans it traces to, named by field.
    claim = next(c for r in rows for c in r["claims"] if c["sources"])
    assert set(claim) == {"start", "end", "text", "sources"} and set(claim["sources"][0]) == {"field", "start", "end", "text"}
    assert "bad lines flagged" in capsys.readouterr().err


def test_gate_with_critic(stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "c.jsonl"
    cases.write_text(json.dumps({"id": 1, "prospect": {"first_name": "Ada", "company": "Acme"},
                                 "draft": "Acme's new plant is a big step."}) + "\n")
    assert main(["gate", str(cases)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["claims"][0]["text"] == "Acme" and row["claims"][0]["sources"][0]["field"] == "company"
    assert {k: v for k, v in row.items() if k != "claims"} == {"id": "1", "route": "auto", "findings": [],
                                                               "confidence": 0.93}


def test_gate_bad_input_names_the_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "c.jsonl"
    cases.write_text('{"id": 1, "prospect": {"first_name": "Ada", "company": "Acme"}, "draft": "x"}\n'
                     '{"id": 2, "prospect": {"first_name": "Bo"}, "draft": "y"}\n')
    assert main(["gate", str(cases), "--rules-only"]) == 2
    assert "line 2: prospect.company: Field required" in capsys.readouterr().err


@pytest.mark.sqlite("upgrades a SQLite file made by an old version")
def test_db_status_and_upgrade(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir(parents=True)
    (home / "firstpass.db").write_bytes((REPO / "tests" / "data" / "legacy-main-7c119ab.db").read_bytes())
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "not at the newest migration" in out and "* " not in out
    assert main(["db", "upgrade"]) == 0
    assert f"upgraded to {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    assert f"* {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "already at" in capsys.readouterr().out
    assert store().counts("legacy")["approved"] == 2


ESCAPES = {"title": "\x1b]0;pwned\x07", "clear": "\x1b[2J", "csi": "\x9b31m", "rtl": "\u202e", "nul": "\x00"}


def test_escape_sequences_from_a_csv_or_a_model_are_shown_escaped(
        stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["Company", "First Name", "Notes"])
    for i, seq in enumerate(ESCAPES.values()):
        writer.writerow([f"Kiln{seq}Works {i}", "Zoe", f"Opened{seq} a kiln."])
    path = tmp_path / "escapes.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert main(["run", str(path), "--run", "esc"]) == 0
    assert main(["items", "--run", "esc"]) == 0
    assert main(["items", "--run", "esc", "--json"]) == 0
    assert main(["show", "1"]) == 0
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    for seq in ESCAPES.values():
        assert seq not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "\\u202e" in shown  # visible, escaped
    # The store keeps the cell as it was; only the terminal gets the escaped form.
    assert store().items(run="esc")[0].prospect.company == "Kiln\x1b]0;pwned\x07Works 0"


def test_a_stored_model_error_is_capped(home: Path) -> None:
    s = store()
    s.log_llm_call(ModelCall(role="critic", model="m", thread="t", request={"messages": []}, error="x" * 3_000_000,
                             duration_ms=1.0))
    (row,) = s.query("SELECT error FROM llm_calls")
    assert len(row["error"]) < 5000 and row["error"].endswith("more characters cut]")


def test_bad_rows_stop_the_run_unless_skipped(stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "stray.csv"
    path.write_text('Company Name;Account Name;First Name;Notes\n;Acme Co;Ada;"Opened a plant.\nBeta;;Bo;x\n'
                    "Gamma;;Cy;y\n")
    assert main(["run", str(path), "--run", "stray"]) == 2
    err = capsys.readouterr().err
    assert "bad row 2" in err and "--skip-bad-rows" in err and "nothing was loaded" in err
    assert "stray" not in store().runs()
    path.write_text('Company Name;Account Name;First Name;Notes\n;Acme Co;Ada;Opened a plant.\nBeta;;Bo;x\n'
                    "Gamma;;Cy;y,z\nDelta;;Di\n")
    assert main(["run", str(path), "--run", "ok", "--skip-bad-rows", "--column", "company=Account Name"]) == 0
    err = capsys.readouterr().err
    assert "semicolon" not in err and "';'-separated" in err
    assert sorted(i.prospect.company for i in store().items(run="ok")) == ["Acme Co"]  # Beta/Gamma: no Account Name
    assert "skipped row 5" in err  # Delta's short row, left out and said
    assert main(["run", str(path), "--run", "x", "--column", "company"]) == 2
    assert "write it as field=Header" in capsys.readouterr().err


def test_reviewer_names_on_the_command_line_are_self_asserted(
        stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from firstpass import accounts

    assert main(["run", str(DEMO_CSV), "--run", "demo", "--limit", "10"]) == 0
    (flagged,) = [i.id for i in store().items(run="demo", status="review")]
    monkeypatch.setenv("FIRSTPASS_REQUIRE_KNOWN_REVIEWER", "true")
    capsys.readouterr()
    assert main(["decide", str(flagged), "reject", "--category", "injection", "--reviewer", "mallory"]) == 1
    assert "has no reviewer account" in capsys.readouterr().err and store().audit_log() == []
    accounts.add_reviewer(store(), "ana", "ana-password")
    assert main(["decide", str(flagged), "reject", "--category", "injection", "--reviewer", "ana"]) == 0
    (row,) = store().audit_log()
    assert (row.reviewer, row.identity) == ("ana", "self-asserted")
    assert store().verify_audit_log().ok  # the identity is covered by the chain


def test_an_unexpected_error_prints_one_line_and_logs_the_traceback(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import firstpass.cli as cli

    def broken(args: object) -> int:
        raise RuntimeError("model server said no\n" + "frame\n" * 80)

    monkeypatch.setattr(cli, "cmd_items", broken)
    assert main(["items"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: model server said no" in err and "firstpass.log" in err
    assert "Traceback" in (home / "logs" / "firstpass.log").read_text()


def test_exit_codes_are_the_same_everywhere(stub: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", str(DEMO_CSV), "--run", "d", "--limit", "2"]) == 0
    # 1: refused or not found.
    assert main(["items", "--run", "nosuchrun"]) == 1
    assert main(["show", "999"]) == 1
    assert main(["decide", "999", "approve"]) == 1
    assert main(["undo", "999"]) == 1
    assert main(["export", "--run", "nosuchrun", "--out", str(tmp_path / "x.csv")]) == 1
    # 2: bad usage, naming the flag to use.
    assert main(["decide", "1", "edit"]) == 2
    assert "--line" in capsys.readouterr().err
    assert main(["decide", "1", "reject"]) == 2
    assert "--category" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["decide", "1", "bless"])
    assert usage.value.code == 2


def test_an_audit_sample_is_decided_from_the_command_line(stub: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "audit.toml"
    policy.write_text("[route.tiers.standard]\naudit_sample_rate = 1.0\n")
    assert main(["run", str(DEMO_CSV), "--run", "d", "--limit", "2", "--policy", str(policy)]) == 0
    sampled = next(i for i in store().items(run="d") if i.audit_pending)
    capsys.readouterr()
    assert main(["decide", str(sampled.id), "reject", "--category", "tone", "--reviewer", "ana"]) == 0
    assert "(audit recorded)" in capsys.readouterr().out
    after = store().item(sampled.id)
    assert after.status == "rejected" and after.audited_by == "ana"


HUBSPOT = ("First Name,Last Name,Email,Phone Number,Company Name,Job Title,City,Lifecycle Stage,Contact owner,"
           "Number of Employees,Record ID,Notes/Description,Tagline\n"
           "Dana,Reyes,dana@zincbakery.com,+1 (555) 123-4567,Zinc Bakery Co.,Owner,Portland,Lead,Jim Halpert,320,"
           '7731902264,"Opened a second bakery in Portland; reach her at dana.reyes@gmail.com",Bread before dawn\n'
           "Sam,Ito,sam@acmetools.com,555-987-6543,Acme Tools,COO,Austin,Evangelist,Pam Beesly,45,7731902265,"
           "Launched a tool rental service.,Tools for every trade\n")
NEVER_SENT = ("dana@zincbakery.com", "dana.reyes@gmail.com", "sam@acmetools.com", "123-4567", "987-6543", "Lifecycle",
              "Lead", "Evangelist", "Jim Halpert", "Pam Beesly", "owner", "Number of Employees", "320", "45",
              "7731902264", "7731902265", "Record ID")


@pytest.fixture
def fake_models(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeDrafter, FakeCritic]:
    """The fake drafter and critic a real `run` talks to, keeping every message they receive."""
    drafter = FakeDrafter(good_line)
    critic = FakeCritic()
    monkeypatch.setattr(session, "open_models", lambda settings: nullcontext(session.Models(drafter, critic)))
    return drafter, critic


def test_only_chosen_columns_reach_the_models_and_the_export_keeps_every_column(
        fake_models: tuple[FakeDrafter, FakeCritic], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drafter, critic = fake_models
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT, encoding="utf-8")
    assert main(["run", str(path), "--run", "hs"]) == 0
    err = capsys.readouterr().err
    # The column block, before processing.
    assert "what reaches the model:" in err and "  context       Notes/Description\n" in err
    assert "  named fields  first_name (First Name), last_name (Last Name), company (Company Name)" in err
    assert ("  kept only     Record ID, Email, Phone Number, Lifecycle Stage, Contact owner, Number of Employees, "
            "Tagline (in the export") in err
    assert err.index("what reaches the model:") < err.index("prospects (2 new)")
    assert len(drafter.calls) == 2 and len(critic.calls) == 2
    for messages in drafter.calls + critic.calls:
        sent = "\n".join(m["content"] for m in messages)
        assert not [value for value in NEVER_SENT if re.search(rf"\b{re.escape(value)}\b", sent)]
    dana = next(m for m in drafter.calls if "Zinc Bakery Co." in m[-1]["content"])[-1]["content"]
    assert "Title: Owner" in dana and "Opened a second bakery in Portland; reach her at [email removed]" in dana
    assert "Bread before dawn" not in dana
    out = tmp_path / "approved.csv"
    assert main(["export", "--run", "hs", "--out", str(out), "--raw"]) == 0
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [*HUBSPOT.split("\n", 1)[0].split(","), "first_line"]
    assert rows[1][:4] == ["Dana", "Reyes", "dana@zincbakery.com", "+1 (555) 123-4567"]


def test_context_columns_adds_a_column_and_refuses_crm_fields(
        fake_models: tuple[FakeDrafter, FakeCritic], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drafter, _critic = fake_models
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT, encoding="utf-8")
    assert main(["run", str(path), "--run", "hs", "--context-columns", "Contact owner,Tagline"]) == 2
    err = capsys.readouterr().err
    assert "--context-columns 'Contact owner': refused, its name marks contact data or a CRM field ('owner')" in err
    assert "never sent to a model" in err and drafter.calls == [] and "hs" not in store().runs()
    assert main(["run", str(path), "--run", "hs", "--context-columns", "Tagline"]) == 0
    assert "  context       Notes/Description, Tagline\n" in capsys.readouterr().err
    sent = sorted(m[-1]["content"].split("Notes: ", 1)[1] for m in drafter.calls)
    assert sent == ["Notes/Description: Launched a tool rental service.; Tagline: Tools for every trade",
                    "Notes/Description: Opened a second bakery in Portland; reach her at [email removed]; Tagline: "
                    "Bread before dawn"]
