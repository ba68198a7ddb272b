"""The review panel in Chromium: login, keyboard decisions, two reviewers, and CSV fields shown as text.

Each test gets its own database and panel (fake models) on a free loopback port. Waits are on DOM states
(Playwright's expect), never on sleeps.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from firstpass import accounts
from firstpass.db import reviewqueue  # noqa: E402
from firstpass.service import Firstpass  # noqa: E402
from graph.human import Decision  # noqa: E402
from graph.models import drafter_for
from ui.app import build_panel, launch_panel  # noqa: E402

from tests.conftest import new_pg_database  # noqa: E402
from ui_support import CONFIDENCES, LINES, csv_rows, load_csv, make_app  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    # Gradio's queue calls pandas APIs that pandas 3 deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
TIMEOUT_MS = 15_000
# Generous for a loaded CI machine; a passing run waits only as long as the page needs.
expect.set_options(timeout=TIMEOUT_MS)

XSS_NOTES = 'Opened a clinic. <script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ROWS = [
    ("1", "Amara", "Acme Dental", "Reno", XSS_NOTES),
    ("2", "Bo", "Beta Labs", "Boise", "Opened a lab."),
    ("3", "Di", "Delta Roofing", "Tampa", "Won a roofing award."),
    ("4", "Cy", "Gamma Co", "Tulsa", "Hired a CFO."),
]
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


@dataclass
class Panel:
    """A running panel over its own app."""

    app: Firstpass
    url: str

    def item_id(self, company: str) -> int:
        """The id of the item for a company."""
        return next(i.id for i in self.app.store.items() if i.prospect.company == company)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _serve(tmp_path: Path, min_display_ms: float = 0.0, canary_rate: float = 0.0) -> Iterator[Panel]:
    app = make_app(tmp_path, LINES, confidences=CONFIDENCES, min_display_ms=min_display_ms, canary_rate=canary_rate)
    load_csv(app, "demo", csv_rows(ROWS))
    assert [i.prospect.company for i in app.pending()] == ["Acme Dental", "Beta Labs", "Delta Roofing"]
    for name, password in PASSWORDS.items():
        accounts.add_reviewer(app.store, name, password)
    blocks = build_panel(app)
    url = launch_panel(blocks, app.store, port=_free_port(), block=False, quiet=True)
    yield Panel(app, url)
    blocks.close()
    app.close()


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[Panel]:
    yield from _serve(tmp_path)


def _page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    return page


def login(browser: Browser, panel: Panel, name: str, password: str | None = None) -> Page:
    """Open the panel in a fresh browser context and log in; returns once the first item is on screen."""
    page = _page(browser)
    page.goto(panel.url)
    page.locator("input[type=text]").fill(name)
    page.locator("input[type=password]").fill(password or PASSWORDS[name])
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#fp-draft-text")).to_be_visible()
    page.wait_for_function("window.__firstpassKeys === true")
    expect(page.locator("#fp-who")).to_contain_text(f"Reviewing as {name}")
    return page


def draft(page: Page):  # noqa: ANN201 - a Playwright Locator
    """The draft text on screen."""
    return page.locator("#fp-draft-text")


def test_wrong_password_is_refused(browser: Browser, panel: Panel) -> None:
    page = _page(browser)
    page.goto(panel.url)
    page.locator("input[type=text]").fill("alice")
    page.locator("input[type=password]").fill("not-her-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    expect(page.locator("#fp-draft-text")).to_have_count(0)
    page.context.close()


def test_login_and_approve_with_the_keyboard(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    expect(page.locator("#fp-left-count")).to_contain_text("3 left")
    expect(page.locator("#fp-findings li.fp-finding")).not_to_have_count(0)
    expect(page.locator("#fp-draft-text mark.fp-hl").first).to_be_visible()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review-item-view.png"), full_page=True)
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    expect(page.locator("#fp-message")).to_contain_text("Approved item")
    expect(page.locator("#fp-left-count")).to_contain_text("2 left")
    acme = panel.app.item(panel.item_id("Acme Dental"))
    assert acme.status == "approved"
    [row] = panel.app.store.audit_log(acme.id)
    assert row.reviewer == "alice" and row.action == "approve" and row.duration_ms > 0
    assert row.identity == "login"  # known from the panel login, not self-asserted
    page.context.close()


def test_edit_shows_rules_refire_and_saves(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("e")
    box = page.locator("#fp-edit textarea")
    expect(box).to_be_focused()
    box.fill("")
    box.press_sequentially("Opening a clinic is a big step for Acme Dental.")
    expect(page.locator("#fp-check")).to_contain_text("nothing fires")
    box.press_sequentially(" Free trial!!")
    expect(page.locator("#fp-check")).to_contain_text("pricing")
    expect(page.locator("#fp-check")).to_contain_text("Rules still firing")
    for _ in range(len(" Free trial!!")):
        box.press("Backspace")
    expect(page.locator("#fp-check")).to_contain_text("nothing fires")
    box.press("Enter")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    expect(page.locator("#fp-message")).to_contain_text("edited line")
    item = panel.app.item(panel.item_id("Acme Dental"))
    assert item.status == "approved" and item.final_line == "Opening a clinic is a big step for Acme Dental."
    assert panel.app.store.eval_cases()[0]["verdict"] == "edit"
    # Focus left the box, so the next key is a shortcut again.
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Delta Roofing"])
    page.context.close()


def test_reject_with_a_category(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    # The categories start empty (the findings' ones are only suggested), so what is saved is what was chosen.
    expect(page.locator("#fp-reject-cats input:checked")).to_have_count(0)
    expect(page.locator("#fp-suggested")).to_contain_text("pricing")
    page.keyboard.press("r")
    note = page.locator("#fp-reject-note input")
    expect(note).to_be_focused()
    note.press("Enter")
    expect(page.locator("#fp-message")).to_contain_text("category")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])  # nothing decided without a category
    assert panel.app.item(panel.item_id("Acme Dental")).status == "review"
    note.fill("pushy")
    tone = page.locator('#fp-reject-cats input[name="tone"]')
    tone.check()
    tone.focus()
    page.keyboard.press("Enter")  # Enter on a ticked category confirms the reject too
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    expect(page.locator("#fp-message")).to_contain_text("Rejected item")
    item = panel.app.item(panel.item_id("Acme Dental"))
    assert item.status == "rejected"
    [row] = panel.app.store.audit_log(item.id)
    assert row.categories == ["tone"] and row.note == "pushy" and row.reviewer == "alice"
    page.context.close()


def test_regenerate_with_feedback(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("g")
    feedback = page.locator("#fp-regen-note input")
    expect(feedback).to_be_focused()
    feedback.fill("No offers and no hype.")
    feedback.press("Enter")
    expect(page.locator("#fp-message")).to_contain_text("Regenerated item")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    item = panel.app.item(panel.item_id("Acme Dental"))
    assert item.rounds == 1 and item.draft == "Acme Dental looks like a thoughtful team to follow in Reno."
    assert item.status == "auto_approved"
    assert "No offers and no hype." in drafter_for(panel.app.context.drafter).calls[-1][-1]["content"]
    page.context.close()


def test_second_reviewer_cannot_take_or_decide_a_claimed_item(browser: Browser, panel: Panel) -> None:
    alice = login(browser, panel, "alice")
    expect(draft(alice)).to_have_text(LINES["Acme Dental"])
    bob = login(browser, panel, "bob")
    expect(draft(bob)).to_have_text(LINES["Beta Labs"])  # Acme is alice's: bob gets the next one
    expect(bob.locator("#fp-left-count")).to_contain_text("1 open by other reviewers")
    store = panel.app.store
    beta, delta = panel.item_id("Beta Labs"), panel.item_id("Delta Roofing")
    # Bob's lease on Beta runs out while he looks away, and alice takes it: his decision is refused.
    reviewqueue.release(store, beta, "bob")
    assert reviewqueue.claim(store, beta, "alice")
    bob.keyboard.press("a")
    expect(bob.locator("#fp-message")).to_contain_text("being decided by alice")
    expect(draft(bob)).to_have_text(LINES["Delta Roofing"])
    assert panel.app.item(beta).status == "review" and store.audit_log(beta) == []
    # Alice decides Delta (say, from a second tab) after bob's lease lapsed: bob's decision is refused too.
    reviewqueue.release(store, delta, "bob")
    panel.app.decide(delta, Decision(action="approve", reviewer="alice"))
    bob.keyboard.press("c")  # take the suggested categories (they start empty)
    expect(bob.locator("#fp-reject-cats input:checked")).not_to_have_count(0)
    bob.keyboard.press("r")
    bob.locator("#fp-reject-note input").press("Enter")
    expect(bob.locator("#fp-message")).to_contain_text("already decided (approve) by alice")
    assert panel.app.item(delta).status == "approved" and len(store.audit_log(delta)) == 1
    # Alice's screen is untouched and her own decision goes through.
    alice.keyboard.press("a")
    expect(alice.locator("#fp-message")).to_contain_text("Approved item")
    assert panel.app.item(panel.item_id("Acme Dental")).status == "approved"
    alice.context.close()
    bob.context.close()


def test_script_in_notes_is_shown_as_text_and_runs_nothing(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    notes = page.locator("#fp-record-table tr", has_text="Notes").locator("td")
    expect(notes).to_have_text(XSS_NOTES)
    assert page.locator("#fp-record script, #fp-record img").count() == 0
    assert page.evaluate("window.__xss") is None
    page.keyboard.press("s")  # re-render with another item and back: still nothing runs
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    assert page.evaluate("window.__xss") is None
    page.context.close()


def test_export_button_writes_the_csv(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.get_by_text("Export approved lines").click()
    page.locator("#fp-export").click()
    expect(page.locator("#fp-export-msg")).to_contain_text("Exported 2 approved line(s) from run demo")
    link = page.locator("#fp-export-file a[href$='demo-approved.csv']")
    expect(link).to_have_count(1)
    body = page.request.get(link.get_attribute("href")).text()
    lines = body.splitlines()
    assert lines[0] == "Id,First Name,Company Name,City,Notes,Lead Source,first_line"
    assert lines[1].startswith("1,Amara,Acme Dental") and lines[1].endswith(LINES["Acme Dental"])
    assert len(lines) == 3 and lines[2].startswith("4,Cy,Gamma Co")
    page.context.close()


def test_audit_sample_is_marked_and_cannot_be_regenerated(browser: Browser, panel: Panel) -> None:
    gamma = panel.item_id("Gamma Co")
    panel.app.store.reset_item(gamma, audit_sample=1)  # as if the policy had sampled it
    page = login(browser, panel, "alice")
    for company in ("Acme Dental", "Beta Labs", "Delta Roofing"):
        expect(draft(page)).to_have_text(LINES[company])
        expect(page.locator("#fp-header")).not_to_contain_text("AUDIT")
        page.keyboard.press("a")
    expect(page.locator("#fp-header")).to_contain_text("AUDIT SAMPLE")
    expect(draft(page)).to_have_text(panel.app.item(gamma).final_line)
    expect(page.locator("#fp-regenerate")).to_be_disabled()
    page.keyboard.press("a")
    expect(draft(page)).to_have_text("Nothing left to review.")
    expect(page.locator("#fp-message")).to_contain_text("Audit of item")
    item = panel.app.item(gamma)
    assert item.status == "auto_approved" and item.audited_by == "alice" and not item.audit_pending
    page.context.close()


def test_removed_reviewer_cannot_decide(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "bob")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    accounts.remove_reviewer(panel.app.store, "bob")
    page.keyboard.press("a")
    # Removing the account ends its sessions at once (ui.guard): the key press decides nothing, and the page,
    # reloaded, asks for a login.
    expect(page.locator("#fp-message")).not_to_contain_text("Approved")
    assert panel.app.item(panel.item_id("Acme Dental")).status == "review"
    assert panel.app.store.audit_log() == []
    page.reload()
    expect(page.locator("input[type=password]")).to_be_visible()
    expect(page.locator("#fp-draft-text")).to_have_count(0)
    page.context.close()


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_undo_with_the_keyboard(browser: Browser, panel: Panel, action: str) -> None:
    page = login(browser, panel, "alice")
    acme = panel.item_id("Acme Dental")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    if action == "approve":
        page.keyboard.press("a")
    else:
        page.keyboard.press("c")
        expect(page.locator("#fp-reject-cats input:checked")).not_to_have_count(0)
        page.locator("#fp-reject").click()
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.keyboard.press("u")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    expect(page.locator("#fp-message")).to_contain_text(f"Undid your decision on item #{acme}")
    assert panel.app.item(acme).status == "review"
    assert [r.action for r in panel.app.store.audit_log(acme)] == [action, "undo"]
    assert all(c["withdrawn_by"] == "alice" for c in panel.app.store.eval_cases())
    page.context.close()


def test_a_letter_key_inside_the_categories_does_not_decide(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("r")  # opens the reject form
    page.locator("#fp-reject-cats input[type=checkbox]").first.focus()
    page.keyboard.press("a")
    page.wait_for_timeout(500)
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    assert panel.app.store.audit_log() == []
    page.context.close()


def test_a_flagged_edit_needs_shift_enter(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("e")
    box = page.locator("#fp-edit textarea")
    box.fill("Acme Dental has a free trial.")
    box.press("Enter")
    expect(page.locator("#fp-message")).to_contain_text("Rules still fire on your edit")
    expect(draft(page)).to_have_text("Acme Dental has a free trial.")  # still on screen, not approved
    acme = panel.item_id("Acme Dental")
    assert panel.app.item(acme).status == "review"
    page.keyboard.press("e")
    box.press("Shift+Enter")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    assert panel.app.item(acme).status == "approved"
    assert "approved anyway over rules" in panel.app.store.audit_log(acme)[-1].note
    page.context.close()


@pytest.fixture
def careful_panel(tmp_path: Path) -> Iterator[Panel]:
    """A panel that enforces the default minimum display time (400 ms) before a decision counts."""
    yield from _serve(tmp_path, min_display_ms=400)


def test_a_double_press_decides_once(browser: Browser, careful_panel: Panel) -> None:
    page = login(browser, careful_panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.wait_for_timeout(500)
    page.keyboard.press("a")
    page.keyboard.press("a")  # a double press: Gradio drops it while the first is pending, or the server ignores it
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.wait_for_timeout(100)
    assert [r.item_id for r in careful_panel.app.store.audit_log()] == [careful_panel.item_id("Acme Dental")]
    page.keyboard.press("a")  # Beta Labs has been on screen for well under 400 ms: ignored, and said
    expect(page.locator("#fp-message")).to_contain_text("Ignored")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    assert careful_panel.app.item(careful_panel.item_id("Beta Labs")).status == "review"
    page.wait_for_timeout(500)  # read it; now a key counts
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Delta Roofing"])
    assert len(careful_panel.app.store.audit_log()) == 2
    page.context.close()


def test_suggested_categories_are_accepted_with_one_key(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    expect(page.locator("#fp-reject-cats input:checked")).to_have_count(0)
    page.keyboard.press("c")
    expect(page.locator('#fp-reject-cats input[name="pricing"]')).to_be_checked()
    expect(page.locator('#fp-reject-cats input[name="spammy"]')).to_be_checked()
    page.locator("#fp-reject").click()
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    [row] = panel.app.store.audit_log(panel.item_id("Acme Dental"))
    assert {"pricing", "spammy"} <= set(row.categories)
    page.context.close()


def test_an_unsaved_edit_is_never_lost_silently(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("e")
    box = page.locator("#fp-edit textarea")
    box.fill("Opening a clinic is a big step for Acme Dental.")
    page.locator("#fp-approve").click()  # approving the AI line would drop the edit: refused, said
    expect(page.locator("#fp-message")).to_contain_text("unsaved edit")
    assert panel.app.store.audit_log() == []
    box.focus()
    page.keyboard.press("Escape")  # first Esc asks
    expect(page.locator("#fp-hint-live")).to_contain_text("Esc again discards it")
    expect(box).to_be_focused()
    expect(box).to_have_value("Opening a clinic is a big step for Acme Dental.")
    page.keyboard.press("Escape")  # second Esc discards
    expect(box).to_have_value(LINES["Acme Dental"])
    expect(box).not_to_be_focused()
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    [row] = panel.app.store.audit_log(panel.item_id("Acme Dental"))
    assert row.action == "approve" and row.final_line == LINES["Acme Dental"]
    page.context.close()


def test_question_mark_lists_every_key(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    page.keyboard.press("?")
    help_box = page.locator("#fp-help")
    expect(help_box).to_be_visible()
    for key in ("a", "e", "r", "c", "g", "s", "u", "Esc", "?"):
        expect(help_box.locator("kbd", has_text=key).first).to_be_visible()
    page.keyboard.press("?")
    expect(help_box).to_have_count(0)
    page.context.close()


def test_two_no_auth_tabs_hold_different_items(browser: Browser, tmp_path: Path) -> None:
    app = make_app(tmp_path, LINES, confidences=CONFIDENCES)
    load_csv(app, "demo", csv_rows(ROWS))
    blocks = build_panel(app, reviewer="me")
    url = launch_panel(blocks, app.store, port=_free_port(), block=False, quiet=True, auth=False)
    try:
        first, second = _page(browser), _page(browser)
        first.goto(url)
        expect(draft(first)).to_have_text(LINES["Acme Dental"])
        second.goto(url)
        expect(draft(second)).to_have_text(LINES["Beta Labs"])  # not the item the first tab holds
        second.wait_for_function("window.__firstpassKeys === true")
        second.keyboard.press("a")
        expect(draft(second)).to_have_text(LINES["Delta Roofing"])
        [row] = app.store.audit_log()
        assert row.reviewer.startswith("me@tab-") and row.identity == "self-asserted"
        first.context.close()
        second.context.close()
    finally:
        blocks.close()
        app.close()


def test_two_panels_on_one_postgresql_database_share_one_queue(browser: Browser, tmp_path: Path,
                                                                pg_cluster: str) -> None:
    database = new_pg_database(pg_cluster)
    apps = [make_app(tmp_path / name, LINES, confidences=CONFIDENCES, database=database) for name in ("a", "b")]
    load_csv(apps[0], "demo", csv_rows(ROWS))
    panels = [build_panel(app, reviewer=name) for app, name in zip(apps, ("ana", "ben"), strict=True)]
    urls = [launch_panel(blocks, app.store, port=_free_port(), block=False, quiet=True, auth=False)
            for blocks, app in zip(panels, apps, strict=True)]
    try:
        first, second = _page(browser), _page(browser)
        first.goto(urls[0])
        expect(draft(first)).to_have_text(LINES["Acme Dental"])
        second.goto(urls[1])  # another panel process would see the same: the queue lives in the database
        expect(draft(second)).to_have_text(LINES["Beta Labs"])
        second.wait_for_function("window.__firstpassKeys === true")
        second.keyboard.press("a")
        expect(draft(second)).to_have_text(LINES["Delta Roofing"])
        first.wait_for_function("window.__firstpassKeys === true")
        first.keyboard.press("a")
        expect(draft(first)).not_to_have_text(LINES["Acme Dental"])
        rows = apps[1].store.audit_log()
        assert sorted((r.reviewer.split("@")[0], r.action) for r in rows) == [("ana", "approve"), ("ben", "approve")]
        assert len({r.item_id for r in rows}) == 2
        first.context.close()
        second.context.close()
    finally:
        for blocks in panels:
            blocks.close()
        for app in apps:
            app.close()


@pytest.mark.parametrize("size", [(1280, 720), (1440, 900)], ids=["1280x720", "1440x900"])
def test_the_item_fits_a_laptop_screen(browser: Browser, panel: Panel, size: tuple[int, int]) -> None:
    width, height = size
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(panel.url)
    page.locator("input[type=text]").fill("alice")
    page.locator("input[type=password]").fill(PASSWORDS["alice"])
    page.get_by_role("button", name="Login").click()
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.wait_for_function("window.__firstpassKeys === true")

    def in_view(selector: str) -> bool:
        box = page.locator(selector).first.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height

    notes = '#fp-record th:text("Notes")'
    for selector in ("#fp-draft-text", "#fp-findings li.fp-finding", notes, "#fp-approve"):
        assert in_view(selector), (selector, page.locator(selector).first.bounding_box())
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"review-{width}x{height}.png"))
    # After a reject (the form opened lower down), the next item starts at the top again.
    page.keyboard.press("c")
    expect(page.locator("#fp-reject-cats input:checked")).not_to_have_count(0)
    page.keyboard.press("r")
    page.locator("#fp-reject-note textarea, #fp-reject-note input").first.press("Enter")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.wait_for_function("window.scrollY === 0")
    assert in_view("#fp-draft-text") and in_view(notes)
    page.context.close()


def test_a_recent_decision_is_reopened_from_the_list(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Delta Roofing"])
    acme = panel.item_id("Acme Dental")
    page.locator("#fp-recent-panel").get_by_text("Your recent decisions").click()
    page.locator("#fp-recent input").click()
    page.get_by_role("option", name=f"#{acme} approve", exact=False).click()
    page.locator("#fp-reopen").click()
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    assert panel.app.item(acme).status == "review"
    assert [r.action for r in panel.app.store.audit_log(acme)] == ["approve", "undo"]
    page.context.close()


def test_a_decision_on_a_line_that_changed_on_screen_is_refused(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    acme = panel.item_id("Acme Dental")
    # The line changes behind this tab (alice edits it from another tab; the rules still fire, so it stays).
    panel.app.decide(acme, Decision(action="edit", reviewer="alice", line="Great news, {company}!"))
    page.keyboard.press("a")
    expect(page.locator("#fp-message")).to_contain_text("changed since it was shown")
    expect(draft(page)).to_have_text("Great news, {company}!")  # the current line, now on screen
    assert panel.app.item(acme).status == "review"
    page.wait_for_timeout(100)
    page.keyboard.press("a")  # now about the line on screen
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    assert panel.app.item(acme).final_line == "Great news, {company}!"
    page.context.close()


def test_the_evals_tab_shows_the_newest_report_and_keys_there_decide_nothing(browser: Browser, panel: Panel) -> None:
    from test_html_report import XSS_NOTES as REPORT_XSS
    from test_html_report import make_report

    report = make_report()
    report["drafter"]["cases"][0]["prospect"]["notes"] = REPORT_XSS
    run_id, _ = panel.app.store.eval_runs.open("k", {"baseline": "drafter-v1", "candidate": "drafter-v2",
                                                     "critic": "critic-v1"}, "set")
    panel.app.store.eval_runs.finish(run_id, report)
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.get_by_role("tab", name="Evals").click()
    expect(page.locator("#fp-eval-table")).to_contain_text("drafter-v2")
    frame = page.frame_locator("#fp-eval-report")
    expect(frame.get_by_text(report["drafter"]["verdict"]).first).to_be_visible()
    expect(frame.get_by_text(REPORT_XSS).first).to_be_visible()  # shown as text
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "evals-tab.png"), full_page=True)
    # The review buttons are out of sight here: a decision key must not decide the hidden line.
    page.keyboard.press("a")
    page.keyboard.press("r")
    page.wait_for_timeout(300)  # a wrongly sent decision would have reached the server by now
    assert panel.app.item(panel.item_id("Acme Dental")).status == "review" and panel.app.store.audit_log() == []
    assert page.evaluate("window.__xss") is None
    page.get_by_role("tab", name="Review").click()
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.context.close()


def test_the_metrics_tab_draws_its_plots(browser: Browser, panel: Panel) -> None:
    page = login(browser, panel, "alice")
    expect(draft(page)).to_have_text(LINES["Acme Dental"])
    page.keyboard.press("a")
    expect(draft(page)).to_have_text(LINES["Beta Labs"])
    page.get_by_role("tab", name="Metrics").click()
    headline = page.locator("#fp-metrics-headline")
    expect(headline).to_contain_text(f"{len(panel.app.store.items())} lines gated")
    expect(headline).to_contain_text("1 first verdicts")
    expect(page.locator("#fp-reviewers")).to_contain_text("alice")
    expect(page.locator("#fp-calibration")).to_contain_text("Nothing certified")
    # Gradio draws its plots with Vega: the volume plot becomes a canvas or an SVG with marks in it.
    plot = page.locator("#fp-volume-plot")
    expect(plot.locator("canvas, svg.marks").first).to_be_visible()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "metrics-tab.png"), full_page=True)
    page.context.close()


def test_a_check_line_is_shown_like_an_item_and_revealed_after_the_decision(browser: Browser, tmp_path: Path) -> None:
    served = _serve(tmp_path, canary_rate=1.0)
    panel = next(served)
    try:
        page = login(browser, panel, "alice")  # nothing judged yet: the first item is a real one
        expect(draft(page)).to_have_text(LINES["Acme Dental"])
        page.keyboard.press("a")  # now a human-approved line exists: the next item is a check line made from it
        expect(draft(page)).not_to_have_text(LINES["Acme Dental"])
        expect(page.locator(".fp-header").first).to_contain_text("run demo")  # shown in a real run
        check = panel.app.store.canaries.pending("alice")
        assert check is not None
        expect(draft(page)).to_have_text(panel.app.item(check).draft or "")
        page.keyboard.press("a")
        expect(page.locator(".fp-msg-error").first).to_contain_text("That was a check line, and it was approved")
        assert panel.app.store.canaries.results()[0]["caught"] == 0
        page.context.close()
    finally:
        next(served, None)
