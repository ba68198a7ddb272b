"""Settings: where data lives and which model endpoints to use, from FIRSTPASS_* variables over a config file.

Read through pydantic-settings; nothing is read at import time: call `load_settings()` where settings are
needed. API keys are `SecretStr`: they print as '**********' and never reach a log or the graph's context.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource, InitSettingsSource

if TYPE_CHECKING:
    from firstpass.db.engine import PgOptions

DEFAULT_DRAFTER_MODEL = "smollm2-135m-instruct"
DEFAULT_CRITIC_MODEL = "gemma3-270m"


class SettingsError(ValueError):
    """A config file or environment variable that cannot be used; the message names it."""


class ModelEndpoint(BaseModel):
    """One OpenAI-compatible endpoint; no base_url means the embedded llama.cpp server."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
    model: str = Field(description="Model id sent to the endpoint.")
    api_key: SecretStr = Field(default=SecretStr("not-needed"), description="API key; local servers ignore it.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds before a call counts as failed.")
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_tokens: int = Field(default=80, gt=0)
    structured_mode: Literal["tools", "json_schema"] = Field(
        default="tools", description="How the critic gets structured output: tools or json_schema.")

    @property
    def embedded(self) -> bool:
        """Whether this endpoint is served by firstpass's own embedded server."""
        return self.base_url is None


class DrafterEndpoint(ModelEndpoint):
    """The drafter's endpoint: the embedded SmolLM2 unless configured."""

    model: str = Field(default=DEFAULT_DRAFTER_MODEL, description="Model id sent to the endpoint.")


class CriticEndpoint(ModelEndpoint):
    """The critic's endpoint: the embedded Gemma 3 unless configured; deterministic, room for a structured answer."""

    model: str = Field(default=DEFAULT_CRITIC_MODEL, description="Model id sent to the endpoint.")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=320, gt=0)
    retries: int = Field(default=2, ge=0, description="How often an invalid critic answer is retried "
                         "(FIRSTPASS_CRITIC_RETRIES).")


