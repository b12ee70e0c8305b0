"""The one error shape, for the OpenAPI page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="the rule that was broken, e.g. state.not_allowed, claim.taken, request.invalid")
    message: str = Field(description="what went wrong and the way out")
    details: dict[str, Any] = Field(description="machine-readable specifics (e.g. errors: [{loc, msg, type}])")


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "no valid bearer token", 403: "wrong role, or outside your organisation's subtree",
        404: "unknown topic, claim or milestone", 409: "the lifecycle forbids this move now",
        422: "malformed body or unknown org", 503: "a part of the system is down",
    }
    return {s: {"model": ErrorBody, "description": descriptions.get(s, "error")} for s in statuses}


COMMAND_ERRORS = error_responses(401, 403, 404, 409, 422)
READ_ERRORS = error_responses(401, 403, 404)
