"""One JSON shape for every error: `{"error": {"code", "message", "details"}}`.

Domain errors keep the rule code the decider gave them (`state.not_allowed`, `claim.taken`, …) and map
to a status by their kind; everything else gets an API code (`request.invalid`, `auth.expired`, …).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import DomainError

KIND_STATUS = {"conflict": 409, "forbidden": 403, "invalid": 422, "not_found": 404}

_HTTP_CODES = {
    400: "request.bad",
    401: "auth.required",
    403: "forbidden",
    404: "route.not_found",
    405: "method.not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
}


class ApiError(Exception):
    """An error the API itself raises (auth, visibility, unknown org…), already carrying its HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    structlog.contextvars.bind_contextvars(error_code=code)  # lands on the request's log line
    body = {"error": {"code": code, "message": message, "details": details if details is not None else {}}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's error list reduced to what a client needs (and what is always JSON-serialisable)."""
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]


def validation_message(fields: list[dict[str, Any]]) -> str:
    shown = "; ".join(f"{'.'.join(f['loc'])}: {f['msg']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return f"the request is invalid: {shown}{more}; see details.errors for every field"


async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.details, error.headers)


async def _domain_error(_request: Request, error: DomainError) -> JSONResponse:
    return error_response(KIND_STATUS.get(error.kind, 422), error.code, error.message, error.details)


async def _request_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
    fields = field_errors(error.errors())
    return error_response(422, "request.invalid", validation_message(fields), {"errors": fields})


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(error.status_code, f"http.{error.status_code}")
    if error.status_code == 404 and error.detail == "Not Found":
        message = f"there is no route {request.method} {request.url.path}; see /docs for the API"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs for the methods it takes"
    else:
        message = str(error.detail)
    return error_response(error.status_code, code, message, headers=getattr(error, "headers", None))


async def _internal(_request: Request, error: Exception) -> JSONResponse:
    return internal_error_response()


def internal_error_response() -> JSONResponse:
    return error_response(500, "internal", "something went wrong on our side; the request id in the "
                          "X-Request-ID header identifies it in the logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
