"""Domain errors: each names the rule that was broken and the way out."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A command broke a rule of the lifecycle; nothing was recorded."""

    kind: ClassVar[str] = "invalid"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "message": self.message, "details": self.details}


class IllegalTransition(DomainError):
    """The command is not allowed in the topic's current state (HTTP 409)."""

    kind = "conflict"


class NotPermitted(DomainError):
    """The actor's role or organisation may not do this (HTTP 403)."""

    kind = "forbidden"


class InvalidCommand(DomainError):
    """The command's content breaks a rule regardless of state (HTTP 422)."""

    kind = "invalid"


class UnknownItem(DomainError):
    """The command names something the topic does not have (HTTP 404)."""

    kind = "not_found"


ERROR_KINDS: dict[str, type[DomainError]] = {
    cls.kind: cls for cls in (IllegalTransition, NotPermitted, InvalidCommand, UnknownItem)
}


def error_from_dict(payload: dict[str, Any]) -> DomainError:
    """Rebuild a domain error that crossed a process boundary as a dict."""
    cls = ERROR_KINDS.get(payload.get("kind", ""), DomainError)
    return cls(payload.get("code", "unknown"), payload.get("message", ""), **payload.get("details", {}))
