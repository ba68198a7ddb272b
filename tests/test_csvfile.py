"""The prospect CSV loader: header spellings, ids, and every kind of bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from critics.policy import ContextPolicy
from firstpass.csvfile import CsvError, CsvOptions, load_prospects, parse_prospects


def write(tmp_path: Path, text: str | bytes, name: str = "p.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("company,first", [
    ("Company", "First Name"), ("Company Name", "first_name"), ("Account Name", "FIRSTNAME"),
    ("company_name", "First-Name"), ("Organization", "Given Name"),
])
def test_crm_header_spellings(company: str, first: str) -> None:
    result = parse_prospects(f"{first},{company},Job Title,LinkedIn,Recent News\nAda,Acme Co,CTO,ln/ada,Opened a plant\n")
    (p,) = result.prospects
    assert (p.first_name, p.company, p.title) == ("Ada", "Acme Co", "CTO")
    assert p.extra == {"Recent News": "Opened a plant"}  # a notes-like column is context; LinkedIn is not
    assert result.rows[0].original["LinkedIn"] == "ln/ada"  # but it stays in the row for the export


def test_missing_required_column_names_found_and_expected() -> None:
    with pytest.raises(CsvError) as err:
        parse_prospects("Name,Employer Size\nAda,10\n")
    message = str(err.value)
    assert "first_name" in message and "company" in message
    assert "'Name'" in message and "'Employer Size'" in message
    assert "company, companyname, accountname" in message


def test_empty_required_fields_are_skipped_by_row_number() -> None:
    result = parse_prospects("Company,First Name,Notes\nAcme,Ada,x\n,Bo,y\nBeta,  ,z\nGamma,Cy,\n")
    assert [p.company for p in result.prospects] == ["Acme", "Gamma"]
    assert [(s.row, s.reason) for s in result.skipped] == [
        (3, "empty required field(s): Company"), (4, "empty required field(s): First Name")]


def test_duplicates_reported_once_and_ids_are_stable() -> None:
    text = "Company,First Name\nAcme,Ada\nBeta,Bo\nacme ,ada\nAcme,Ada\n"
    result = parse_prospects(text)
    assert [p.company for p in result.prospects] == ["Acme", "Beta"]
    assert [d.row for d in result.duplicates] == [4, 5]
    again = parse_prospects(text)
    assert [p.id for p in again.prospects] == [p.id for p in result.prospects]
    assert len({p.id for p in result.prospects}) == 2


def test_id_column_is_used() -> None:
    result = parse_prospects("Lead ID,Company,First Name\nL-7,Acme,Ada\nL-7,Beta,Bo\n")
    assert [p.id for p in result.prospects] == ["L-7"]
    assert result.duplicates[0].reason == "duplicate of row 2 (id L-7)"


def test_windows_1252_is_decoded_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "Company,First Name\nCaf\xe9 Noir,Ren\xe9e\n".encode("cp1252"))
    result = load_prospects(path)
    assert result.prospects[0].company == "Café Noir"
    assert result.prospects[0].first_name == "Renée"
    assert "not UTF-8" in result.warnings[0] and "line 2" in result.warnings[0]


def test_utf8_bom_and_utf16_are_read(tmp_path: Path) -> None:
    bom = write(tmp_path, "\ufeffCompany,First Name\nÅsa AB,Åsa\n".encode("utf-8"), "bom.csv")
    assert load_prospects(bom).prospects[0].company == "Åsa AB"
    utf16 = write(tmp_path, "Company,First Name\nÅsa AB,Åsa\n".encode("utf-16"), "u16.csv")
    assert load_prospects(utf16).prospects[0].first_name == "Åsa"


def test_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"Company,First Name\nAcme,Ada\x81\x8d\n")
    with pytest.raises(CsvError, match="not UTF-8 .* line 2"):
        load_prospects(path)


def test_malformed_rows(tmp_path: Path) -> None:
    result = parse_prospects("Company,First Name\nAcme,Ada,extra,cells\nBeta,Bo\n")
    assert [p.company for p in result.prospects] == ["Beta"]
    assert result.skipped[0].row == 2 and "4 fields" in result.skipped[0].reason
    with pytest.raises(CsvError, match="empty"):
        parse_prospects("")
    with pytest.raises(CsvError, match="cannot read"):
        load_prospects(tmp_path / "missing.csv")


def test_quoted_fields_with_commas_and_newlines() -> None:
    result = parse_prospects('Company,First Name,Notes\n"Smith, Jones & Co.",Ada,"line one\nline two"\n')
    (p,) = result.prospects
    assert p.company == "Smith, Jones & Co." and p.notes == "line one\nline two"
    assert result.rows[0].original["Notes"] == "line one\nline two"


def test_ten_thousand_rows_load_quickly(tmp_path: Path) -> None:
    lines = ["Company,First Name,Title,Notes"] + [f"Company {i},Name{i},CTO,Opened office {i}" for i in range(10_000)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    result = load_prospects(path)
    assert len(result.prospects) == 10_000 and not result.skipped
    assert time.perf_counter() - started < 10  # generous: a sanity bound, not a benchmark


# --- rows are never dropped or merged silently ---------------------------------------------------------------

def test_a_stray_quote_is_a_bad_row_not_three_merged_prospects() -> None:
    text = ('Company,First Name,Notes\nAcme,Ada,"Opened a plant.\nBeta,Bo,Hired a CFO.\nGamma,Cy,Won an award.\n'
            "Delta,Di,Moved offices.\n")
    result = parse_prospects(text)
    (bad,) = result.bad
    assert bad.row == 2 and "a quote that is never closed" in bad.reason
    assert result.prospects == []  # nothing of Beta, Gamma or Delta ends up in Acme's notes


def test_a_short_or_long_row_is_a_bad_row() -> None:
    result = parse_prospects("Company,First Name,Notes\nAcme,Ada\nBeta,Bo,x,y\nGamma,Cy,z\n")
    assert [(b.row, b.reason.split(" (")[0]) for b in result.bad] == [
        (2, "has 2 fields but the header has 3"), (3, "has 4 fields but the header has 3")]
    assert [p.company for p in result.prospects] == ["Gamma"]


def test_duplicate_headers_are_refused_by_name() -> None:
    with pytest.raises(CsvError, match="duplicate column header\\(s\\): 'Company'"):
        parse_prospects("Company,First Name,Company\nAcme,Ada,Beta\n")


def test_the_first_non_empty_alias_wins_and_an_explicit_column_decides() -> None:
    text = "Company Name,Account Name,First Name\n,Acme Co,Ada\nBeta Inc,Beta Holdings,Bo\n"
    result = parse_prospects(text)
    assert [p.company for p in result.prospects] == ["Acme Co", "Beta Inc"]
    chosen = parse_prospects(text, options=CsvOptions(columns={"company": "Account Name"}))
    assert [p.company for p in chosen.prospects] == ["Acme Co", "Beta Holdings"]
    with pytest.raises(CsvError, match="no such column"):
        parse_prospects(text, options=CsvOptions(columns={"company": "Employer"}))
    with pytest.raises(CsvError, match="not a field"):
        parse_prospects(text, options=CsvOptions(columns={"employer": "Account Name"}))


@pytest.mark.parametrize("text", ["Company;First Name;Notes\nAcme;Ada;Opened a plant, and hired\n",
                                  "Company\tFirst Name\tNotes\nAcme\tAda\tOpened a plant, and hired\n",
                                  "sep=;\nCompany;First Name;Notes\nAcme;Ada;Opened a plant, and hired\n"],
                         ids=["semicolon", "tab", "sep-line"])
def test_delimiters_are_detected(text: str, tmp_path: Path) -> None:
    result = load_prospects(write(tmp_path, text))
    (p,) = result.prospects
    assert (p.company, p.first_name, p.notes) == ("Acme", "Ada", "Opened a plant, and hired")
    assert result.rows[0].row == (3 if text.startswith("sep=") else 2)


def test_a_one_megabyte_cell_is_accepted_and_the_limit_reported(tmp_path: Path) -> None:
    big = "x" * 1_000_000
    result = load_prospects(write(tmp_path, f"Company,First Name,Notes\nAcme,Ada,{big}\nBeta,Bo,short\n"))
    assert [len(p.notes) for p in result.prospects] == [1_000_000, 5]
    over = load_prospects(write(tmp_path, f"Company,First Name,Notes\nAcme,Ada,{big}yy\nBeta,Bo,short\n", "o.csv"))
    (bad,) = over.bad
    assert bad.row == 2 and "1,000,002 characters (the limit is 1,000,000)" in bad.reason
    assert [p.company for p in over.prospects] == ["Beta"]


def test_a_binary_file_is_refused_with_a_short_message(tmp_path: Path) -> None:
    path = write(tmp_path, bytes(range(256)) * 40, "x.xlsx")
    with pytest.raises(CsvError) as err:
        load_prospects(path)
    assert "binary data" in str(err.value) and len(str(err.value)) < 300


def test_garbage_headers_are_shown_short_and_escaped() -> None:
    with pytest.raises(CsvError) as err:
        parse_prospects("\x1b[2J" + "A" * 5000 + ",B\n1,2\n")
    message = str(err.value)
    assert len(message) < 600 and "\x1b" not in message and "\\x1b" in message


# --- what reaches the model: only chosen columns ------------------------------------------------------------

HUBSPOT = ("First Name,Last Name,Email,Phone Number,Company Name,Job Title,City,Lifecycle Stage,Contact owner,"
           "Number of Employees,Record ID,Notes/Description\n"
           "Dana,Reyes,dana@zincbakery.com,+1 (555) 123-4567,Zinc Bakery Co.,Owner,Portland,Lead,Jim Halpert,320,"
           '7731902264,"Opened a second bakery in Portland; reach her at dana.reyes@gmail.com"\n'
           "Sam,Ito,sam@acmetools.com,555-987-6543,Acme Tools,COO,Austin,Customer,Pam Beesly,45,7731902265,"
           "Launched a tool rental service.\n")


def test_a_hubspot_export_sends_only_its_notes_column(tmp_path: Path) -> None:
    result = load_prospects(write(tmp_path, HUBSPOT))
    assert result.plan.context == ("Notes/Description",)
    assert result.plan.kept == ("Email", "Phone Number", "Lifecycle Stage", "Contact owner", "Number of Employees")
    dana, sam = result.prospects
    assert dana.id == "7731902264" and (dana.title, dana.city) == ("Owner", "Portland")
    assert dana.extra == {"Notes/Description": "Opened a second bakery in Portland; reach her at dana.reyes@gmail.com"}
    assert sam.extra == {"Notes/Description": "Launched a tool rental service."}
    # Every column stays in the row for the export, exactly as it was.
    assert list(result.rows[0].original) == HUBSPOT.split("\n", 1)[0].split(",")
    assert result.rows[0].original["Email"] == "dana@zincbakery.com"
    # The notes' own email address is screened on the way to the prompt.
    assert dana.prompt_fields()["notes"] == ("Notes/Description: Opened a second bakery in Portland; reach her at "
                                             "[email removed]")


def test_context_columns_add_a_column_and_refuse_contact_data(tmp_path: Path) -> None:
    path = write(tmp_path, HUBSPOT.replace("Notes/Description\n", "Notes/Description,Tagline\n", 1)
                 .replace("gmail.com\"\n", "gmail.com\",Bread before dawn\n").replace("service.\n", "service.,Tools\n"))
    assert load_prospects(path).plan.context == ("Notes/Description",)
    added = load_prospects(path, CsvOptions(context_columns=["tagline"]))  # case and spacing need not match
    assert added.plan.context == ("Notes/Description", "Tagline")
    assert added.prospects[0].extra["Tagline"] == "Bread before dawn"
    by_policy = load_prospects(path, CsvOptions(context=ContextPolicy(columns=["Tagline"])))
    assert by_policy.plan.context == ("Notes/Description", "Tagline")
    with pytest.raises(CsvError) as err:
        load_prospects(path, CsvOptions(context_columns=["Tagline", "Contact owner"]))
    assert str(err.value).startswith("--context-columns 'Contact owner': refused") and "never sent" in str(err.value)
    with pytest.raises(CsvError, match="--context-columns 'Slogan': no such column"):
        load_prospects(path, CsvOptions(context_columns=["Slogan"]))


def test_a_requested_column_of_ids_is_refused_by_its_values() -> None:
    text = "Company,First Name,Ref\nAcme,Ada,AB-00123\nBeta,Bo,AB-00124\nGamma,Cy,AB-00125\n"
    with pytest.raises(CsvError, match="--context-columns 'Ref': refused, 100% of its values are ids"):
        parse_prospects(text, options=CsvOptions(context_columns=["Ref"]))
    policy = parse_prospects(text, options=CsvOptions(context=ContextPolicy(columns=["Ref"])))
    assert policy.plan.context == () and "policy context.columns 'Ref' is not sent" in policy.warnings[0]
