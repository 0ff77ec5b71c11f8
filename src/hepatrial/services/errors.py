"""Why an action was refused: the web layer turns these into 4xx answers."""

from __future__ import annotations


class ActionError(Exception):
    """An action refused: ``message`` for the user, ``field`` when one field is at fault."""

    status = 400

    def __init__(self, message: str, field: str | None = None, errors: dict[str, list[str]] | None = None):
        self.message = message
        self.field = field
        self.errors = errors or ({field: [message]} if field else {})
        super().__init__(message)


class NotAllowed(ActionError):
    """The user's role or site does not allow this action."""

    status = 403


class AccountLockedOut(NotAllowed):
    """The account is locked out after repeated failed attempts (services.accounts.locked_out_until)."""


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    """Someone else saved first (the version the user edited is stale)."""

    status = 409


class Invalid(ActionError):
    """Input refused: ``errors`` maps each field to its messages; nothing was saved."""

    status = 422


class Locked(ActionError):
    """What the write would change is locked (a record, a visit or the database): see services.locks."""

    status = 409
