"""FAKE Kubernetes API errors, shaped as the real API server's `kind: Status` failures.

Flow: store and HTTP layers raise `FakeKubeError` (code, reason, message, details); the HTTP
layer turns it into a Status body with that HTTP code, so the official client raises
`ApiException` with the same `.status` and a body a real cluster would send; Python-side
callers of the fake store catch `FakeKubeError` directly.
"""
from __future__ import annotations

from typing import Any


class FakeKubeError(Exception):
    """A failure of the FAKE Kubernetes API, mirroring a real `metav1.Status` failure.

    Args:
        code: HTTP status code (404, 409, 422, ...).
        reason: the Status reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
        message: the human message, worded like the real API server's.
        details: the Status `details` (name, group, kind, causes), if any.
    """

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        """The `kind: Status` body a real API server sends for this failure."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(plural: str, group: str) -> str:
    # The real server names group resources "plural.group" in messages, core ones "plural".
    return f"{plural}.{group}" if group else plural


def _details(plural: str, group: str, name: str | None) -> dict:
    details: dict[str, Any] = {"kind": plural}
    if group:
        details["group"] = group
    if name:
        details["name"] = name
    return details


def not_found(plural: str, group: str, name: str) -> FakeKubeError:
    return FakeKubeError(
        404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', _details(plural, group, name)
    )


def already_exists(plural: str, group: str, name: str) -> FakeKubeError:
    return FakeKubeError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        _details(plural, group, name),
    )


def conflict(plural: str, group: str, name: str, why: str) -> FakeKubeError:
    return FakeKubeError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        _details(plural, group, name),
    )


def invalid(kind: str, group: str, name: str, field: str, why: str) -> FakeKubeError:
    details = {"name": name, "kind": kind, "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}]}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    return FakeKubeError(422, "Invalid", f'{qualified} "{name}" is invalid: {field}: {why}', details)


def bad_request(message: str) -> FakeKubeError:
    return FakeKubeError(400, "BadRequest", message)


def forbidden(message: str, plural: str = "", group: str = "", name: str = "") -> FakeKubeError:
    return FakeKubeError(403, "Forbidden", message, _details(plural, group, name) if plural else None)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> FakeKubeError:
    return FakeKubeError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> FakeKubeError:
    return FakeKubeError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got "{content_type}")')


def page_not_found() -> FakeKubeError:
    return FakeKubeError(404, "NotFound", "the server could not find the requested resource")


def expired(requested: str, oldest: int) -> FakeKubeError:
    return FakeKubeError(410, "Expired", f"too old resource version: {requested} ({oldest})")
