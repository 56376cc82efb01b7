"""Secrets come from the environment or a file of their own (`SETTLEMENT_SECRETS`), and no error
line repeats one."""

from __future__ import annotations

import pytest

from settlement.config import ConfigError, load_settings
from tests.conftest import ROOT

PASSWORD = "pa55-from-the-secrets-file"


def test_a_secrets_file_is_merged_over_the_profile(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[kafka.client_options]\n"sasl.password" = "{PASSWORD}"\n')
    monkeypatch.setenv("SETTLEMENT_CONFIG", str(ROOT / "conf/production.toml"))
    monkeypatch.setenv("SETTLEMENT_SECRETS", str(secrets))
    options = load_settings().kafka.client_options
    assert options["sasl.password"] == PASSWORD
    assert options["security.protocol"] == "SASL_SSL" and options["sasl.username"] == "<user>"


def test_a_missing_secrets_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SETTLEMENT_SECRETS", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match=r"^secrets file .*nowhere.toml \(SETTLEMENT_SECRETS\) does not exist$"):
        load_settings()


def test_a_bad_secret_is_not_repeated(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[kafka.client_options]\n"sasl.password" = ["{PASSWORD}"]\n')
    monkeypatch.setenv("SETTLEMENT_SECRETS", str(secrets))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    line = str(refused.value)
    assert line.startswith("bad setting kafka.client_options.sasl.password = (hidden): ") and PASSWORD not in line
