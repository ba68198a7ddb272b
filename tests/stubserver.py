"""A tiny OpenAI-compatible stub server for benchmarks and tests: fixed latency, scripted answers.

`python tests/stubserver.py --port 0 --delay 0.2` prints its base URL and serves until killed.
Modes: "ok" (a plausible first line, or a tool call with a clean verdict), "error" (HTTP 500),
"invalid" (a tool call whose arguments do not validate), "flaky" (two invalid tool calls, then valid ones),
"slow" (sleeps past any sane timeout).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _completion(model: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "stub", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def answer(body: dict[str, Any], mode: str) -> dict[str, Any]:
    """The stub's chat completion for a request body."""
    model = body.get("model", "stub")
    tools = body.get("tools") or []
    if tools:
        name = tools[0]["function"]["name"]
        args = {"findings": [], "confidence": 0.93} if mode != "invalid" else {"confidence": "very high"}
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        return _completion(model, {"role": "assistant", "content": None, "tool_calls": [call]})
    user = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    company = re.search(r"Company: (.+)", user or "")
    name = company.group(1).strip() if company else "your team"
    city = re.search(r"City: (.+)", user or "")
    where = city.group(1).strip() if city else "-"
    notes = re.search(r"Notes: (.+)", user or "")
    said = notes.group(1).split("[", 1)[0].split(".", 1)[0].strip() if notes else ""
    said = " ".join(said.split()[:8])
    # A line with one fact of the record (its city, or what its notes say), so that a plain record is not flagged.
    if where not in ("", "-"):
        line = f"{name} has had a busy year in {where}."
    elif said and said != "-":
        line = f"{name} has had a busy year: {said[0].lower()}{said[1:]}."
    else:
        line = f"{name} has had a busy year."
    return _completion(model, {"role": "assistant", "content": line})


def make_server(port: int = 0, delay: float = 0.2, mode: str = "ok") -> ThreadingHTTPServer:
    """A stub server bound to 127.0.0.1 (port 0 picks a free one); call serve_forever() to run it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle on, the second waits for a delayed ACK (40 ms a call).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            time.sleep(3600 if mode == "slow" else delay)
            if mode == "error":
                self._send(500, {"error": {"message": "stub server error", "type": "server_error"}})
            else:
                self._send(200, answer(body, effective(body)))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    tool_calls = iter(range(1 << 30))

    def effective(body: dict[str, Any]) -> str:
        if mode == "flaky" and body.get("tools"):
            return "invalid" if next(tool_calls) < 2 else "ok"
        return mode

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    return server


def start_in_thread(delay: float = 0.0, mode: str = "ok") -> tuple[ThreadingHTTPServer, str]:
    """Start a stub server on a background thread; returns it and its base URL."""
    server = make_server(0, delay, mode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def main() -> None:
    """Run a stub server in the foreground."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.2)
    p.add_argument("--mode", choices=("ok", "error", "invalid", "flaky", "slow"), default="ok")
    args = p.parse_args()
    server = make_server(args.port, args.delay, args.mode)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
