"""`make bench` (python tests/bench_gate.py): orchestration overhead, batch concurrency against a 200 ms stub server, rules throughput.

Prints one figure per line, each beside its target. Timings are wall-clock on this machine; the batch
figure is a ratio to the ideal so that the machine's speed cancels out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from critics.policy import load_policy
from critics.prospect import Prospect
from critics.rules import run_rules
from firstpass.batch import run_batch, todo
from firstpass.service import Firstpass
from firstpass.session import Models, build_app
from firstpass.settings import load_settings
from graph.models import ChatDrafter, InstructorCritic, ModelSpec

from fakes import FakeCritic, FakeDrafter

CITIES = ["Austin", "Denver", "Boise", "Tulsa", "Fresno", "Omaha", "Tampa", "Reno"]


def prospects(n: int) -> list[Prospect]:
    """Synthetic prospects with varied companies and notes."""
    return [Prospect(id=f"p{i}", first_name=f"Alex{i}", company=f"Northwind {i} Labs", title="VP Sales",
                     city=CITIES[i % len(CITIES)], notes=f"Opened an office in {CITIES[i % len(CITIES)]}.")
            for i in range(n)]


def company_in(messages: list[dict[str, str]]) -> str:
    """The company named in a drafter prompt's last user turn (for fake drafters)."""
    return messages[-1]["content"].split("Company: ", 1)[1].split("\n", 1)[0]


def _good_line(messages: list[dict[str, str]]) -> str:
    return f"Opening the new office is a big step for {company_in(messages)}."


def bench_app(home: Path, models: Models) -> Firstpass:
    """A Firstpass app over a fresh database in `home` with the given models."""
    return build_app(load_settings({"FIRSTPASS_HOME": str(home)}), models)


def load_run(app: Firstpass, run: str, items: list[Prospect]) -> None:
    """Add prospects to a run (CSV row numbers from 2)."""
    app.store.ensure_run(run)
    app.store.add_items(run, [(i + 2, {}, p) for i, p in enumerate(items)])


def bench_overhead(n: int = 400) -> float:
    """Milliseconds per item for the whole graph with zero-latency fakes and the real SQLite checkpointer."""
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp), Models(FakeDrafter(_good_line), FakeCritic()))
        load_run(app, "warm", prospects(20))
        run_batch(app, todo(app, "warm"), concurrency=1)
        load_run(app, "bench", prospects(n))
        items = todo(app, "bench")
        started = time.perf_counter()
        for item in items:
            app.process(item)
        elapsed = time.perf_counter() - started
        assert app.store.counts("bench").get("auto_approved") == n, app.store.counts("bench")
        app.close()
    return elapsed / n * 1000


@contextmanager
def stub_models(delay: float) -> Iterator[Models]:
    """Real model clients against a stub server (its own process) that answers after `delay` seconds."""
    stub = subprocess.Popen([sys.executable, str(Path(__file__).with_name("stubserver.py")), "--delay", str(delay)],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = stub.stdout.readline().strip()  # type: ignore[union-attr]
        spec = ModelSpec(model="stub", base_url=url)
        yield Models(ChatDrafter(spec), InstructorCritic(spec.model_copy(update={"retries": 0, "max_tokens": 320})))
    finally:
        stub.terminate()
        stub.wait()


def bench_batch(n: int = 500, delay: float = 0.2, concurrency: int = 16) -> tuple[float, int, float]:
    """Wall time of a batch against a stub server with fixed latency, as a ratio to calls x delay / concurrency."""
    with stub_models(delay) as models, tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp), models)
        load_run(app, "bench", prospects(n))
        summary = run_batch(app, todo(app, "bench"), concurrency=concurrency)
        calls = app.store.query("SELECT COUNT(*) AS n FROM llm_calls WHERE error IS NULL")[0]["n"]
        app.close()
    ideal = calls * delay / concurrency
    return summary.seconds / ideal, calls, summary.seconds


def bench_rules(rounds: int = 5) -> float:
    """Drafts per second through every rule, each draft with a never-seen record (no cache helps), best of rounds."""
    repo = Path(__file__).resolve().parents[1]
    cases = []
    for data in (repo.parent / "shared" / "data" / "dev.jsonl", repo / "tests" / "data" / "holdout.jsonl"):
        if data.exists():
            cases += [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    rules = load_policy().rules
    best = 0.0
    for r in range(rounds):
        pairs = []
        for i, case in enumerate(cases * 10):
            record = dict(case["prospect"], notes=f"{case['prospect'].get('notes', '')} Ref {r}-{i}.")
            pairs.append((case["draft"], Prospect.model_validate(record)))
        started = time.perf_counter()
        for draft, prospect in pairs:
            run_rules(draft, prospect, rules)
        best = max(best, len(pairs) / (time.perf_counter() - started))
    return best


LOAD_SCRIPT = """
import sys, time
from firstpass.csvfile import scan_prospects, stream_prospects
from firstpass.db import Store
path, db = sys.argv[1], sys.argv[2]
started = time.perf_counter()
report = scan_prospects(path)
store = Store(db)
store.ensure_run("big", headers=report.headers)
added = store.add_items("big", ((r.row, r.original, r.prospect) for r in stream_prospects(path)))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent that forked this process.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(added, time.perf_counter() - started, peak)
"""


def bench_load(n: int = 100_000) -> tuple[int, float, float]:
    """Rows loaded, seconds, and peak memory (MB) of a process that streams an n-row CSV into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        with path.open("w", encoding="utf-8") as fh:
            fh.write("Id,Company,First Name,Title,City,Notes,Lead Source\n")
            for i in range(n):
                fh.write(f"{i},Company {i} Holdings,Name{i},VP Sales,{CITIES[i % len(CITIES)]},"
                         f'"Opened an office in {CITIES[i % len(CITIES)]}, hired {i % 40} people.",Apollo\n')
        out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(path), str(Path(tmp) / "x.db")],
                             capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]) / 1024


def main() -> None:
    """Run the three benchmarks and print their figures."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    print("firstpass benchmark")
    ms = bench_overhead()
    print(f"1. orchestration overhead: {ms:.2f} ms per item (target <= 5 ms)", flush=True)
    ratio, calls, wall = bench_batch()
    print(f"2. batch of 500 at concurrency 16, 200 ms stub: {wall:.1f} s for {calls} calls, "
          f"ratio to ideal {ratio:.3f} (target <= 1.25)", flush=True)
    rate = bench_rules()
    print(f"3. rules throughput: {rate:,.0f} drafts per second, each with a new record (target >= 5,000)",
          flush=True)
    rows, seconds, peak = bench_load()
    print(f"4. loading a 100,000-row CSV: {rows:,} rows in {seconds:.1f} s, peak memory {peak:.0f} MB (target < 200 MB)")


if __name__ == "__main__":
    main()
