"""Eval cases: the development set imports once, round-trips through export, and falls into fixed, disjoint splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firstpass.cli import main
from firstpass.db.evalcases import case_key, split_of
from firstpass.settings import load_settings
from firstpass.stores import open_store
from graph.human import Decision

from fakes import FakeDrafter
from tests.conftest import DEV_SET, AppFactory, load_items, prospect
from tests.test_graph import bad_line


def test_the_dev_set_imports_once_and_round_trips(home: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "import", str(DEV_SET)]) == 0
    assert "imported 60 eval case(s)" in capsys.readouterr().out
    assert main(["eval", "import", str(DEV_SET)]) == 0
    again = capsys.readouterr().out
    assert "imported 0 eval case(s)" in again and "60 were there already" in again
    out = tmp_path / "cases.jsonl"
    assert main(["eval", "export", "--out", str(out)]) == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    source = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
    assert sorted((e["draft"], e["label"], tuple(e["errors"])) for e in exported) == sorted(
        (s["draft"], s["label"], tuple(s["errors"])) for s in source)
    # The export reads back as import input: nothing new.
    assert main(["eval", "import", str(out)]) == 0
    assert "imported 0 eval case(s)" in capsys.readouterr().out
    assert main(["eval", "export", "--out", str(tmp_path / "cases.csv")]) == 0
    assert (tmp_path / "cases.csv").read_text().splitlines()[0].startswith("id,company,first_name,draft,label")


def test_splits_are_seeded_fixed_and_disjoint(home: Path) -> None:
    assert main(["eval", "import", str(DEV_SET)]) == 0
    store = open_store(load_settings())
    cases = store.eval_cases()
    splits = {c["case_key"]: c["split"] for c in cases}
    assert set(splits.values()) == {"train", "test"}
    test_share = sum(s == "test" for s in splits.values()) / len(splits)
    assert 0.15 <= test_share <= 0.45
    # Fixed: the same key always draws the same split, and no case is in both.
    assert all(split_of(k) == s for k, s in splits.items())
    assert len({c["case_key"] for c in cases}) == len(cases)


def test_an_override_of_the_same_line_is_stored_once(make_app: AppFactory) -> None:
    app = make_app(drafter=FakeDrafter(bad_line))
    load_items(app, "r", [prospect(1)])
    item = app.process(app.store.items(run="r")[0])
    app.decide(item.id, Decision(action="reject", reviewer="ana", categories=["spammy"]))
    app.undo(item.id, "ana")  # withdrawn: makes room for the next verdict on the same line
    app.decide(item.id, Decision(action="approve", reviewer="ana"))
    cases = app.store.eval_cases()
    assert [(c["verdict"], c["withdrawn_at"] is None) for c in cases] == [("reject", False), ("approve", True)]
    assert cases[0]["case_key"] == cases[1]["case_key"] == case_key(item.prospect.model_dump(), item.ai_line)
