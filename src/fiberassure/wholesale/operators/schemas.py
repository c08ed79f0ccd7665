from enum import StrEnum

from pydantic import BaseModel, Field


class Scope(StrEnum):
    TROUBLE_TICKET = "troubleTicket"
    SERVICE_TEST = "serviceTest"
    HUB = "hub"
    OPS = "ops"


RETAIL_SCOPES = (Scope.TROUBLE_TICKET, Scope.SERVICE_TEST, Scope.HUB)


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 access token response."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int = Field(description="Lifetime in seconds.")
    scope: str


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 error response, as OAuth2 client libraries expect from a token endpoint."""

    error: str
    error_description: str | None = None


class ClientCredentials(BaseModel):
    """A new API client's credentials; the secret is shown once and stored only as a hash."""

    operator_id: str | None = Field(default=None, serialization_alias="operatorId")
    client_id: str = Field(serialization_alias="clientId")
    client_secret: str = Field(serialization_alias="clientSecret")
    scopes: list[Scope]
