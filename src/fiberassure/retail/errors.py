"""Exceptions of the retail SDK. Every answer the server refuses becomes an `ApiError` that
carries the TMF error body; a server that cannot be reached becomes a `TransportError`."""

from typing import ClassVar

from fiberassure.tmf.errors import ErrorBody


class FiberassureError(Exception):
    """Base of every exception the SDK raises."""


class TransportError(FiberassureError):
    """The server could not be reached (after the retries the request allowed)."""


class WaitTimeout(FiberassureError):
    """A wait (e.g. for a test result) ran out of time; the operation may still finish."""


class ApiError(FiberassureError):
    """The server answered with an error. `error` is its TMF error body."""

    status: ClassVar[int] = 0

    def __init__(self, status_code: int, error: ErrorBody, headers: dict[str, str]) -> None:
        super().__init__(f"{status_code} {error.code}: {error.message or error.reason}")
        self.status_code = status_code
        self.error = error
        self.headers = headers

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        return self.error.message or self.error.reason


class BadRequestError(ApiError):
    status = 400


class AuthenticationError(ApiError):
    status = 401


class PermissionDeniedError(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    """409: e.g. `INVALID_TRANSITION` (not allowed in the ticket's status) or a second open
    ticket on the line."""

    status = 409


class PreconditionFailedError(ApiError):
    status = 412


class PayloadTooLargeError(ApiError):
    status = 413


class UnprocessableError(ApiError):
    """422: e.g. `RECENT_TEST_REQUIRED` or `IDEMPOTENCY_KEY_REUSED`."""

    status = 422


class QuotaExceededError(ApiError):
    """429: a query limit is used up; `retry_after` says in how many seconds it resets."""

    status = 429

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        return float(value) if value and value.isdigit() else None


class ServerError(ApiError):
    status = 500


ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PreconditionFailedError,
        PayloadTooLargeError,
        UnprocessableError,
        QuotaExceededError,
    )
}


def error_for(status_code: int) -> type[ApiError]:
    if status_code >= 500:
        return ServerError
    return ERRORS_BY_STATUS.get(status_code, ApiError)
