"""`make bench` (python tests/bench_eval.py): an eval run comparing two drafter versions over 500 test cases against
the 200 ms stub server at concurrency 16, as a ratio to the ideal (model calls x 200 ms / 16); target <= 1.25.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import prompts.loader as loader
from critics.prospect import Prospect
from firstpass.db.evalcases import case_key, split_of
from firstpass.evalrun import EvalPlan, run_evals

from bench_gate import CITIES, bench_app, stub_models


def cases_in_test_split(n: int) -> list[tuple[Prospect, str]]:
    """n synthetic prospects whose cases fall in the test split, each with an AI line."""
    out: list[tuple[Prospect, str]] = []
    i = 0
    while len(out) < n:
        city = CITIES[i % len(CITIES)]
        p = Prospect(id=f"e{i}", first_name=f"Sam{i}", company=f"Contoso {i} Works", title="COO", city=city,
                     notes=f"Opened a plant in {city}.")
        line = f"Contoso {i} Works opened a plant in {city}."
        if split_of(case_key(p.model_dump(), line)) == "test":
            out.append((p, line))
        i += 1
    return out


def bench_eval(n: int = 500, delay: float = 0.2, concurrency: int = 16) -> tuple[float, int, float]:
    """Wall time of a two-version eval run over n cases against the stub, as a ratio to the ideal."""
    with stub_models(delay) as models, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "prompts"
        folder.mkdir()
        v1 = loader.template_text("drafter", "drafter-v1")
        (folder / "drafter-bench.toml").write_text(v1.replace('version = "drafter-v1"', 'version = "drafter-bench"'),
                                                   encoding="utf-8")
        loader.add_prompt_dir(folder)
        app = bench_app(Path(tmp), models)
        cases = cases_in_test_split(n)
        app.store.import_eval_cases(((p, line, "good", [], None) for p, line in cases), "bench")
        started = time.perf_counter()
        result = run_evals(app, EvalPlan(candidate="drafter-bench", baseline="drafter-v1", critic_eval=False,
                                         concurrency=concurrency))
        wall = time.perf_counter() - started
        calls = app.store.query("SELECT COUNT(*) AS n FROM llm_calls WHERE error IS NULL")[0]["n"]
        assert result.report["drafter"]["candidate"]["cases"] == n
        app.close()
    return wall / (calls * delay / concurrency), calls, wall


def main() -> None:
    """Print the eval figure beside its target."""
    ratio, calls, wall = bench_eval()
    print(f"eval run, 2 versions x 500 cases at concurrency 16, 200 ms stub: {wall:.1f} s for {calls} calls, "
          f"{ratio:.2f} x ideal (target <= 1.25)")


if __name__ == "__main__":
    main()
