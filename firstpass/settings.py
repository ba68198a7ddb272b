"""Settings: where data lives and which model endpoints to use, from the environment and a config file.

Nothing here is read at import time; call `load_settings()` where settings are needed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_DRAFTER_MODEL = "smollm2-135m-instruct"
DEFAULT_CRITIC_MODEL = "gemma3-270m"


class SettingsError(ValueError):
    """A config file or environment variable that cannot be used; the message names it."""


class ModelEndpoint(BaseModel):
    """One OpenAI-compatible endpoint; no base_url means the embedded llama.cpp server."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
    model: str = Field(description="Model id sent to the endpoint.")
    api_key: str = Field(default="not-needed", description="API key; local servers ignore it.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds before a call counts as failed.")
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_tokens: int = Field(default=80, gt=0)
    structured_mode: str = Field(default="tools", pattern="^(tools|json_schema)$",
                                 description="How the critic gets structured output: tools or json_schema.")

    @property
    def embedded(self) -> bool:
        """Whether this endpoint is served by firstpass's own embedded server."""
        return self.base_url is None


class Settings(BaseModel):
    """Everything firstpass reads from its environment."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(description="Data folder: the database and logs live here (FIRSTPASS_HOME).")
    drafter: ModelEndpoint
    critic: ModelEndpoint
    policy_path: Path | None = Field(default=None, description="Policy TOML overlaying the defaults (FIRSTPASS_POLICY).")
    prompt_version: str | None = Field(default=None, description="Drafter prompt version; None means the newest.")
    critic_retries: int = Field(default=2, ge=0, description="How often an invalid critic answer is retried.")

    @property
    def db_path(self) -> Path:
        """The one SQLite file that holds checkpoints and the app's tables."""
        return self.home / "firstpass.db"


_ENV_KEYS = {"BASE_URL": "base_url", "MODEL": "model", "API_KEY": "api_key", "TIMEOUT": "timeout"}


def _endpoint(role: str, file_cfg: dict, default_model: str, env: dict[str, str]) -> ModelEndpoint:
    cfg = dict(file_cfg.get(role, {}))
    for suffix, key in _ENV_KEYS.items():
        value = env.get(f"FIRSTPASS_{role.upper()}_{suffix}")
        if value:
            cfg[key] = value
    if cfg.get("base_url") and not cfg.get("model"):
        raise SettingsError(f"{role}: base_url is set but no model (set FIRSTPASS_{role.upper()}_MODEL)")
    cfg.setdefault("model", default_model)
    if role == "critic":
        cfg.setdefault("temperature", 0.0)
        cfg.setdefault("max_tokens", 320)
    try:
        return ModelEndpoint.model_validate(cfg)
    except ValidationError as exc:
        fields = "; ".join(f"{role}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid model settings: {fields}") from exc


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from FIRSTPASS_* environment variables over `FIRSTPASS_HOME/config.toml`."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("FIRSTPASS_HOME") or Path.home() / ".firstpass").expanduser()
    config_path = Path(env["FIRSTPASS_CONFIG"]) if env.get("FIRSTPASS_CONFIG") else home / "config.toml"
    file_cfg: dict = {}
    if config_path.exists():
        try:
            file_cfg = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config_path} is not valid TOML: {exc}") from exc
    policy = env.get("FIRSTPASS_POLICY") or file_cfg.get("policy")
    try:
        return Settings(
            home=home,
            drafter=_endpoint("drafter", file_cfg, DEFAULT_DRAFTER_MODEL, env),
            critic=_endpoint("critic", file_cfg, DEFAULT_CRITIC_MODEL, env),
            policy_path=Path(policy) if policy else None,
            prompt_version=env.get("FIRSTPASS_PROMPT_VERSION") or file_cfg.get("prompt_version"),
            critic_retries=int(env.get("FIRSTPASS_CRITIC_RETRIES") or file_cfg.get("critic_retries", 2)),
        )
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"invalid settings: {exc}") from exc
