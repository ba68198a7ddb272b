"""LangGraph's own server (`langgraph dev`) runs the firstpass graph from langgraph.json, driven over HTTP with
langgraph_sdk the way Agent Inbox drives it: find interrupted threads, read the HumanInterrupt, resume them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from critics.policy import load_policy
from firstpass.server import free_port

from stubserver import start_in_thread

REPO = Path(__file__).resolve().parents[1]
PROSPECTS = {
    "accept": {"id": "p1", "first_name": "Dana", "company": "Harbor Freight Lines", "notes": "Opened a depot."},
    "edit": {"id": "p2", "first_name": "Ravi", "company": "Kestrel Bikes", "notes": "Opened a second shop."},
}


@dataclass
class Server:
    """The SDK client of a running `langgraph dev`, and the stub model server its runs use."""

    client: SyncLangGraphClient
    stub_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    stub, stub_url = start_in_thread(0.0, "ok")
    port = free_port()
    home = tmp_path_factory.mktemp("langgraph-home")
    env = {**os.environ, "FIRSTPASS_HOME": str(home), "LANGGRAPH_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
           "PYTHONUNBUFFERED": "1"}
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("langgraph")), "dev", "--port", str(port), "--host", "127.0.0.1",
         "--no-browser", "--no-reload", "--allow-blocking", "--config", str(REPO / "langgraph.json")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    sdk = get_sync_client(url=url)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                sdk.assistants.search(graph_id="firstpass")
                break
            except Exception as exc:  # noqa: BLE001 - not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_tail = (home / "server.log").read_text()[-3000:]
                    raise AssertionError(f"langgraph dev did not start:\n{log_tail}") from exc
                time.sleep(0.5)
        yield Server(sdk, stub_url)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        stub.shutdown()
        log.close()


def _context(stub_url: str) -> dict[str, Any]:
    # Every line goes to a human under the "high" tier: the stub's lines would pass the gate otherwise.
    policy = load_policy().model_dump()
    policy["route"]["tier"] = "high"
    model = {"provider": "openai", "base_url": stub_url, "model": "stub"}
    return {"drafter": model, "critic": {**model, "max_tokens": 320}, "policy": policy}


def _interrupted(client: SyncLangGraphClient, thread_id: str) -> dict[str, Any]:
    found = [t for t in client.threads.search(status="interrupted", limit=100) if t["thread_id"] == thread_id]
    assert found, "the thread is not listed among the interrupted ones"
    (interrupt,) = [i for items in found[0]["interrupts"].values() for i in items]
    return dict(interrupt["value"])


def test_agent_inbox_round_trip(server: Server) -> None:
    client = server.client
    assistant = client.assistants.create(graph_id="firstpass", context=_context(server.stub_url),
                                         name="firstpass on the stub models")
    finals = {}
    for how, prospect in PROSPECTS.items():
        thread = client.threads.create()
        client.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"prospect": prospect, "rounds": 0})
        request = _interrupted(client, thread["thread_id"])
        # The HumanInterrupt as Agent Inbox reads it.
        assert request["action_request"]["action"] == "review_first_line"
        line = request["action_request"]["args"]["line"]
        assert line.startswith(f"{prospect['company']} has had a busy year")
        assert request["config"]["allow_accept"] and request["config"]["allow_edit"]
        if how == "accept":
            response = [{"type": "accept", "args": None}]
            expected = line
        else:
            expected = f"The second shop is a fine step for {prospect['company']}."
            response = [{"type": "edit", "args": {"action": "review_first_line", "args": {"line": expected}}}]
        client.runs.wait(thread["thread_id"], assistant["assistant_id"], command={"resume": response})
        state = client.threads.get_state(thread["thread_id"])
        assert not state["next"] and not state.get("interrupts")
        finals[how] = (state["values"]["status"], state["values"]["final_line"], expected)
    assert finals["accept"][:2] == ("approved", finals["accept"][2])
    assert finals["edit"][:2] == ("approved", finals["edit"][2])
