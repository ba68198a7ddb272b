"""Shared fixtures: a temporary data folder, fake models, and a Firstpass app over them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from critics.critic import CriticVerdict
from critics.policy import Policy, load_policy
from critics.prospect import Prospect
from firstpass.db import migrate
from firstpass.service import Firstpass
from firstpass.session import Models, build_app
from firstpass.settings import Settings, load_settings

from bench_gate import company_in as company_of
from fakes import FakeCritic, FakeDrafter
from pgcluster import cluster, fresh_database

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO.parent / "shared" / "data" / "dev.jsonl"


def good_line(messages: list[dict[str, str]]) -> str:
    """A line that passes every rule for the prospect in the prompt: it names the company and one fact (the city)."""
    prompt = messages[-1]["content"]
    company = company_of(messages)
    if "office" in prompt.split("Notes: ", 1)[-1]:
        return f"The new office is a big step for {company}."
    city = prompt.split("City: ", 1)[1].split("\n", 1)[0].strip() if "City: " in prompt else "-"
    if city in ("", "-"):
        notes = prompt.split("Notes: ", 1)[1].split("[", 1)[0] if "Notes: " in prompt else ""
        words = [w for w in re.findall(r"[A-Za-z]{4,}", notes) if w.lower() not in company.lower()]
        city = max(words, key=len) if words else ""
    if not city:
        return f"The new office is a big step for {company}."
    return f"The {city} news is a big step for {company}."


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--backend postgresql` runs the suite with every test's database on a fresh PostgreSQL database."""
    parser.addoption("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                     help="the database every test's data folder uses (default: the embedded SQLite file)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, skip what the SQLite pass already ran on both backends, and what is SQLite's own."""
    if config.getoption("--backend") != "postgresql":
        return
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        own = item.get_closest_marker("sqlite")
        if own is not None:
            item.add_marker(pytest.mark.skip(reason=own.args[0] if own.args else "about the SQLite file itself"))
        elif "database" in fixtures or "pg" in fixtures or "pg_cluster" in fixtures:
            item.add_marker(pytest.mark.skip(reason="already runs on both backends in the default pass"))
        elif item.get_closest_marker("models") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason="the models and the browser are the same on either backend"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """A fresh FIRSTPASS_HOME with no endpoints configured from the outside (and, with `--backend postgresql`, a
    fresh PostgreSQL database for it)."""
    for var in ("FIRSTPASS_DRAFTER_BASE_URL", "FIRSTPASS_CRITIC_BASE_URL", "FIRSTPASS_POLICY", "FIRSTPASS_CONFIG",
                "FIRSTPASS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FIRSTPASS_HOME", str(tmp_path / "home"))
    if request.config.getoption("--backend") == "postgresql":
        monkeypatch.setenv("FIRSTPASS_DATABASE_URL", new_pg_database(request.getfixturevalue("pg_cluster")))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the whole session; the URL of its `postgres` database."""
    with cluster() as url:
        yield url


_TEMPLATES: dict[str, str] = {}


def new_pg_database(cluster_url: str) -> str:
    """A fresh database in the cluster at the newest migration; its URL.

    The first is brought there by `db upgrade`'s code; the others are copies of it (CREATE DATABASE ... TEMPLATE takes
    milliseconds, the migrations a second), so that the whole suite can run on PostgreSQL.
    """
    if cluster_url not in _TEMPLATES:
        template = fresh_database(cluster_url, "fp_template")
        migrate.status(template, apply=True)
        _TEMPLATES[cluster_url] = "fp_template"
    return fresh_database(cluster_url, f"fp_{uuid.uuid4().hex[:16]}", template=_TEMPLATES[cluster_url])


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """Each backend in turn: None (the SQLite file in the data folder), or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings over the temporary data folder."""
    return load_settings()


AppFactory = Callable[..., Firstpass]


@pytest.fixture
def make_app(settings: Settings) -> Iterator[AppFactory]:
    """Build Firstpass apps over one database with the given fake models; all are closed afterwards."""
    apps: list[Firstpass] = []

    def build(drafter: FakeDrafter | None = None, critic: FakeCritic | None = None,
              policy: Policy | None = None) -> Firstpass:
        models = Models(drafter or FakeDrafter(good_line), critic or FakeCritic())
        app = build_app(settings, models, policy or load_policy())
        apps.append(app)
        return app

    yield build
    for app in apps:
        try:
            app.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


def prospect(i: int = 0, **overrides: str) -> Prospect:
    """A prospect record for tests."""
    data = {"id": f"p{i}", "first_name": "Dana", "company": f"Harbor {i} Freight",
            "city": "Tacoma", "notes": "Opened a new office in Tacoma."}
    data.update(overrides)
    return Prospect(**data)


def load_items(app: Firstpass, run: str, prospects: list[Prospect]) -> None:
    """Add prospects to a run."""
    app.store.ensure_run(run)
    app.store.add_items(run, [(i + 2, {"Company": p.company, "First Name": p.first_name}, p)
                              for i, p in enumerate(prospects)])


def verdict(confidence: float = 0.95, findings: list[dict] | None = None) -> CriticVerdict:
    """A critic verdict for fakes."""
    return CriticVerdict.model_validate({"confidence": confidence, "findings": findings or []})


def dev_cases() -> list[dict]:
    """The labelled development set."""
    return [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
