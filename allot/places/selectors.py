"""Reads for places."""

from __future__ import annotations

import math
from decimal import Decimal

from django.db.models import QuerySet

from allot.places.models import Division, Outlet


def districts_of(*, city_code: str) -> QuerySet[Division]:
    return Division.objects.filter(parent_id=city_code, level=Division.Level.DISTRICT).order_by("code")


def outlets_of_district(*, district_code: str) -> QuerySet[Outlet]:
    return Outlet.objects.filter(district_id=district_code).exclude(status=Outlet.Status.CLOSED).order_by("code")


def distance_m(lat1: float | Decimal, lng1: float | Decimal, lat2: float | Decimal, lng2: float | Decimal) -> int:
    """Great-circle distance in metres (haversine, mean earth radius)."""
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lng2) - float(lng1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * 6_371_008.8 * math.asin(math.sqrt(a)))
