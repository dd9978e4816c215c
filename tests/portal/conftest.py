"""Fixtures for the resident and public draw pages."""

from __future__ import annotations

import pytest
from django.test import Client

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set


@pytest.fixture
def en_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def zh_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="zh-hans")


@pytest.fixture
def stocked(xiamen):
    """The Xiamen fixture with 2 winner packs at 思明第一药房 for the current round."""
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    xiamen.round = round_
    return xiamen
