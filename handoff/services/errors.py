from __future__ import annotations


class HandoffError(Exception):
    """A handoff action that was refused; nothing was changed. `code` is for machines,
    the message for people."""

    code = "refused"


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


class FormInvalid(HandoffError):
    code = "form_invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {error}" for field, error in errors.items()))
        self.errors = errors
