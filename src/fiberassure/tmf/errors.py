"""The TMF `Error` body and the domain exceptions that carry their HTTP status and TMF code.

One handler (wholesale/app.py) renders every exception below as the TMF body; endpoints list
the ones they can raise so the OpenAPI shows them.
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """TMF630 error representation."""

    model_config = ConfigDict(populate_by_name=True)

    code: str = Field(description="Application error code, e.g. `INVALID_TRANSITION`.")
    reason: str = Field(description="Short explanation.")
    message: str | None = Field(default=None, description="Detail for the developer.")
    status: str | None = Field(default=None, description="The HTTP status, as a string.")
    reference_error: str | None = Field(default=None, alias="referenceError")
    type: str = Field(default="Error", alias="@type")
    details: dict[str, Any] | None = Field(
        default=None, description="Machine-readable extras (profile extension)."
    )


class TMFError(Exception):
    """A failure the client can act on, rendered as a TMF error body."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    reason: ClassVar[str] = "Bad request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> ErrorBody:
        return ErrorBody(
            code=self.code,
            reason=self.reason,
            message=self.message,
            status=str(self.status_code),
            details=self.details,
        )


class InvalidRequest(TMFError):
    status_code = 400
    code = "INVALID_REQUEST"
    reason = "The request is not valid"


class InvalidQuery(TMFError):
    status_code = 400
    code = "INVALID_QUERY"
    reason = "A query parameter is not valid"


class NotAuthenticated(TMFError):
    status_code = 401
    code = "UNAUTHORIZED"
    reason = "Missing or invalid credentials"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="fiberassure"'})
        super().__init__(message, **kwargs)


class Forbidden(TMFError):
    status_code = 403
    code = "FORBIDDEN"
    reason = "The credentials do not allow this operation"


class NotFound(TMFError):
    status_code = 404
    code = "NOT_FOUND"
    reason = "No such resource"


class MethodNotAllowed(TMFError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    reason = "Method not allowed on this resource"


class Conflict(TMFError):
    status_code = 409
    code = "CONFLICT"
    reason = "The request conflicts with the resource's current state"


class InvalidTransition(Conflict):
    code = "INVALID_TRANSITION"
    reason = "Not allowed in the ticket's current status"


class PreconditionFailed(TMFError):
    status_code = 412
    code = "PRECONDITION_FAILED"
    reason = "If-Match does not match the current ETag"


class PayloadTooLarge(TMFError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    reason = "The request body is too large"


class UnsupportedMediaType(TMFError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    reason = "Unsupported Content-Type"


class IdempotencyKeyReused(TMFError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    reason = "The Idempotency-Key was already used with a different request"


class RecentTestRequired(TMFError):
    status_code = 422
    code = "RECENT_TEST_REQUIRED"
    reason = "A recent completed service test of the line is required"


class QuotaExceeded(TMFError):
    status_code = 429
    code = "QUOTA_EXCEEDED"
    reason = "A query limit is used up"


class InternalError(TMFError):
    status_code = 500
    code = "INTERNAL_ERROR"
    reason = "Internal server error"


def error_responses(*errors: type[TMFError]) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry for an endpoint that may raise these errors."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(error.status_code, {"model": ErrorBody, "description": ""})
        entry["description"] = "; ".join(filter(None, [entry["description"], error.reason]))
    # Also keeps FastAPI from documenting a 422 HTTPValidationError that is never sent.
    responses["4XX"] = {"model": ErrorBody, "description": "Any other client error"}
    return responses