class PostgresSettings(BaseModel):
    """How each process connects to a PostgreSQL database (FIRSTPASS_POSTGRES_*); unused with SQLite."""

    model_config = ConfigDict(extra="forbid")

    pool_size: int = Field(default=6, ge=1, le=200, description="Connections per pool in each process: one pool "
                           "for the app's tables, one for the checkpointer; a worker adds 4 for the job queue "
                           "(FIRSTPASS_POSTGRES_POOL_SIZE).")
    prepare_threshold: int | None = Field(default=5, ge=0, description="Runs before psycopg prepares a statement; "
                                          "'none' never prepares, for PgBouncer in transaction mode "
                                          "(FIRSTPASS_POSTGRES_PREPARE_THRESHOLD).")
    max_lifetime: float = Field(default=3600.0, gt=0, description="Seconds before a connection is replaced "
                                "(FIRSTPASS_POSTGRES_MAX_LIFETIME).")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")

    @field_validator("prepare_threshold", mode="before")
    @classmethod
    def _none_word(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("none", "off", "never") else value

    def options(self) -> PgOptions:
        """The database layer's connection options."""
        from firstpass.db.engine import PgOptions

        return PgOptions(pool_size=self.pool_size, prepare_threshold=self.prepare_threshold,
                         max_lifetime=self.max_lifetime, connect_timeout=self.connect_timeout)


class WorkerSettings(BaseModel):
    """How `firstpass worker` processes share the job queue (FIRSTPASS_WORKER_*)."""

    model_config = ConfigDict(extra="forbid")

    heartbeat: float = Field(default=10.0, gt=0, description="Seconds between a worker's heartbeats "
                             "(FIRSTPASS_WORKER_HEARTBEAT).")
    stalled_after: float = Field(default=30.0, gt=0, description="Seconds without a heartbeat after which a worker "
                                 "counts as dead and its jobs are retried (FIRSTPASS_WORKER_STALLED_AFTER).")
    lease_seconds: float = Field(default=60.0, gt=0, description="An item's writer lease; a dead worker's items on "
                                 "another machine free up after this long (FIRSTPASS_WORKER_LEASE_SECONDS).")


class Settings(BaseSettings):
    """Everything firstpass reads from its environment: FIRSTPASS_* variables over `config.toml` over defaults."""

    model_config = SettingsConfigDict(env_prefix="FIRSTPASS_", env_nested_delimiter="_", env_nested_max_split=1,
                                      extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".firstpass",
                       description="Data folder: the database and logs live here (FIRSTPASS_HOME).")
    database_url: str | None = Field(default=None, description="A SQLAlchemy URL for the database; default: "
                                     "the SQLite file firstpass.db in the data folder.")
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    drafter: DrafterEndpoint = Field(default_factory=DrafterEndpoint)
    critic: CriticEndpoint = Field(default_factory=CriticEndpoint)
    policy_path: Path | None = Field(default=None, validation_alias=AliasChoices("FIRSTPASS_POLICY", "policy"),
                                     description="Policy TOML overlaying the defaults (FIRSTPASS_POLICY).")
    prompt_version: str | None = Field(default=None, description="Drafter prompt version; None means the newest.")
    prompts_dir: Path | None = Field(default=None, description="A folder of the team's own prompt versions, read after "
                                     "the bundled ones; `eval suggest --write` writes there (FIRSTPASS_PROMPTS_DIR).")
    require_known_reviewer: bool = Field(default=False, description="Refuse command-line decisions whose --reviewer "
                                         "has no panel account (FIRSTPASS_REQUIRE_KNOWN_REVIEWER).")

    @property
    def critic_retries(self) -> int:
        """How often an invalid critic answer is retried."""
        return self.critic.retries

    @property
    def policy_file(self) -> Path | None:
        """The policy file in force: FIRSTPASS_POLICY (or `policy` in config.toml), else `policy.toml` in the data
        folder when there is one (`firstpass calibrate --apply` writes it)."""
        if self.policy_path is not None:
            return self.policy_path
        own = self.home / "policy.toml"
        return own if own.exists() else None

    @property
    def db_path(self) -> Path:
        """The SQLite file that holds checkpoints and the app's tables (the embedded default)."""
        return self.home / "firstpass.db"

    @property
    def database(self) -> Path | str:
        """What the store opens: the configured URL, else the SQLite file."""
        return self.database_url or self.db_path

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment (as given to load_settings) first, then the config file."""
        return init_settings, env_settings


class _MappingEnv(EnvSettingsSource):
    """The environment source over a given mapping instead of os.environ (tests pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = {k.lower(): v for k, v in env.items() if v != ""}
        super().__init__(settings_cls, case_sensitive=False)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
    return data


def _env_name(loc: tuple[Any, ...]) -> str:
    return "FIRSTPASS_" + "_".join(str(p) for p in loc).upper()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from FIRSTPASS_* environment variables over `FIRSTPASS_HOME/config.toml` (or FIRSTPASS_CONFIG)."""
    given: dict[str, str] = dict(os.environ if env is None else env)
    home = Path(given.get("FIRSTPASS_HOME") or Path.home() / ".firstpass").expanduser()
    config_path = Path(given["FIRSTPASS_CONFIG"]) if given.get("FIRSTPASS_CONFIG") else home / "config.toml"
    file_cfg = _read_config(config_path)
    if "critic_retries" in file_cfg:  # the config file's older, top-level spelling
        file_cfg.setdefault("critic", {}).setdefault("retries", file_cfg.pop("critic_retries"))
    for role in ("drafter", "critic"):
        base = given.get(f"FIRSTPASS_{role.upper()}_BASE_URL") or (file_cfg.get(role) or {}).get("base_url")
        model = given.get(f"FIRSTPASS_{role.upper()}_MODEL") or (file_cfg.get(role) or {}).get("model")
        if base and not model:
            raise SettingsError(f"{role}: base_url is set but no model (set FIRSTPASS_{role.upper()}_MODEL)")

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                       env_settings: PydanticBaseSettingsSource,
                                       dotenv_settings: PydanticBaseSettingsSource,
                                       file_secret_settings: PydanticBaseSettingsSource,
                                       ) -> tuple[PydanticBaseSettingsSource, ...]:
            return _MappingEnv(settings_cls, given), InitSettingsSource(settings_cls, init_kwargs={**file_cfg, "home": home})

    try:
        loaded = _Settings()
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))} ({_env_name(e['loc'])}): {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings: {fields}") from exc
    return loaded
