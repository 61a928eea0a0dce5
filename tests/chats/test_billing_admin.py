"""The message price admin: list, filters, the form's refusals (nothing changes), and a
saved price recomputing dialog costs through a real Celery worker."""

import datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from chats.enums import AuthorKind, MessageDirection, Messenger
from chats.models import Dialog, MessagePrice
from chats.services import message_post
from config.celery import app as celery_app
from tests.chats.factories import DialogFactory
from tests.servers import wait_until

URL = "/admin/chats/messageprice/"
T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
T1 = datetime.datetime(2026, 3, 15, 0, 0, tzinfo=datetime.UTC)


def form_data(**overrides) -> dict:
    data = {
        "messenger": "web",
        "direction": "inbound",
        "price": "0.0100",
        "valid_from_0": "2026-03-01",
        "valid_from_1": "12:00:00",
        "valid_until_0": "",
        "valid_until_1": "",
    }
    data.update(overrides)
    return data


def stored_price(**fields) -> MessagePrice:
    fields.setdefault("messenger", Messenger.WEB)
    fields.setdefault("direction", MessageDirection.INBOUND)
    fields.setdefault("price", Decimal("1"))
    fields.setdefault("valid_from", T0)
    return MessagePrice.objects.create(**fields)


def snapshot() -> list[tuple]:
    return list(
        MessagePrice.objects.order_by("pk").values_list(
            "messenger", "direction", "price", "valid_from", "valid_until"
        )
    )


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


@pytest.mark.django_db
def test_the_list_shows_channel_direction_price_and_period(admin_client):
    stored_price(price=Decimal("0.0125"), valid_until=T1)
    content = admin_client.get(URL).content.decode()
    for text in ("Web", "inbound (from the client)", "0.0125", "March 1, 2026", "March 15, 2026"):
        assert text in content


@pytest.mark.django_db
def test_the_list_filters_by_channel_direction_and_period(admin_client):
    now = timezone.now()
    stored_price(messenger=Messenger.TELEGRAM, price=Decimal("0.7"), valid_from=now)
    stored_price(price=Decimal("0.3"), valid_from=now - datetime.timedelta(days=9), valid_until=now)
    stored_price(
        direction=MessageDirection.OUTBOUND,
        price=Decimal("0.5"),
        valid_from=now + datetime.timedelta(days=3),
    )

    def prices(query: str) -> list[str]:
        response = admin_client.get(URL + query)
        return sorted(str(price.price) for price in response.context["cl"].result_list)

    assert prices("?messenger__exact=telegram") == ["0.7000"]
    assert prices("?direction__exact=outbound") == ["0.5000"]
    assert prices("?period=current") == ["0.7000"]
    assert prices("?period=past") == ["0.3000"]
    assert prices("?period=future") == ["0.5000"]


@pytest.mark.django_db
def test_adding_a_price_says_costs_are_being_recomputed_and_recomputes_them(
    admin_client, django_capture_on_commit_callbacks, eager_celery
):
    # given a web dialog with one client message and no price yet
    dialog = DialogFactory()
    message_post(dialog=dialog, author_kind=AuthorKind.CLIENT, text="hi", client_msg_id="c1")
    # when an admin adds an inbound web price in force since before that message
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            URL + "add/", form_data(valid_from_0="2020-01-01", price="0.0300"), follow=True
        )
    # then the price is stored, the admin is told, and the dialog costs it
    assert response.status_code == 200
    assert MessagePrice.objects.get().price == Decimal("0.03")
    assert "is being recomputed in the background" in response.content.decode()
    assert Dialog.objects.get(pk=dialog.pk).cost == Decimal("0.03")


@pytest.mark.django_db
def test_deleting_a_price_in_the_admin_recomputes_costs(
    admin_client, django_capture_on_commit_callbacks, eager_celery
):
    price = stored_price(price=Decimal("0.5"), valid_from=timezone.now() - datetime.timedelta(1))
    dialog = DialogFactory()
    message_post(dialog=dialog, author_kind=AuthorKind.CLIENT, text="hi", client_msg_id="c1")
    assert Dialog.objects.get(pk=dialog.pk).cost == Decimal("0.5")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{URL}{price.pk}/delete/", {"post": "yes"}, follow=True)
    assert "is being recomputed in the background" in response.content.decode()
    assert MessagePrice.objects.count() == 0
    assert Dialog.objects.get(pk=dialog.pk).cost == 0


