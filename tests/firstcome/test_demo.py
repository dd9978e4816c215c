"""The Hangzhou demo loads through the real services and can be loaded twice."""

from __future__ import annotations

import io

from django.core.management import call_command

from allot.delivery.models import Courier
from allot.firstcome.models import Claim, QuotaPlan


def test_load_demo_hangzhou_builds_the_city_campaign_and_couriers(db):
    out = io.StringIO()

    call_command("load_demo_hangzhou", "--opens-at", "00:00", "--claims", "10", stdout=out)
    call_command("load_demo_hangzhou", "--opens-at", "00:00", "--claims", "10", stdout=io.StringIO())

    text = out.getvalue()
    assert "临平区 330113" in text and "钱塘区 330114" in text
    assert QuotaPlan.objects.filter(campaign__slug="hangzhou-masks").count() == 13
    assert Courier.objects.count() == 2 and text.count("ck_") == 2
    assert 1 <= Claim.objects.count() <= 10
