"""The panel's keyboard shortcuts (a small script run on page load) and its stylesheet."""

from __future__ import annotations

# One key per action. Keys typed into a text box are left alone (Escape leaves the box); Enter in a box
# submits it and then leaves it, so the next key press is a shortcut again.
KEYS_JS = """
() => {
  if (window.__firstpassKeys) return;
  window.__firstpassKeys = true;
  // Only what the reviewer can see may act: on the Evals tab the review buttons are hidden, and a key there must
  // never decide the line that is out of sight.
  const visible = (el) => !!el && (el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null);
  const click = (id) => { const el = document.getElementById(id); if (el && !el.disabled && visible(el)) el.click(); };
  const focus = (id) => {
    const el = document.querySelector(`#${id} input, #${id} textarea`);
    if (el) { el.focus(); if (el.setSelectionRange) el.setSelectionRange(el.value.length, el.value.length); }
  };
  const keys = {
    a: () => click('fp-approve'),
    e: () => { open('edit'); focus('fp-edit'); },
    r: () => { open('reject'); focus('fp-reject-note'); },
    g: () => { open('regen'); focus('fp-regen-note'); },
    s: () => click('fp-skip'),
    u: () => click('fp-undo'),
    c: () => { open('reject'); click('fp-use-suggested'); },
  };
  // Letter keys never act while the focus is in a form control: a text box, a category checkbox, a select.
  const hint = (text) => {
    let el = document.getElementById('fp-hint-live');
    if (!el) {
      el = document.createElement('div'); el.id = 'fp-hint-live'; el.setAttribute('role', 'status');
      document.body.appendChild(el);
    }
    el.textContent = text; el.style.display = 'block';
    clearTimeout(el.__t); el.__t = setTimeout(() => { el.style.display = 'none'; }, 6000);
  };
  const HELP = [['a', 'approve the line'], ['e', 'edit it (Enter saves; Shift+Enter approves a flagged edit anyway)'],
    ['r', 'reject (tick categories; Enter confirms)'], ['c', 'accept the suggested categories'],
    ['g', 'regenerate with feedback (Enter sends)'], ['s', 'skip'], ['u', 'undo your last decision'],
    ['Esc', 'leave a box (twice to discard an edit)'], ['?', 'show or hide this list']];
  const toggleHelp = () => {
    let el = document.getElementById('fp-help');
    if (el) { el.remove(); return; }
    el = document.createElement('div'); el.id = 'fp-help'; el.setAttribute('role', 'dialog');
    el.innerHTML = '<h3>Keys</h3><dl>' + HELP.map(([k, d]) => `<dt><kbd>${k}</kbd></dt><dd>${d}</dd>`).join('') +
      '</dl><p>Letter keys do nothing while a text box or a checkbox has the focus.</p>';
    el.addEventListener('click', () => el.remove());
    document.body.appendChild(el);
  };
  // The edit, reject and regenerate forms show only when opened (a key, or their button), and close for each
  // new item, which also scrolls the page back to the top: the draft is always in view.
  const FORMS = {edit: 'fp-save-edit', reject: 'fp-reject', regen: 'fp-regenerate'};
  const open = (name) => document.body.classList.add(`fp-show-${name}`);
  const isOpen = (name) => document.body.classList.contains(`fp-show-${name}`);
  document.addEventListener('click', (ev) => {
    for (const [name, id] of Object.entries(FORMS)) {
      const button = ev.target && ev.target.closest && ev.target.closest(`#${id}`);
      if (button && !isOpen(name)) {
        ev.preventDefault(); ev.stopPropagation();
        open(name); focus({edit: 'fp-edit', reject: 'fp-reject-note', regen: 'fp-regen-note'}[name]);
        return;
      }
    }
  }, true);
  let lastItem = null;
  new MutationObserver(() => {
    const d = document.getElementById('fp-draft-text');
    const item = d ? (d.dataset.itemId || '') : '';
    if (item !== lastItem) {
      lastItem = item;
      for (const name of Object.keys(FORMS)) document.body.classList.remove(`fp-show-${name}`);
      window.scrollTo(0, 0);
    }
  }).observe(document.body, {subtree: true, childList: true});
  const isTyping = (t) => t && (t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable ||
    t.tagName === 'INPUT');
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.key === 'Escape') {
      // Leaving the edit box with a changed line asks first: a second Esc discards the edit, Enter saves it.
      const box = t && t.closest && t.closest('#fp-edit') ? t : null;
      const shown = (document.getElementById('fp-draft-text') || {}).textContent || '';
      if (box && box.value.trim() !== shown.trim()) {
        if (!box.dataset.fpDiscard) {
          box.dataset.fpDiscard = '1';
          hint('Unsaved edit: Esc again discards it, Enter saves it, Shift+Enter approves it anyway.');
          ev.preventDefault(); return;
        }
        delete box.dataset.fpDiscard;
        box.value = shown; box.dispatchEvent(new Event('input', {bubbles: true}));
        hint('Edit discarded.');
      }
      if (isTyping(t)) t.blur();
      return;
    }
    if (t && t.dataset) delete t.dataset.fpDiscard;
    if (ev.key === '?' && !isTyping(t)) { ev.preventDefault(); toggleHelp(); return; }
    if (ev.key === 'Enter' && t && t.closest && t.closest('#fp-reject-cats')) {
      ev.preventDefault(); click('fp-reject'); t.blur(); return;
    }
    if (ev.key === 'Enter' && t && t.closest && t.closest('#fp-edit')) {
      // The edit box has room for a long line but holds one line: Enter saves, Shift+Enter approves anyway.
      ev.preventDefault(); ev.stopPropagation();
      click(ev.shiftKey ? 'fp-edit-anyway' : 'fp-save-edit'); setTimeout(() => t.blur(), 0); return;
    }
    if (ev.key === 'Enter' && isTyping(t) && t.closest &&
        t.closest('#fp-edit, #fp-reject-note, #fp-regen-note')) {
      setTimeout(() => t.blur(), 0);
      return;
    }
    if (isTyping(t) || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (!visible(document.getElementById('fp-draft'))) return;
    const action = keys[ev.key.toLowerCase()];
    if (action) { ev.preventDefault(); action(); }
  }, true);
}
"""

