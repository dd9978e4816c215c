from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirstComeConfig(AppConfig):
    name = "allot.firstcome"
    label = "firstcome"
    verbose_name = _("First come, first served")
