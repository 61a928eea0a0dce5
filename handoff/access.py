"""Open consoles follow the life of their session. Two auth events have no hook of our
own, so they ring the user's access group from Django's auth machinery: a logout
anywhere (`user_logged_out`, connected in HandoffConfig.ready) and a password change
(the password validators' documented `password_changed` hook, listed in
AUTH_PASSWORD_VALIDATORS). Each console then re-reads its session and closes if it
ended. Infrastructure, not domain logic: nothing here changes data."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from chats.realtime import (
    ACCESS_CHANGED,
    group_send_after_commit,
    user_access_changed_publish,
    user_access_group,
)


def session_digest(session_key: str | None) -> str | None:
    """What an event may say about a session: not its key (a credential), but a
    keyed hash the console can compare with its own."""
    if not session_key:
        return None
    return salted_hmac("baton.handoff.console-session", session_key).hexdigest()


def access_changed_on_logout(sender, request, user, **kwargs) -> None:
    """`user_logged_out` receiver, for every logout view (console, admin, any other).
    Django sends it before it flushes the session, so a console re-reading the store
    at once could still find it: the event names the ended session instead."""
    if user is None or user.pk is None:
        return
    group_send_after_commit(
        [
            (
                user_access_group(user.pk),
                {
                    "type": ACCESS_CHANGED,
                    "session_ended": session_digest(request.session.session_key),
                },
            )
        ]
    )


class AccessChangedOnPasswordChange:
    """Not a rule for passwords: Django calls every listed validator's
    `password_changed()` after any password change is saved (the admin's password
    form, a user's own change or reset, `changepassword`, `set_password()` + save).
    Other sessions of the user are then invalid (their session hash no longer
    matches); their consoles re-read and close. Its help text is shown with the other
    validators' under the new-password field, so it says what happens."""

    def validate(self, password: str, user=None) -> None:
        return None

    def password_changed(self, password: str, user=None) -> None:
        if user is not None and user.pk is not None:
            user_access_changed_publish(user_id=user.pk)

    def get_help_text(self) -> str:
        return _("A new password ends the account's other sessions, open consoles included.")


@dataclass
class ConsoleSession:
    """What an open console knows about the session it was opened with. `seen` is the
    (session data, password hash) last verified in full with Django's own check: while
    the store still holds that unexpired data and the user that password, nothing
    that check reads has changed (handoff.selectors.console_session_confirm), and the
    user it returned (`seen_user`) stands for the operator's account."""

    session_key: str | None
    user_id: int
    operator_id: int
    seen: tuple[str, str] | None = None
    seen_user: object | None = None  # the user that full check returned
