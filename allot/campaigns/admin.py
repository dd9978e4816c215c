"""Campaigns, rounds and supply in the admin. Rounds and supply are written through the campaign services,
so the rules there (one round a day, no supply change once a round is frozen) hold here too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from allot.campaigns import services
from allot.campaigns.models import Campaign, Round, Supply
from allot.core.errors import DomainError


class ServiceRefused(Exception):
    """A service said no while the admin was saving: shown as a message, nothing saved."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(str(error.message))
        self.error = error


def _refused_response(request: HttpRequest, exc: ServiceRefused) -> HttpResponse:
    messages.error(request, f"{exc.error.message} ({exc.error.code})")
    return HttpResponseRedirect(request.get_full_path())


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "city", "draw_time", "beacon_kind", "rounds_link"]
    list_filter = ["status", "beacon_kind"]
    search_fields = ["slug", "name"]
    list_select_related = ["city"]
    autocomplete_fields = ["city"]
    filter_horizontal = ["eligibility_lists"]
    actions = ["draw_current_round_now"]

    @admin.display(description=gettext_lazy("Rounds"))
    def rounds_link(self, obj: Campaign) -> SafeString:
        url = reverse("admin:campaigns_round_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("rounds"))

    @admin.action(description=gettext_lazy("Draw the current round now (demo, synthetic beacon only)"))
    def draw_current_round_now(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        from allot.draws.services import draw_run_now

        for campaign in queryset.order_by("pk"):
            try:
                d = draw_run_now(campaign=campaign)
            except DomainError as exc:
                self.message_user(request, f"{campaign.slug}: {exc.message} ({exc.code})", messages.ERROR)
            else:
                text = _("%(draw_id)s: %(winners)d winners of %(entries)d entries; pickup is open now.")
                self.message_user(request, text % {"draw_id": d.draw_id, "winners": d.winners,
                                                   "entries": d.entries}, messages.SUCCESS)


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["campaign", "draw_date", "state", "supply_link"]
    list_filter = ["campaign", "state"]
    date_hierarchy = "draw_date"
    list_select_related = ["campaign"]

    def get_readonly_fields(self, request: HttpRequest, obj: Round | None = None) -> list[str]:
        return ["campaign", "draw_date", "state"] if obj is not None else ["state"]

    @admin.display(description=gettext_lazy("Supply"))
    def supply_link(self, obj: Round) -> SafeString:
        url = reverse("admin:campaigns_supply_changelist") + f"?round__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("supply"))

    def save_model(self, request: HttpRequest, obj: Round, form: ModelForm, change: bool) -> None:
        if change:
            return  # nothing on a round is editable here; the draw moves its state
        created = services.round_get_or_create(campaign=obj.campaign, draw_date=obj.draw_date)
        obj.pk = created.pk
        obj.state = created.state

    def has_delete_permission(self, request: HttpRequest, obj: Round | None = None) -> bool:
        return False


@admin.register(Supply)
class SupplyAdmin(admin.ModelAdmin):
    list_display = ["round", "outlet", "packs", "allocated"]
    list_editable = ["packs"]
    list_filter = ["round__campaign", "round__draw_date", "outlet__district"]
    search_fields = ["outlet__code", "outlet__name"]
    list_select_related = ["round__campaign", "outlet"]
    autocomplete_fields = ["outlet"]

    def get_readonly_fields(self, request: HttpRequest, obj: Supply | None = None) -> list[str]:
        return ["round", "outlet", "allocated"] if obj is not None else ["allocated"]

    def save_model(self, request: HttpRequest, obj: Supply, form: ModelForm, change: bool) -> None:
        """Every write goes through ``supply_set`` (refused once the round is frozen)."""
        try:
            saved = services.supply_set(round_=obj.round, outlet=obj.outlet, packs=obj.packs,
                                        actor=request.user)
        except DomainError as exc:
            raise ServiceRefused(exc) from exc
        obj.pk, obj.allocated = saved.pk, saved.allocated

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as exc:
            return _refused_response(request, exc)

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except ServiceRefused as exc:
            return _refused_response(request, exc)

    def has_delete_permission(self, request: HttpRequest, obj: Supply | None = None) -> bool:
        return False