@pytest.mark.django_db
def test_the_bulk_delete_action_recomputes_costs(
    admin_client, django_capture_on_commit_callbacks, eager_celery
):
    since = timezone.now() - datetime.timedelta(days=1)
    inbound = stored_price(price=Decimal("0.5"), valid_from=since)
    outbound = stored_price(
        direction=MessageDirection.OUTBOUND, price=Decimal("0.25"), valid_from=since
    )
    dialog = DialogFactory()
    message_post(dialog=dialog, author_kind=AuthorKind.CLIENT, text="hi", client_msg_id="c1")
    message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="hello")
    assert Dialog.objects.get(pk=dialog.pk).cost == Decimal("0.75")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            URL,
            {
                "action": "delete_selected",
                "_selected_action": [inbound.pk, outbound.pk],
                "post": "yes",
            },
        )
    assert MessagePrice.objects.count() == 0
    assert Dialog.objects.get(pk=dialog.pk).cost == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"price": "-0.0100"}, "greater than or equal to 0"),
        ({"price": "NaN"}, "Enter a number"),
        ({"price": "1e400"}, "Ensure that there are no more than"),
        ({"price": "ten"}, "Enter a number"),
        ({"valid_until_0": "2026-03-01", "valid_until_1": "11:59:59"}, "ends after it starts"),
        ({"valid_until_0": "2026-03-01", "valid_until_1": "12:00:00"}, "ends after it starts"),
        ({"valid_from_0": "2026-02-30"}, "Enter a valid date"),
        ({"valid_from_0": ""}, "This field is required"),
        ({"messenger": "carrier-pigeon"}, "Select a valid choice"),
        # a lone surrogate as a browser would send it (its UTF-8 bytes, percent-encoded)
        ({"direction": b"\xed\xa0\x80"}, "Select a valid choice"),
        ({"valid_from_0": "2026-03-10", "valid_from_1": "00:00:00"}, "covers part of this"),
        (
            {
                "valid_from_0": "2026-01-01",
                "valid_until_0": "2026-03-01",
                "valid_until_1": "12:00:01",
            },
            "covers part of this",
        ),
    ],
)
def test_bad_prices_are_refused_in_the_admin_and_nothing_changes(
    admin_client, django_capture_on_commit_callbacks, overrides, error
):
    # given a web inbound price for [March 1 12:00, March 15) and a dialog that pays it
    stored_price(valid_from=T0, valid_until=T1, price=Decimal("1"))
    before = snapshot()
    # when a bad price is added
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            URL + "add/",
            urlencode(
                form_data(
                    **{"valid_until_0": "2026-04-01", "valid_until_1": "00:00:00", **overrides}
                )
            ),
            content_type="application/x-www-form-urlencoded",
        )
    # then the form says why, and no price or task came of it
    assert response.status_code == 200
    assert error in response.content.decode()
    assert snapshot() == before
    assert callbacks == []


@pytest.mark.django_db
def test_moving_a_price_onto_another_one_is_refused(admin_client):
    stored_price(valid_from=T0, valid_until=T1)
    later = stored_price(valid_from=T1, price=Decimal("2"))
    before = snapshot()
    response = admin_client.post(
        f"{URL}{later.pk}/change/",
        form_data(valid_from_0="2026-03-14", valid_from_1="23:59:59", price="2"),
    )
    assert "covers part of this period" in response.content.decode()
    assert snapshot() == before


@pytest.mark.django_db
def test_a_price_may_be_edited_within_its_own_period(admin_client, eager_celery):
    price = stored_price(valid_from=T0, valid_until=T1)
    response = admin_client.post(
        f"{URL}{price.pk}/change/",
        form_data(valid_until_0="2026-03-15", valid_until_1="00:00:00", price="1.5"),
    )
    assert response.status_code == 302
    price.refresh_from_db()
    assert price.price == Decimal("1.5")


@pytest.mark.django_db(transaction=True)
def test_a_changed_price_recomputes_costs_through_a_real_celery_worker(admin_client, settings):
    # given a web dialog whose client message cost 0.5
    price = stored_price(price=Decimal("0.5"), valid_from=timezone.now() - datetime.timedelta(1))
    dialog = DialogFactory()
    message_post(dialog=dialog, author_kind=AuthorKind.CLIENT, text="hi", client_msg_id="c1")
    assert Dialog.objects.get(pk=dialog.pk).cost == Decimal("0.5")
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        # when an admin raises the price
        response = admin_client.post(
            f"{URL}{price.pk}/change/",
            form_data(
                price="0.7500",
                valid_from_0=price.valid_from.date().isoformat(),
                valid_from_1=price.valid_from.time().isoformat(),
            ),
        )
        assert response.status_code == 302
        # then the worker recomputes the dialog's cost
        cost = wait_until(
            lambda: Dialog.objects.filter(pk=dialog.pk, cost=Decimal("0.75")).exists(),
            seconds=30,
        )
    assert cost


@pytest.mark.django_db
def test_the_add_page_offers_every_field(admin_client):
    content = admin_client.get(URL + "add/").content.decode()
    for name in ("messenger", "direction", "price", "valid_from_0", "valid_until_0"):
        assert f'name="{name}"' in content
