"""Cursor pagination of the token lists, as the original token API did it (docs/protocol.md §4).

The cursor is the `contractAddress` of the previous page's last item: the next page starts after
that item, and an unknown cursor starts again at the first item. Pagination applies only when
`perPage` or `cursor` is given (default perPage 100); otherwise every item is returned with
`nextCursor: null, hasMore: false`. `nextCursor` is set only when the page is full and items
remain; `hasMore = end < total`. Should two items share an address (never for ERC20 token maps),
the page starts after the last of them, so that paging always moves forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from intmax_api.query import DEFAULT_PER_PAGE

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    has_more: bool
    total: int

    def body(self, serialize: Callable[[T], Any]) -> dict[str, Any]:
        return {
            "items": [serialize(item) for item in self.items],
            "nextCursor": self.next_cursor,
            "hasMore": self.has_more,
            "total": self.total,
        }


def paginate_by_address(
    items: Sequence[T], per_page: int | None, cursor: str | None, address_of: Callable[[T], str]
) -> Page[T]:
    total = len(items)
    if per_page is None and cursor is None:
        return Page(list(items), None, False, total)
    size = per_page or DEFAULT_PER_PAGE
    start = 0
    if cursor is not None:
        wanted = cursor.lower()
        for index in range(total - 1, -1, -1):
            if address_of(items[index]) == wanted:
                start = index + 1
                break
    end = start + size
    page = list(items[start:end])
    has_more = end < total
    next_cursor = address_of(page[-1]) if page and len(page) == size and has_more else None
    return Page(page, next_cursor, has_more, total)
