from celery import shared_task

from chats.services import dialogs_close_idle


@shared_task(name="chats.close_idle_dialogs", ignore_result=True)
def close_idle_dialogs() -> int:
    """Every minute (beat): close the dialogs the bot has that nobody wrote in for
    BATON_DIALOG_IDLE_CLOSE_HOURS."""
    return dialogs_close_idle()
