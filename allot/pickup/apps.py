from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PickupConfig(AppConfig):
    name = "allot.pickup"
    label = "pickup"
    verbose_name = _("Pickup")
