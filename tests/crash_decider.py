"""Decide every pending item at random, as fast as possible: the process the crash test kills with SIGKILL.

`python tests/crash_decider.py HOME SEED` prints "ready" once it starts deciding, then one line per decision.
"""

from __future__ import annotations

import random
import sys

from firstpass.service import DecisionError
from firstpass.session import Models, build_app
from firstpass.settings import load_settings
from graph.human import Decision

from bench_gate import company_in
from fakes import FakeCritic, FakeDrafter

FEEDBACK = "A reviewer turned down the line"


def line(messages: list[dict[str, str]]) -> str:
    """A regenerate passes the rules half the time (company name in the line) and is flagged again otherwise."""
    company = company_in(messages)
    if FEEDBACK in messages[-1]["content"] and len(company) % 2:
        return f"The new office is a big step for {company}."
    return f"Hey {{first_name}}, {company} is AMAZING!!"


def main() -> None:
    """Decide until the queue is empty."""
    home, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    app = build_app(load_settings({"FIRSTPASS_HOME": home}), Models(FakeDrafter(line), FakeCritic()))
    print("ready", flush=True)
    while pending := app.pending():
        item = rng.choice(pending)
        action = rng.choice(["approve", "reject", "edit", "regenerate"])
        decision = Decision(action=action, reviewer="crash", line=f"The new office is a big step for {item.prospect.company}."
                            if action == "edit" else None, categories=["spammy"] if action == "reject" else [],
                            note="again" if action == "regenerate" else "", version=item.checkpoint_id)
        try:
            after = app.decide(item.id, decision)
        except DecisionError as exc:
            print(f"refused {item.id}: {exc}", flush=True)
            continue
        print(f"{item.id} {action} {after.status}", flush=True)
    app.close()


if __name__ == "__main__":
    main()