# The edit box's live rule check. Gradio's own input event sends a lagging value and can drop the last
# keystrokes, so the check panel calls its server function itself: debounced, with the box's current text,
# and only the answer to the newest request (for the item still on screen) is shown.
LIVE_CHECK_JS = """
if (!window.__firstpassCheck) {
  window.__firstpassCheck = true;
  let seq = 0, timer = null;
  const itemOnScreen = () => {
    const d = document.getElementById('fp-draft-text');
    return d ? (d.dataset.itemId || '') : '';
  };
  const run = async () => {
    const box = document.querySelector('#fp-edit input, #fp-edit textarea');
    if (!box) return;
    const mine = ++seq, item = itemOnScreen();
    try {
      const html = await server.check_edit({item_id: item, line: box.value});
      if (mine === seq && item === itemOnScreen()) props.value = html;
    } catch (err) { console.error('firstpass: live check failed', err); }
  };
  document.addEventListener('input', (ev) => {
    if (ev.target && ev.target.closest && ev.target.closest('#fp-edit')) {
      clearTimeout(timer);
      timer = setTimeout(run, 60);
    }
  }, true);
}
"""

CSS = """
#fp-draft-text { font-size: 1.35rem; line-height: 1.6; padding: .6rem .8rem; border-radius: 8px;
  background: var(--background-fill-secondary); white-space: pre-wrap; overflow-wrap: anywhere; }
.fp-empty { color: var(--body-text-color-subdued); }
mark.fp-hl { border-radius: 3px; padding: 0 1px; color: inherit; }
mark.fp-low { background: rgba(250, 204, 21, .30); border-bottom: 2px solid #ca8a04; }
mark.fp-medium { background: rgba(249, 115, 22, .30); border-bottom: 2px solid #ea580c; }
mark.fp-high { background: rgba(239, 68, 68, .30); border-bottom: 2px solid #dc2626; }
.fp-header { font-size: .95rem; color: var(--body-text-color-subdued); }
.fp-badge { display: inline-block; font-weight: 700; font-size: .8rem; padding: 1px 8px; border-radius: 999px; }
.fp-audit { background: #dbeafe; color: #1e3a8a; }
.fp-conf { font-size: .95rem; }
/* Fits 1280x720: forms hidden until opened; findings and record scroll inside their own boxes. */
body:not(.fp-show-edit) #fp-edit-group, body:not(.fp-show-reject) #fp-reject-group,
body:not(.fp-show-regen) #fp-regen-note { display: none !important; }
ol.fp-findings { max-height: 30vh; overflow-y: auto; }
div.fp-record-box { max-height: 30vh; overflow-y: auto; }
li.fp-finding { font-size: .88rem; line-height: 1.3; }
#fp-keys-help { font-size: .78rem; }
.fp-diff del { color: #b91c1c; text-decoration: line-through; }
.fp-diff ins { color: #166534; text-decoration: none; font-weight: 600; }
.dark .fp-diff del { color: #fca5a5; }
.dark .fp-diff ins { color: #86efac; }
#fp-hint-live { position: fixed; bottom: 16px; left: 50%; transform: translateX(-50%); z-index: 50; display: none;
  padding: 8px 14px; border-radius: 8px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); box-shadow: 0 2px 8px rgba(0, 0, 0, .2); }
#fp-help { position: fixed; top: 10%; left: 50%; transform: translateX(-50%); z-index: 60; min-width: 420px;
  padding: 16px 22px; border-radius: 10px; background: var(--background-fill-primary);
  border: 1px solid var(--border-color-primary); box-shadow: 0 6px 24px rgba(0, 0, 0, .3); }
#fp-help dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
#fp-help dd { margin: 0; }
/* The critic's score is a model's own, uncalibrated: shown plainly, never as an alarm. */
.fp-conf-low { color: var(--body-text-color-subdued); }
.fp-uncal { font-size: .75rem; border: 1px dashed var(--border-color-primary); padding: 0 4px; border-radius: 4px; }
/* A rule finding is a fact; the critic's is a suggestion. */
li.fp-finding.fp-from-critic { border-left-style: dashed; }
li.fp-finding.fp-from-critic .fp-msg { font-style: italic; }
/* Gradio's dark theme: the same meaning in colours that read on a dark page. */
.dark .fp-fix, .dark .fp-msg-ok, .dark .fp-check-ok { color: #86efac; }
.dark .fp-msg-error { color: #fca5a5; }
.dark .fp-check-fires { color: #fcd34d; }
.dark .fp-audit { background: #1e3a8a; color: #dbeafe; }
ol.fp-findings { margin: 0; padding-left: 0; list-style: none; }
li.fp-finding { margin: .35rem 0; padding: .35rem .5rem; border-left: 4px solid #ca8a04; overflow-wrap: anywhere; }
li.fp-finding.fp-medium { border-left-color: #ea580c; }
li.fp-finding.fp-high { border-left-color: #dc2626; }
.fp-num { font-weight: 700; }
.fp-src { font-size: .75rem; text-transform: uppercase; padding: 0 5px; border-radius: 4px;
  background: var(--background-fill-secondary); }
.fp-sev { font-size: .8rem; color: var(--body-text-color-subdued); }
.fp-fix { font-size: .9rem; color: #166534; margin-top: 2px; }
.fp-quote { font-style: italic; }
table.fp-record { width: 100%; border-collapse: collapse; font-size: .9rem; }
table.fp-record th { text-align: left; vertical-align: top; padding: 3px 8px 3px 0; white-space: nowrap;
  color: var(--body-text-color); font-weight: 600; }
table.fp-record td { padding: 3px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.fp-left { font-size: 1rem; }
.fp-msg-line { min-height: 1.4rem; }
.fp-msg-ok { color: #166534; }
.fp-msg-error { color: #b91c1c; font-weight: 600; }
.fp-check-ok { color: #166534; }
.fp-check-fires { color: #b45309; }
.fp-check { font-size: .85rem; }
.fp-check ul { margin: .2rem 0 .2rem 1.2rem; }
#fp-reject-cats label { font-size: .8rem; padding: 2px 6px; }
.fp-hint { font-size: .8rem; color: var(--body-text-color-subdued); }
.fp-keys { font-size: .85rem; color: var(--body-text-color-subdued); }
kbd { border: 1px solid var(--border-color-primary); border-radius: 3px; padding: 0 4px; font-size: .8rem; }
"""
