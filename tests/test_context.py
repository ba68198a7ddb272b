"""What reaches a model: the never-list of header names, the value screen, the column plan, and the prompt fields of
records stored before the allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from critics.context import (
    DEFAULT_ALLOW,
    find_sensitive,
    header_matches,
    internal_reason,
    leaks,
    plan_columns,
    screen,
    value_kind,
)
from critics.policy import ContextPolicy, Policy, PolicyError, load_policy
from critics.prospect import Prospect


@pytest.mark.parametrize("header", ["Email", "E-mail", "EmailAddress", "work_email", "Phone Number", "Mobile",
                                    "Lifecycle Stage", "Contact owner", "HubSpot Owner", "Number of Employees",
                                    "Employee Count", "Record ID", "hs_object_id", "ContactId", "Lead Status",
                                    "Lead Score", "Original Source", "Create Date", "Last Activity Date",
                                    "Annual Revenue", "LinkedIn URL", "Unsubscribed", "GDPR consent", "Opt-Out"])
def test_contact_data_and_crm_columns_are_named_by_the_never_list(header: str) -> None:
    assert internal_reason(header) is not None


@pytest.mark.parametrize("header", ["Country", "Account Name", "Recent News", "Company Description", "Ideas",
                                    "Keywords", "Technologies", "Interests", "Personalization", "Headline"])
def test_the_never_list_matches_words_not_pieces_of_words(header: str) -> None:
    assert internal_reason(header) is None  # "count" is not in Country, "id" not in Ideas


@pytest.mark.parametrize("header", ["Notes/Description", "Recent_News", "RecentNews", "Company description", "About",
                                    "Summary", "Bio", "Keywords", "Specialties", "Technologies", "Interests",
                                    "Personalisation", "Icebreaker", "Ice Breaker"])
def test_notes_like_headers_are_on_the_allowlist(header: str) -> None:
    assert header_matches(header, DEFAULT_ALLOW) is not None


def test_the_screen_replaces_contact_data_and_tracking_links_and_leaves_facts() -> None:
    text = ("Opened a plant in 2024 for $12,500,000; call +1 (555) 123-4567 or 555.987.6543, write dana@acme.com or "
            "dana [at] acme [dot] com; see https://acme.com/news?utm_source=crm&utm_medium=email and "
            "https://acme.com/about; SFDC 0031U00000AbCdEQAZ; Lifecycle Stage: Lead")
    out = screen(text)
    for gone in ("555", "dana@acme.com", "[at]", "utm_", "0031U00000AbCdEQAZ", "Lifecycle", "Lead"):
        assert gone not in out
    assert out.count("[phone removed]") == 2 and out.count("[email removed]") == 2
    assert "[tracking link removed]" in out and "[id removed]" in out and "[internal field removed]" in out
    assert "Opened a plant in 2024 for $12,500,000" in out and "https://acme.com/about" in out
    for fact in ("Hired 40 drivers in 2019 2023.", "Revenue grew 12 500 000 units.", "Founded 1995-2005.",
                 "Opened on 2024-01-15.", "Source: TechCrunch says they opened a plant."):
        assert screen(fact) == fact


def test_hubspot_and_mailchimp_hosts_are_tracking_links() -> None:
    assert screen("https://t.hubspotlinks.com/abc and http://eepurl.list-manage.com/track/click?u=1") == (
        "[tracking link removed] and [tracking link removed]")


def test_value_kinds() -> None:
    kinds = {v: value_kind(v) for v in ["a@b.com", "555-123-4567", "https://x.com", "acme.com", "2024-01-15", "320",
                                         "51-200", "0031U00000AbCdEQAZ", "TRUE", "Opened a clinic", "Node.js"]}
    assert kinds == {"a@b.com": "email", "555-123-4567": "phone", "https://x.com": "url", "acme.com": "url",
                     "2024-01-15": "date", "320": "number", "51-200": "number", "0031U00000AbCdEQAZ": "id",
                     "TRUE": "flag", "Opened a clinic": None, "Node.js": None}


def test_a_notes_like_column_of_mostly_urls_or_numbers_is_kept() -> None:
    headers = ["Company", "First Name", "Company Description", "Keywords", "Recent News"]
    named = {"company": ("Company",), "first_name": ("First Name",)}
    samples = {"Company Description": ["https://a.com", "https://b.com", "Bakery"], "Keywords": ["12", "40", "7"],
               "Recent News": ["Opened a plant", "https://c.com"]}
    plan = plan_columns(headers, named, samples, ContextPolicy())
    assert plan.context == ("Recent News",)  # half its values are URLs: not "mostly"
    assert plan.kept == ("Company Description", "Keywords")
    assert "URLs" in plan.why_kept["Company Description"] and "numbers" in plan.why_kept["Keywords"]
    asked = plan_columns(headers, named, samples, ContextPolicy(allow=[]), requested=["Keywords"])
    assert "numbers" in asked.refused["Keywords"] and asked.context == ()


def test_old_records_never_send_their_internal_extras() -> None:
    # An eval case stored before the allowlist: every CSV column was kept in `extra`.
    p = Prospect(first_name="Dana", company="Zinc Bakery Co.", notes="Opened a second shop; mail dana@zinc.example",
                 extra={"Email": "dana@zincbakery.com", "Lifecycle Stage": "Lead", "Contact owner": "Jim Halpert",
                        "Number of Employees": "320", "Record ID": "7731902264", "Recent News": "Call 555-123-4567."})
    fields = p.prompt_fields()
    text = " ".join(fields.values())
    for gone in ("dana@", "Lead", "Jim Halpert", "320", "7731902264", "555-123-4567", "Lifecycle", "owner"):
        assert gone not in text
    assert fields["notes"] == "Opened a second shop; mail [email removed] (Recent News: Call [phone removed].)"


def test_leaks_name_internal_values_of_the_record() -> None:
    record = {"company": "Zinc Bakery Co.", "extra": {"Lifecycle Stage": "Lead", "Interests": "bread"}}
    assert leaks("A Lead-Zinc Bakery Co. opening is news.", record) == ["internal column value 'Lead'"]
    assert leaks("The bread at Zinc Bakery Co. is news.", record) == []
    assert [s.kind for s in find_sensitive("Reach dana@zinc.example or 555-123-4567")] == ["email", "phone"]


def test_the_policy_section_defaults_match_the_bundled_file_and_refuse_internal_columns(tmp_path: Path) -> None:
    assert load_policy().context == ContextPolicy()
    old = tmp_path / "old.toml"
    old.write_text("[route]\nconfidence_threshold = 0.9\n")
    assert load_policy(old).context == ContextPolicy()  # a policy file from before [context] still loads
    data = load_policy().model_dump()
    del data["context"]
    assert Policy.model_validate(data).context == ContextPolicy()
    bad = tmp_path / "bad.toml"
    bad.write_text('[context]\ncolumns = ["Tagline", "Contact owner"]\n')
    with pytest.raises(PolicyError, match="context: .*'Contact owner' \\('owner'\\).*never reaches a model"):
        load_policy(bad)
    extra = tmp_path / "typo.toml"
    extra.write_text("[context]\ncolumn = []\n")
    with pytest.raises(PolicyError, match="context.column"):
        load_policy(extra)
