"""Settings come from FIBERASSURE_* variables and refuse unsafe values outside development."""

import os
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from fiberassure.wholesale.settings import DEVELOPMENT_SIGNING_KEY, Environment, Settings

PRODUCTION_KEY = "k" * 32

# Every setting: the variable's value and what the setting becomes.
FROM_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "environment": ("production", Environment.PRODUCTION),
    "database_url": ("postgresql://fa@db.example/fa", "postgresql://fa@db.example/fa"),
    "public_base_url": ("https://api.example.net", "https://api.example.net"),
    "token_signing_key": (PRODUCTION_KEY, PRODUCTION_KEY),
    "token_ttl": ("PT30M", timedelta(minutes=30)),
    "auto_close_after": ("P2D", timedelta(days=2)),
    "pending_timeout": ("86400", timedelta(days=1)),
    "sla_standard": ("PT48H", timedelta(hours=48)),
    "sla_enhanced": ("PT4H", timedelta(hours=4)),
    "scheduler_interval": ("0.2", timedelta(milliseconds=200)),
    "max_body_bytes": ("65536", 65536),
    "page_limit_max": ("500", 500),
    "page_limit_default": ("50", 50),
    "idempotency_retention": ("PT12H", timedelta(hours=12)),
    "log_format": ("json", "json"),
    "sqlite_busy_timeout": ("PT5S", timedelta(seconds=5)),
    "database_pool_size": ("25", 25),
    "retry_schedule": (
        "0.5,PT1M,PT2H",
        [timedelta(seconds=0.5), timedelta(minutes=1), timedelta(hours=2)],
    ),
    "retry_jitter": ("0.1", 0.1),
    "delivery_timeout": ("PT3S", timedelta(seconds=3)),
    "delivery_lease": ("120", timedelta(minutes=2)),
    "dispatcher_concurrency": ("8", 8),
    "dispatcher_poll_interval": ("0.5", timedelta(milliseconds=500)),
    "callback_allow_private": ("true", True),
    "callback_allowlist": (
        "hooks.isp.example, 10.20.0.0/16",
        ["hooks.isp.example", "10.20.0.0/16"],
    ),
    "simulator_latency_min": ("0.2", timedelta(milliseconds=200)),
    "simulator_latency_max": ("PT5S", timedelta(seconds=5)),
    "adapter_timeout": ("PT10S", timedelta(seconds=10)),
    "test_lease": ("PT5M", timedelta(minutes=5)),
    "test_runner_concurrency": ("50", 50),
    "test_runner_poll_interval": ("0.5", timedelta(milliseconds=500)),
    "test_quota_per_day": ("200", 200),
    "test_quota_per_service_per_hour": ("3", 3),
    "test_result_validity": ("PT1H", timedelta(hours=1)),
    "require_recent_test": ("true", True),
    "recent_test_window": ("PT30M", timedelta(minutes=30)),
}
# Settings with a single allowed value so far: an unknown value must be refused.
SINGLE_CHOICE = {"network_adapter": "snmp"}


@pytest.fixture(autouse=True)
def no_fiberassure_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test from an environment without FIBERASSURE_* variables."""
    for name in list(os.environ):
        if name.startswith("FIBERASSURE_"):
            monkeypatch.delenv(name)


def variable(setting: str) -> str:
    return f"FIBERASSURE_{setting.upper()}"


def test_the_table_below_covers_every_setting() -> None:
    assert set(FROM_ENVIRONMENT) | set(SINGLE_CHOICE) == set(Settings.model_fields)


@pytest.mark.parametrize("setting", list(SINGLE_CHOICE))
def test_a_setting_with_one_choice_refuses_any_other(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(variable(setting), SINGLE_CHOICE[setting])
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("setting", list(FROM_ENVIRONMENT))
def test_every_setting_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    value, expected = FROM_ENVIRONMENT[setting]
    assert getattr(Settings(), setting) != expected, "pick a value other than the default"
    monkeypatch.setenv(variable(setting), value)
    if setting == "environment":
        monkeypatch.setenv("FIBERASSURE_TOKEN_SIGNING_KEY", PRODUCTION_KEY)

    assert getattr(Settings(), setting) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("0.5", timedelta(milliseconds=500)),
        ("PT24H", timedelta(hours=24)),
        ("P5D", timedelta(days=5)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1W", timedelta(weeks=1)),
        ("pt15m", timedelta(minutes=15)),
    ],
)
def test_durations_accept_seconds_and_iso_8601(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: timedelta
) -> None:
    monkeypatch.setenv("FIBERASSURE_AUTO_CLOSE_AFTER", text)

    assert Settings().auto_close_after == expected


@pytest.mark.parametrize("text", ["-5", "P1M", "P1Y", "PT", "24h", "soon", ""])
def test_durations_that_are_negative_or_without_a_fixed_length_are_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("FIBERASSURE_AUTO_CLOSE_AFTER", text)

    with pytest.raises(ValidationError, match="auto_close_after"):
        Settings()


def test_production_refuses_the_built_in_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBERASSURE_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="FIBERASSURE_TOKEN_SIGNING_KEY must be set"):
        Settings()


def test_production_refuses_the_built_in_key_even_when_set_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_ENVIRONMENT", "production")
    monkeypatch.setenv("FIBERASSURE_TOKEN_SIGNING_KEY", DEVELOPMENT_SIGNING_KEY)

    with pytest.raises(ValidationError, match="the built-in key is public"):
        Settings()


def test_production_refuses_a_signing_key_shorter_than_32_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_ENVIRONMENT", "production")
    monkeypatch.setenv("FIBERASSURE_TOKEN_SIGNING_KEY", "k" * 31)

    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()


def test_production_accepts_a_signing_key_of_32_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_ENVIRONMENT", "production")
    monkeypatch.setenv("FIBERASSURE_TOKEN_SIGNING_KEY", PRODUCTION_KEY)

    assert Settings().environment is Environment.PRODUCTION


def test_production_rules_also_apply_to_overrides() -> None:
    development = Settings()

    with pytest.raises(ValidationError, match="FIBERASSURE_TOKEN_SIGNING_KEY must be set"):
        development.with_overrides(environment="production")


def test_development_runs_on_the_defaults() -> None:
    settings = Settings()

    assert settings.environment is Environment.DEVELOPMENT
    assert settings.token_signing_key == DEVELOPMENT_SIGNING_KEY
    assert settings.database_url == "sqlite:///fiberassure.db"
    assert settings.sla_durations == {
        "standard": timedelta(hours=24),
        "enhanced": timedelta(hours=8),
    }


def test_a_default_page_size_above_the_maximum_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_PAGE_LIMIT_MAX", "50")
    monkeypatch.setenv("FIBERASSURE_PAGE_LIMIT_DEFAULT", "100")

    with pytest.raises(ValidationError, match="FIBERASSURE_PAGE_LIMIT_DEFAULT exceeds"):
        Settings()


def test_a_test_lease_not_longer_than_the_adapter_timeout_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_ADAPTER_TIMEOUT", "PT2M")
    with pytest.raises(ValidationError, match="FIBERASSURE_TEST_LEASE"):
        Settings()


def test_a_simulator_latency_range_upside_down_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_SIMULATOR_LATENCY_MIN", "5")
    with pytest.raises(ValidationError, match="FIBERASSURE_SIMULATOR_LATENCY_MIN"):
        Settings()
