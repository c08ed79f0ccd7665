"""Typed settings, each read from a FIBERASSURE_* environment variable (see docs/settings.md)."""

from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fiberassure.tmf.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _retry_schedule(value: object) -> object:
    items = _comma_list(value)
    if isinstance(items, list):
        return [parse_duration(item) for item in items]
    return items


# Comma lists in the environment ("5s,PT5M,...") rather than JSON, for humans.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]
RetrySchedule = Annotated[list[timedelta], NoDecode, BeforeValidator(_retry_schedule)]
DEFAULT_RETRY_SCHEDULE = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000)
)

# Usable only in development: a production deployment must set its own key.
DEVELOPMENT_SIGNING_KEY = "fiberassure-development-only-signing-key-do-not-use"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class NetworkAdapterName(StrEnum):
    SIMULATOR = "simulator"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIBERASSURE_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///fiberassure.db"
    # Public base URL used in `href` and `Location`; empty means "derive from the request".
    public_base_url: str = ""
    token_signing_key: str = DEVELOPMENT_SIGNING_KEY
    token_ttl: Duration = timedelta(minutes=15)
    auto_close_after: Duration = timedelta(hours=24)
    pending_timeout: Duration = timedelta(days=5)
    sla_standard: Duration = timedelta(hours=24)
    sla_enhanced: Duration = timedelta(hours=8)
    scheduler_interval: Duration = timedelta(seconds=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    page_limit_max: int = Field(default=1000, ge=1)
    page_limit_default: int = Field(default=100, ge=1)
    idempotency_retention: Duration = timedelta(hours=24)
    log_format: str = Field(default="console", pattern="^(console|json)$")
    sqlite_busy_timeout: Duration = timedelta(seconds=30)
    # Event delivery (DESIGN §6).
    retry_schedule: RetrySchedule = Field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE))
    retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    delivery_timeout: Duration = timedelta(seconds=10)
    delivery_lease: Duration = timedelta(seconds=60)
    dispatcher_concurrency: int = Field(default=64, ge=1, le=1000)
    dispatcher_poll_interval: Duration = timedelta(milliseconds=50)
    callback_allow_private: bool = False
    # Hosts or networks (CIDR) a callback may use even when private or loopback.
    callback_allowlist: CommaList = Field(default_factory=list)
    database_pool_size: int = Field(default=10, ge=1)
    # Service tests (DESIGN §5).
    network_adapter: NetworkAdapterName = NetworkAdapterName.SIMULATOR
    simulator_latency_min: Duration = timedelta(seconds=1)
    simulator_latency_max: Duration = timedelta(seconds=3)
    adapter_timeout: Duration = timedelta(seconds=30)
    test_lease: Duration = timedelta(seconds=120)
    test_runner_concurrency: int = Field(default=500, ge=1, le=10_000)
    # A test takes seconds: looking for new ones 5 times a second costs an idle process less.
    test_runner_poll_interval: Duration = timedelta(milliseconds=200)
    test_quota_per_day: int = Field(default=1000, ge=0)
    test_quota_per_service_per_hour: int = Field(default=10, ge=0)
    test_result_validity: Duration = timedelta(minutes=15)
    require_recent_test: bool = False
    recent_test_window: Duration = timedelta(hours=2)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> "Settings":
        if self.environment is Environment.PRODUCTION:
            if self.token_signing_key == DEVELOPMENT_SIGNING_KEY:
                raise ValueError(
                    "FIBERASSURE_TOKEN_SIGNING_KEY must be set in production "
                    "(the built-in key is public)"
                )
            if len(self.token_signing_key) < 32:
                raise ValueError("FIBERASSURE_TOKEN_SIGNING_KEY needs at least 32 characters")
        if not self.database_url.startswith(
            ("sqlite://", "postgresql://", "postgresql+psycopg://")
        ):
            raise ValueError("FIBERASSURE_DATABASE_URL must start with sqlite:/// or postgresql://")
        if self.delivery_lease <= self.delivery_timeout:
            # Otherwise a slow callback's delivery could be taken over while still in flight.
            raise ValueError("FIBERASSURE_DELIVERY_LEASE must be longer than the delivery timeout")
        if self.test_lease <= self.adapter_timeout:
            # Otherwise a slow test could be taken over by a second runner while still running.
            raise ValueError("FIBERASSURE_TEST_LEASE must be longer than the adapter timeout")
        if self.simulator_latency_min > self.simulator_latency_max:
            raise ValueError("FIBERASSURE_SIMULATOR_LATENCY_MIN exceeds _MAX")
        if not self.retry_schedule:
            raise ValueError("FIBERASSURE_RETRY_SCHEDULE needs at least one delay")
        if self.page_limit_default > self.page_limit_max:
            raise ValueError("FIBERASSURE_PAGE_LIMIT_DEFAULT exceeds FIBERASSURE_PAGE_LIMIT_MAX")
        return self

    @cached_property
    def sla_durations(self) -> dict[str, timedelta]:
        return {"standard": self.sla_standard, "enhanced": self.sla_enhanced}

    def with_overrides(self, **changes: Any) -> "Settings":
        return Settings.model_validate({**self.model_dump(), **changes})
