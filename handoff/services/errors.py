from __future__ import annotations


class HandoffError(Exception):
    """A handoff action that was refused; nothing was changed. `code` is for machines,
    the message for people."""

    code = "refused"

    @property
    def detail(self) -> str:
        """The message for people (the visitor's surfaces show it as it is)."""
        return str(self)


class IllegalTransition(HandoffError):
    code = "illegal_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a {current} request cannot become {target}")
        self.current = current
        self.target = target


class RequestAlreadyTaken(IllegalTransition):
    code = "already_taken"

    def __init__(self, current: str, operator_name: str) -> None:
        super().__init__(current, "accepted")
        self.operator_name = operator_name
        self.args = (f"already taken by {operator_name}",)


class NotYourRequest(HandoffError):
    code = "not_yours"


class HandoffNotOffered(HandoffError):
    """This chat does not offer a person to this visitor now (headset hidden)."""

    code = "handoff_unavailable"


class OperatorAtCapacity(HandoffError):
    code = "at_capacity"


class FormNotExpected(HandoffError):
    """A form answer that no open offer asked for: `code` says which (no_form,
    already_answered, no_contact_form)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FormInvalid(HandoffError):
    """`errors` maps a field's key to its problem; the message names each question by
    its label (`labels`, same keys), never by its internal number, one question a line
    ("Topic: At most 500 characters."): the widget and Telegram show it as it is."""

    code = "form_invalid"

    def __init__(self, errors: dict[str, str], labels: dict[str, str] | None = None) -> None:
        labels = labels or {}
        super().__init__(
            "\n".join(
                f"{labels[key]}: {error}" if key in labels else error
                for key, error in errors.items()
            )
        )
        self.errors = errors


class NothingToClose(HandoffError):
    """The visitor asked to end a chat that has neither an open request nor a dialog the
    bot has."""

    code = "nothing_to_close"


class NothingToRate(HandoffError):
    """A rating for a request of this dialog that nobody accepted, or no such request."""

    code = "unknown_request"


class RatingInvalid(HandoffError):
    """A score outside the chat's scale."""

    code = "invalid"


class TransferInvalid(HandoffError):
    """A transfer asked wrongly: `code` says how (reason_blank, reason_too_long,
    transfer_to_self)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TransferTargetUnavailable(HandoffError):
    """The operator a conversation is to be transferred to cannot take it: `code` says
    why (target_not_serving, target_offline, target_at_capacity)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OfferedToAnother(HandoffError):
    """Automatic distribution offered this request to another manager: only they may
    accept it while the offer stands."""

    code = "offered_to_another"
