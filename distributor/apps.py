from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistributorConfig(AppConfig):
    name = "distributor"
    verbose_name = _("Distribution")
