"""`pagination_info` exactly as SPEC §1.5."""

from __future__ import annotations

import math
from typing import Any


def pagination_info(*, total_count: int, page_no: int, per_page: int) -> dict[str, Any]:
    total_pages = math.ceil(total_count / per_page) if total_count else 0
    return {
        "total_count": total_count,
        "per_page": per_page,
        "total_pages": total_pages,
        "current_page": page_no,
        "next_page": page_no + 1 if page_no < total_pages else None,
        "prev_page": page_no - 1 if page_no > 1 else None,
        "is_first_page": page_no == 1,
        "is_last_page": page_no == total_pages or total_count == 0,
        "is_out_of_range": total_count > 0 and page_no > total_pages,
    }


def paginate(queryset, *, page_no: int, per_page: int) -> tuple[list, dict[str, Any]]:
    """One COUNT and one page query. Out-of-range pages are empty."""
    total = queryset.count()
    offset = (page_no - 1) * per_page
    items = list(queryset[offset : offset + per_page]) if offset < total else []
    return items, pagination_info(total_count=total, page_no=page_no, per_page=per_page)


def paginate_list(items: list, *, page_no: int, per_page: int) -> tuple[list, dict[str, Any]]:
    offset = (page_no - 1) * per_page
    return items[offset : offset + per_page], pagination_info(
        total_count=len(items), page_no=page_no, per_page=per_page
    )
