"""/api/v1: read a pasted free-text delivery address into the structured fields of a first-come campaign.

A convenience for the app and the claim page's script: the answer only pre-fills the form. The claim itself
(POST /campaigns/{slug}/claims) takes the structured fields and validates them as always. Nothing is stored
and nothing is logged; the answer is not cacheable (``Cache-Control: no-store`` from the security middleware).
It is not a claim path: no proof of work, no claim rate limits, not behind the admission cap.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from allot.delivery.addresses import GUESS_TEXT_MAX, AddressGuess, address_guess
from allot.firstcome import selectors

from .errors import ErrorsOut
from .schemas import StrictIn

addresses = Router(tags=["first come"])  # mounted at /api/v1/


class AddressGuessIn(StrictIn):
    text: str = Field(max_length=GUESS_TEXT_MAX, description=(
        "The address as pasted from a delivery app or a chat, e.g. 浙江省杭州市西湖区北山街道北山社区3幢2单元301室."))


class PlaceOut(Schema):
    code: str = Field(description="The code to send back in the claim (district, street or committee).")
    name: str


class GuessNoteOut(Schema):
    code: str = Field(description=(
        "address_district_outside, address_retired_district, address_street_mismatch, address_street_ambiguous, "
        "address_street_unknown, address_committee_mismatch, address_committee_ambiguous, "
        "address_committee_unknown, address_district_required, address_street_required, "
        "address_committee_required, address_building_required, address_line_too_long, address_phone_left_out, "
        "address_name_left_out, address_nothing_found."))
    text: str = Field(description="The piece of the pasted text it is about ('' if none, or if personal).")
    message: str


class AddressGuessOut(Schema):
    district: PlaceOut | None
    street: PlaceOut | None
    committee: PlaceOut | None
    building: str
    unit: str
    room: str
    line: str = Field(description="What is left of the text, for the free-text last line.")
    unplaced: list[GuessNoteOut] = Field(description="What could not be placed, and why; what is still to choose.")


def address_guess_out(guess: AddressGuess) -> dict[str, Any]:
    def place(code: str, name: str) -> dict[str, str] | None:
        return {"code": code, "name": name} if code else None

    return {"district": place(guess.district_code, guess.district_name),
            "street": place(guess.street_code, guess.street_name),
            "committee": place(guess.committee_code, guess.committee_name),
            "building": guess.building, "unit": guess.unit, "room": guess.room, "line": guess.line,
            "unplaced": [{"code": n.code, "text": n.text, "message": str(n.message)} for n in guess.unplaced]}


@addresses.post("/campaigns/{slug}/address/guess", response={200: AddressGuessOut, 400: ErrorsOut, 404: ErrorsOut},
                url_name="address_guess", summary="Pre-fill the delivery address fields from a pasted address",
                description=(
                    "Reads a free-text address (at most 200 characters) against the campaign city's list of "
                    "districts, streets and communities and answers the fields it could fill — only names on "
                    "the list, longest first, a street only within its district — plus building, unit, room, "
                    "the rest as the last line, and what it could not place. Only a pre-fill: show the fields to "
                    "the resident, who checks them; the claim validates them. Phone numbers and a recipient's "
                    "name in the text are left out. Nothing is stored. 400: too_long, missing, "
                    "unexpected_field. 404: campaign_not_found."))
def address_guess_op(request: HttpRequest, slug: str, payload: AddressGuessIn) -> dict[str, Any]:
    campaign = selectors.claim_campaign(slug=slug).campaign
    return address_guess_out(address_guess(city_code=campaign.city_id, text=payload.text))
