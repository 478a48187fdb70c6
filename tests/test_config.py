"""Settings: valid values load; each bad value stops the CLI with one line naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from intmax_core.config import SettingsError, load_settings
from tests.conftest import PROJECT_ROOT

SECRET_MNEMONIC = "abandon ability able about above absent absorb abstract absurd abuse access accident"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    return subprocess.run(
        [sys.executable, "-m", "intmax_cli.main", *args],
        env={**clean, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("INTMAX_L1_RPC_URLS", "ftp://x", "http(s)"),
        ("INTMAX_L2_RPC_URLS", "https://ok.example,not a url", "http(s)"),
        ("INTMAX_LIQUIDITY_ADDRESS", "0x1234", "20-byte hex address"),
        ("INTMAX_L1_CONFIRMATIONS", "-1", "greater than or equal to 0"),
        ("INTMAX_DATABASE_URL", "mysql://db/x", "postgresql"),
    ],
)
def test_bad_value_stops_cli_with_one_line_naming_the_variable(
    variable: str, value: str, reason: str, tmp_path
) -> None:
    result = run_cli(
        "db",
        "upgrade",
        env={variable: value, "INTMAX_OWNER_MNEMONIC": SECRET_MNEMONIC, "INTMAX_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and reason in lines[0]
    assert "Traceback" not in result.stderr
    assert SECRET_MNEMONIC.split()[0] not in result.stderr + result.stdout
    assert not (tmp_path / "warehouse.db").exists(), "nothing may be written with a bad configuration"


def test_every_bad_variable_is_named() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(l1_rpc_urls="ftp://x", l2_confirmations=-5, minter_address="nope")
    message = str(caught.value)
    assert "\n" not in message
    for variable in ("INTMAX_L1_RPC_URLS", "INTMAX_L2_CONFIRMATIONS", "INTMAX_MINTER_ADDRESS"):
        assert variable in message


def test_valid_values_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTMAX_L1_RPC_URLS", " https://a.example/key , wss://b.example ")
    monkeypatch.setenv("INTMAX_LIQUIDITY_ADDRESS", "0xABCDEFabcdef0123456789012345678901234567")
    settings = load_settings()
    assert settings.l1_rpc_urls == ["https://a.example/key", "wss://b.example"]
    assert settings.liquidity_address == "0xabcdefabcdef0123456789012345678901234567"


def test_rpc_url_is_not_echoed_in_errors() -> None:
    # Provider URLs carry API keys: the message names the variable, never the value.
    with pytest.raises(SettingsError) as caught:
        load_settings(l1_rpc_urls="ftp://user:apikey123@host")
    assert "apikey123" not in str(caught.value)


def test_the_celery_executor_needs_a_redis_broker_and_never_echoes_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(executor="celery")
    assert "INTMAX_CELERY_BROKER_URL" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings(executor="celery", celery_broker_url="amqp://guest:brokerpass@mq:5672//")
    assert "INTMAX_CELERY_BROKER_URL" in str(caught.value) and "brokerpass" not in str(caught.value)
    assert load_settings(executor="celery", celery_broker_url="redis://:pw@r:6379/1").celery_broker_url


def test_secrets_are_masked_in_config_output(tmp_path) -> None:
    result = run_cli(
        "config",
        env={
            "INTMAX_OWNER_MNEMONIC": SECRET_MNEMONIC,
            "INTMAX_API_KEY": "k-123456",
            "INTMAX_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert '"owner_mnemonic": "**********"' in result.stdout
    assert SECRET_MNEMONIC not in result.stdout and "k-123456" not in result.stdout


def test_url_credentials_are_masked_in_config_output(tmp_path) -> None:
    result = run_cli(
        "config",
        env={
            "INTMAX_DATA_DIR": str(tmp_path),
            "INTMAX_NETWORK": "testnet",
            "INTMAX_DATABASE_URL": "postgresql://intmax:dbpass-1@db.internal:5432/warehouse",
            "INTMAX_EXECUTOR": "celery",
            "INTMAX_CELERY_BROKER_URL": "redis://:brokerpass-2@redis.internal:6379/1",
            "INTMAX_L1_RPC_URLS": "https://eth-sepolia.example/v2/rpckey-3",
        },
    )
    assert result.returncode == 0, result.stderr
    for secret in ("dbpass-1", "brokerpass-2", "rpckey-3"):
        assert secret not in result.stdout
    values = json.loads(result.stdout)
    assert values["database_url"] == "postgresql://intmax:****@db.internal:5432/warehouse"
    assert values["l1_rpc_urls"] == ["https://eth-sepolia.example/****"]


def test_embedded_sqlite_default_lives_in_data_dir(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.warehouse_url == f"sqlite:///{tmp_path.resolve() / 'warehouse.db'}"


def test_env_example_lists_every_setting_and_loads() -> None:
    from intmax_core.config import Settings, env_name

    example = (PROJECT_ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("INTMAX_")}
    assert {env_name(field) for field in Settings.model_fields} == listed
    # The example itself is a valid configuration (empty values mean "unset").
    values = dict(line.split("=", 1) for line in example.splitlines() if line.startswith("INTMAX_"))
    env = {k: v for k, v in values.items() if v}
    result = run_cli("config", env=env)
    assert result.returncode == 0, result.stderr
