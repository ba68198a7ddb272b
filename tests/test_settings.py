"""Settings from FIRSTPASS_* variables over the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstpass.settings import DEFAULT_CRITIC_MODEL, DEFAULT_DRAFTER_MODEL, SettingsError, load_settings


def test_defaults_are_the_embedded_models(tmp_path: Path) -> None:
    s = load_settings({"FIRSTPASS_HOME": str(tmp_path)})
    assert s.drafter.embedded and s.critic.embedded
    assert (s.drafter.model, s.critic.model) == (DEFAULT_DRAFTER_MODEL, DEFAULT_CRITIC_MODEL)
    assert s.db_path == tmp_path / "firstpass.db"
    assert not (tmp_path / "firstpass.db").exists()  # reading settings creates nothing


def test_config_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'policy = "p.toml"\n[drafter]\nbase_url = "http://a/v1"\nmodel = "m1"\napi_key = "k1"\n'
        '[critic]\nbase_url = "http://b/v1"\nmodel = "m2"\nstructured_mode = "json_schema"\n')
    s = load_settings({"FIRSTPASS_HOME": str(tmp_path), "FIRSTPASS_CRITIC_MODEL": "m3",
                       "FIRSTPASS_DRAFTER_TIMEOUT": "5"})
    assert (s.drafter.base_url, s.drafter.model, s.drafter.api_key.get_secret_value(), s.drafter.timeout) == (
        "http://a/v1", "m1", "k1", 5)
    # The key is a secret: it never shows in a repr, a log line or an error.
    assert "k1" not in repr(s) and "k1" not in str(s.drafter)
    assert (s.critic.base_url, s.critic.model, s.critic.structured_mode) == ("http://b/v1", "m3", "json_schema")
    assert s.policy_path == Path("p.toml") and not s.critic.embedded


def test_bad_settings_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FIRSTPASS_CRITIC_MODEL"):
        load_settings({"FIRSTPASS_HOME": str(tmp_path), "FIRSTPASS_CRITIC_BASE_URL": "http://x/v1"})
    with pytest.raises(SettingsError, match="drafter.timeout"):
        load_settings({"FIRSTPASS_HOME": str(tmp_path), "FIRSTPASS_DRAFTER_TIMEOUT": "-1"})
    (tmp_path / "config.toml").write_text("[drafter\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"FIRSTPASS_HOME": str(tmp_path)})
