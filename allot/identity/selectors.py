"""Reads for personal data."""

from __future__ import annotations

from collections.abc import Iterable

from allot.identity.models import EligibilityEntry


def eligible_lists(*, id_idx: str, list_ids: Iterable[int]) -> list[int]:
    """Which of ``list_ids`` contain the person with blind index ``id_idx``."""
    return list(EligibilityEntry.objects.filter(id_index=id_idx, eligibility_list_id__in=list(list_ids))
                .values_list("eligibility_list_id", flat=True))
