"""The one error envelope of every API response that is not a success:
`{"code": ..., "message": ...}`, plus `errors` for validation failures (docs/protocol.md §4).
Never a stack trace, never a secret."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from intmax_api.middleware import REQUEST_ID_HEADER
from intmax_api.security_headers import SECURITY_HEADERS

log = logging.getLogger("intmax_api")

# Status → code of the original services; a 4xx not listed here is reported as BAD_REQUEST.
ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
DEFAULT_MESSAGES = {404: "Resource not found", 429: "Rate limit exceeded"}
# FastAPI's 400 for a request body it could not decode at all (fastapi.routing).
BODY_PARSE_ERROR = "There was an error parsing the body"


class ApiError(Exception):
    """An error a route raises on purpose: it becomes the envelope with this status, code and message."""

    def __init__(self, status: int, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")
        self.message = message
        self.extra = extra


def envelope(status: int, code: str, message: str, request: Request | None = None, **extra: Any) -> JSONResponse:
    headers = {}
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status, headers=headers)


def _status_error(request: Request, status: int, detail: Any = None, headers: dict | None = None) -> JSONResponse:
    code = ERROR_CODES.get(status) or ("BAD_REQUEST" if 400 <= status < 500 else "INTERNAL_SERVER_ERROR")
    phrase = HTTPStatus(status).phrase
    # Starlette's own errors carry the bare phrase ("Not Found"); the originals said more.
    message = detail if isinstance(detail, str) and detail and detail != phrase else None
    message = message or DEFAULT_MESSAGES.get(status) or phrase
    response = envelope(status, code, message, request)
    if headers:
        response.headers.update(headers)
    return response


def _validation_path(loc: tuple[Any, ...]) -> str:
    # Drop the "body"/"query"/"path" prefix: clients name the field, as the originals did.
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else map(str, loc)
    return ".".join(parts)


# Every route can answer these, in the envelope: the rate limit, an unexpected error, a dependency
# that is down (warehouse, Redis-less health, an unconfigured Predicate API), the request deadline.
COMMON_ERRORS = {
    429: "Rate limit exceeded (per client and window; X-API-KEY holders are exempt)",
    500: "Unexpected error (details only in the log, under the request id)",
    503: "A dependency is unavailable",
    504: "The request took longer than INTMAX_API_REQUEST_TIMEOUT_SECONDS",
}
_ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
_VALIDATION_REF = "#/components/schemas/ValidationFailure"


def _envelope_schema() -> dict[str, Any]:
    return {
        "title": "ErrorEnvelope",
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "e.g. NOT_FOUND, TOO_MANY_REQUESTS, VALIDATION_ERROR"},
            "message": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationIssue"},
                "description": "VALIDATION_ERROR only: each invalid field and why.",
            },
        },
    }


def declare_error_responses(app: FastAPI) -> None:
    """Make the OpenAPI say what the API answers on errors: FastAPI declares a 422 with its own
    `{"detail": ...}` body for every route with inputs, but validation errors are 400 in the envelope
    (handler below); and every route may answer 429, 500, 503 and 504 in the envelope."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorEnvelope"] = _envelope_schema()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    content = {"application/json": {"schema": {"$ref": _VALIDATION_REF}}}
                    responses["400"] = {"description": "Invalid input (VALIDATION_ERROR)", "content": content}
                for status, description in COMMON_ERRORS.items():
                    content = {"application/json": {"schema": {"$ref": _ENVELOPE_REF}}}
                    responses.setdefault(str(status), {"description": description, "content": content})
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shapes, now unreferenced
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    declare_error_responses(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return envelope(error.status, error.code, error.message, request, **error.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == BODY_PARSE_ERROR:
            # Malformed JSON is a VALIDATION_ERROR; a body that is not even text (JSON's encoding
            # detection failing, e.g. b"\x00\x00\x00\x12\xff") must be one too, not a BAD_REQUEST.
            errors = [{"path": "", "message": "JSON decode error: the body is not valid UTF-8/16/32 text"}]
            return envelope(400, "VALIDATION_ERROR", "Validation Error", request, errors=errors)
        return _status_error(request, error.status_code, error.detail, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"path": _validation_path(tuple(item.get("loc", ()))), "message": item.get("msg", "invalid")}
            for item in error.errors()
        ]
        return envelope(400, "VALIDATION_ERROR", "Validation Error", request, errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The traceback goes to the log (with the request id to find it); the client gets the envelope.
        log.error(
            "unhandled error",
            exc_info=error,
            extra={"request_id": getattr(request.state, "request_id", None)},
        )
        # Starlette answers this one outside every middleware: the security headers are added here.
        response = envelope(500, "INTERNAL_SERVER_ERROR", "Internal Server Error", request)
        response.headers.update(SECURITY_HEADERS)
        return response
