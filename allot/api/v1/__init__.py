"""/api/v1: the resident and clerk flows for mini-program and app clients (Django Ninja, OpenAPI)."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.operation import Operation

from .claims import claims
from .couriers import couriers
from .errors import install_error_handlers
from .operations import campaigns, draws, registrations, staff


class AllotAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Short, stable operation ids (``campaign_list``, ``registration_create``) for generated clients."""
        return operation.view_func.__name__.removesuffix("_op")


api = AllotAPI(
    title="allot API",
    version="1",
    urls_namespace="api-v1",
    description=(
        "Campaigns, outlets with stock, registrations, pickup redemption and published draws. Every error "
        "has the body {\"errors\": [{\"field\", \"code\", \"message\"}]}: clients branch on the stable code, "
        "people read the message, which follows Accept-Language (zh-Hans by default, en). Times are ISO 8601 "
        "in the campaign's time zone."),
)
install_error_handlers(api)
api.add_router("/campaigns", campaigns)
api.add_router("/registrations", registrations)
api.add_router("/", staff)
api.add_router("/draws", draws)
api.add_router("/", claims)
api.add_router("/courier", couriers)
api.add_router("/", "allot.api.v1.addresses.addresses")

__all__ = ["api"]
