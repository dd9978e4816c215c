"""Reads for the staff pages. Every query here is scoped by the caller's campaigns or outlet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from allot.backoffice.access import campaigns_visible
from allot.campaigns.models import Campaign
from allot.draws.models import Draw
from allot.identity.models import EligibilityList
from allot.pickup.models import PickupCode


def draws_visible(*, user: Any) -> QuerySet[Draw]:
    """Draws of the campaigns the user may see, newest first, with their round and campaign."""
    return (Draw.objects.filter(round__campaign__in=campaigns_visible(user))
            .select_related("round__campaign").order_by("-round__draw_date", "-pk"))


def draw_visible_get(*, user: Any, pk: int) -> Draw:
    """One draw, or 404 when it does not exist *or* belongs to a campaign the user may not see."""
    return get_object_or_404(draws_visible(user=user), pk=pk)


def campaigns_for_draw_now(*, user: Any) -> QuerySet[Campaign]:
    """Active demo campaigns (synthetic beacon) the user operates."""
    return (campaigns_visible(user)
            .filter(status=Campaign.Status.ACTIVE, beacon_kind=Campaign.Beacon.SYNTHETIC).order_by("slug"))


def eligibility_lists_for(*, user: Any) -> QuerySet[EligibilityList]:
    """Superusers may import into any list; an operator into the lists their campaigns use."""
    if getattr(user, "is_superuser", False):
        return EligibilityList.objects.order_by("code")
    return EligibilityList.objects.filter(campaign__in=campaigns_visible(user)).distinct().order_by("code")


def redemptions_today(*, outlet_id: int, now: dt.datetime | None = None) -> int:
    """Codes redeemed at the outlet since local midnight (display time zone, Asia/Shanghai by default)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return PickupCode.objects.filter(outlet_id=outlet_id, redeemed_at__gte=start,
                                     redeemed_at__lt=start + dt.timedelta(days=1)).count()
