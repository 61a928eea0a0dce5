"""Stored customer phones become E.164 as the phone library writes them.

Until now a phone was its digits after a "+" (e.g. "+44 (0)20 7946 0958" was kept as
"+4402079460958"), so the same number typed the E.164 way ("+442079460958") would not
match. A stored value the library reads as a valid number is rewritten to its E.164
form, unless another customer has that form already (two records of one person: a
person merges them in Admin). A value it cannot read (digits typed without a country
code, e.g. "+89120001122" from "8 912…") is left as it is: no region can be guessed
for a customer, who belongs to no chat."""

import phonenumbers
from django.db import migrations


def phones_to_e164(apps, schema_editor):
    Customer = apps.get_model("distributor", "Customer")
    taken = set(Customer.objects.exclude(phone=None).values_list("phone", flat=True))
    for customer in Customer.objects.exclude(phone=None).order_by("pk").iterator():
        try:
            number = phonenumbers.parse(customer.phone, None)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        normal = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if normal == customer.phone or normal in taken:
            continue
        taken.discard(customer.phone)
        taken.add(normal)
        Customer.objects.filter(pk=customer.pk).update(phone=normal)


class Migration(migrations.Migration):
    dependencies = [("distributor", "0005_distribution")]

    operations = [migrations.RunPython(phones_to_e164, migrations.RunPython.noop)]
