"""Listener settings, each read from a FIBERASSURE_RETAIL_* environment variable (or given
by the `fiberassure retail listen` flags, which take precedence)."""

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fiberassure.tmf.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


class ListenerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIBERASSURE_RETAIL_", extra="ignore")

    database_url: str = "sqlite:///fiberassure-listener.db"
    # The wholesale API and this operator's client credentials: used to fetch a resource
    # after a sequence gap, to reconcile, and by --register.
    wholesale_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    # The URL the wholesaler calls (this listener as the outside world reaches it).
    public_url: str = ""
    # Hub secrets (whsec_…) accepted besides those stored by --register.
    hub_secrets: CommaList = Field(default_factory=list)
    # How far a webhook-timestamp may be from this machine's clock.
    signature_tolerance: Duration = timedelta(minutes=5)
    # Every new event is given to the helpdesk: a command (event JSON on stdin) or a URL.
    forward_command: str = ""
    forward_url: str = ""
    forward_timeout: Duration = timedelta(seconds=10)
    # Pull changed tickets and tests this often (0 = never); look back this much further
    # than the newest change already mirrored, for clocks and commits that lag.
    reconcile_interval: Duration = timedelta(minutes=5)
    reconcile_overlap: Duration = timedelta(minutes=2)
    # Bearer token for the read endpoints (/events, /mirror); empty = loopback clients only.
    read_token: str = ""

    @model_validator(mode="after")
    def _check(self) -> "ListenerSettings":
        if not self.database_url.startswith(
            ("sqlite://", "postgresql://", "postgresql+psycopg://")
        ):
            raise ValueError(
                "FIBERASSURE_RETAIL_DATABASE_URL must start with sqlite:/// or postgresql://"
            )
        for secret in self.hub_secrets:
            if not secret.startswith("whsec_"):
                raise ValueError("FIBERASSURE_RETAIL_HUB_SECRETS: each secret starts with whsec_")
        if self.forward_command and self.forward_url:
            raise ValueError("forward to a command or to a URL, not both")
        return self

    @property
    def can_call_wholesaler(self) -> bool:
        return bool(self.wholesale_url and self.client_id and self.client_secret)
