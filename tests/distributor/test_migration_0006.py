"""distributor 0006: stored phones ("+" and the digits typed) become E.164 as the
phone library writes it, so a number typed either way finds its customer. A value the
library cannot read, or whose E.164 form another customer has, is left as it is."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from distributor.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("distributor", "0005_distribution")]
AFTER = [("distributor", "0006_admin_phones_e164")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_e164():
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_stored_phones_become_e164_where_the_library_reads_them(before_e164):
    old_customer = before_e164.get_model("distributor", "Customer")
    rows = {
        "trunk zero kept": "+4402079460958",
        "already e164": "+390612345678",
        "no country code": "+89120001122",
        "taken by another": "+4402079460959",
        "the other": "+442079460959",
    }
    ids = {
        label: old_customer.objects.create(name=label, phone=phone).pk
        for label, phone in rows.items()
    }

    migrate(AFTER)

    phones = dict(Customer.objects.values_list("name", "phone"))
    assert phones == {
        "trunk zero kept": "+442079460958",
        "already e164": "+390612345678",
        "no country code": "+89120001122",
        "taken by another": "+4402079460959",
        "the other": "+442079460959",
    }
    assert sorted(Customer.objects.values_list("pk", flat=True)) == sorted(ids.values())
