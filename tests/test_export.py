"""Export: the original CSV columns in order plus the approved first line; rejected items left out and counted."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstpass.cli import main
from firstpass.db import reviewqueue
from firstpass.export import ExportError, export_run
from firstpass.service import Firstpass
from graph.human import Decision

from ui_support import CONFIDENCES, LINES, csv_rows, id_of, load_csv, make_app

ROWS = [
    ("1", "Amara", "Acme Dental", "Reno", "Opened a clinic."),
    ("2", "Bo", "Beta Labs", "Boise", 'Notes with "quotes", commas\nand a newline.'),
    ("3", "Cy", "Gamma Co", "Tulsa", "Hired a CFO."),
    ("4", "Di", "Delta Roofing", "Tampa", "Won an award."),
    ("5", "Ed", "Omega Inc", "Omaha", "=HYPERLINK(\"x\")"),
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Firstpass]:
    a = make_app(tmp_path / "home", LINES, confidences=CONFIDENCES, audit_rate=1.0)
    load_csv(a, "r1", csv_rows(ROWS))
    yield a
    a.close()



def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_export_writes_approved_lines_in_file_order(app: Firstpass, tmp_path: Path) -> None:
    acme, beta, gamma, delta = (id_of(app, c) for c in ("Acme Dental", "Beta Labs", "Gamma Co", "Delta Roofing"))
    edited = "Winning an award is a big moment for Delta Roofing."
    app.decide(acme, Decision(action="reject", reviewer="alice", categories=["spammy"]))
    app.decide(beta, Decision(action="approve", reviewer="alice"))
    app.decide(delta, Decision(action="edit", reviewer="alice", line=edited))
    counts = export_run(app.store, "r1", tmp_path / "out" / "approved.csv")
    header, rows = _read(tmp_path / "out" / "approved.csv")
    assert header == ["Id", "First Name", "Company Name", "City", "Notes", "Lead Source", "first_line"]
    assert [r[0] for r in rows] == ["2", "3", "4", "5"]  # file order; Acme (rejected) left out
    by_id = {r[0]: r for r in rows}
    assert by_id["2"][4] == 'Notes with "quotes", commas\nand a newline.'  # original cells round-trip
    assert by_id["2"][-1] == LINES["Beta Labs"]
    assert by_id["4"][-1] == edited
    assert by_id["3"][-1] == app.item(gamma).final_line  # auto-approved, audit still pending: approved
    assert app.item(gamma).audit_pending
    assert (counts.approved, counts.rejected, counts.undecided) == (4, 1, 0)


def test_undecided_items_are_left_out_and_counted(app: Firstpass, tmp_path: Path) -> None:
    counts = export_run(app.store, "r1", tmp_path / "a.csv")
    _, rows = _read(tmp_path / "a.csv")
    assert [r[0] for r in rows] == ["3", "5"]  # the two auto-approved
    assert (counts.approved, counts.rejected, counts.undecided) == (2, 0, 3)


def test_rejected_audit_is_left_out(app: Firstpass, tmp_path: Path) -> None:
    gamma = id_of(app, "Gamma Co")
    app.audit(gamma, Decision(action="reject", reviewer="alice", categories=["tone"]))
    counts = export_run(app.store, "r1", tmp_path / "a.csv")
    _, rows = _read(tmp_path / "a.csv")
    assert [r[0] for r in rows] == ["5"] and counts.rejected == 1


def test_existing_first_line_column_is_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path / "home")
    load_csv(app, "r", "First Name,Company,first_line\nAmara,Gamma Co,theirs\n")
    export_run(app.store, "r", tmp_path / "a.csv")
    header, rows = _read(tmp_path / "a.csv")
    assert header == ["First Name", "Company", "first_line", "first_line_2"]
    assert rows[0][:3] == ["Amara", "Gamma Co", "theirs"] and rows[0][3].startswith("Gamma Co")
    app.close()


def test_unknown_run_is_an_error(app: Firstpass, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no run 'nope'.*r1"):
        export_run(app.store, "nope", tmp_path / "a.csv")
    assert not (tmp_path / "a.csv").exists()


def test_cli_export(app: Firstpass, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIRSTPASS_HOME", str(tmp_path / "home"))
    app.decide(id_of(app, "Acme Dental"), Decision(action="reject", reviewer="alice", categories=["pricing"]))
    out = tmp_path / "approved.csv"
    assert main(["export", "--run", "r1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exported 2 approved" in text and "1 rejected" in text and "2 not yet decided" in text
    assert len(_read(out)[1]) == 2
    assert main(["export", "--run", "nope", "--out", str(out)]) == 1  # not found: 1, as for every command
    assert "no run 'nope'" in capsys.readouterr().err


def test_export_ignores_leases(app: Firstpass, tmp_path: Path) -> None:
    reviewqueue.claim(app.store, id_of(app, "Gamma Co"), "alice")
    assert export_run(app.store, "r1", tmp_path / "a.csv").approved == 2


DANGEROUS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("cell", DANGEROUS, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_export_neutralises_formula_cells_and_raw_keeps_them(tmp_path: Path, cell: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("FIRSTPASS_HOME", str(tmp_path / "home"))
    app = make_app(tmp_path / "home", {}, audit_rate=0.0)
    try:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(["9", "Zoe", "Kappa Kilns", "Reno", cell, "Apollo"])
        load_csv(app, "f", "Id,First Name,Company Name,City,Notes,Lead Source\n" + out.getvalue())
        (item,) = app.store.items(run="f")
        assert item.status == "auto_approved" and item.original["Notes"] == cell  # the loader keeps the cell
        app.store.reset_item(item.id, final_line=cell + " Kappa Kilns")  # a line that begins like a formula, too
        export_run(app.store, "f", tmp_path / "safe.csv")
        _, (row,) = _read(tmp_path / "safe.csv")
        assert row[4] == "'" + cell and row[-1] == "'" + cell + " Kappa Kilns"
        assert row[0] == "9" and row[2] == "Kappa Kilns"  # ordinary cells untouched
        assert main(["export", "--run", "f", "--out", str(tmp_path / "raw.csv"), "--raw"]) == 0
        _, (raw,) = _read(tmp_path / "raw.csv")
        assert raw[4] == cell and raw[-1] == cell + " Kappa Kilns"
    finally:
        app.close()
