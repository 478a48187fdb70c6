"""Strict query-string validation shared by the list routes (docs/protocol.md §4).

Routes read the raw query (every value of every key) and check it by hand, so that an unknown key,
a repeated single-valued key or a number in a loose form ("1.5", "1e2", " 3") is a 400
VALIDATION_ERROR with `errors[{path, message}]`, never silently read as something else.
`pretty` is accepted everywhere (intmax_api.pretty).
"""

from __future__ import annotations

import re
from collections import defaultdict

from fastapi import Request

from intmax_api.errors import ApiError
from intmax_api.pretty import PRETTY_QUERY_KEY

PER_PAGE_MIN = 1
PER_PAGE_MAX = 250
DEFAULT_PER_PAGE = 100
# Most values a repeatable key (tokenIndexes, contractAddresses) may carry; the original broke
# past 30 (its store's `in` limit) with a 500.
MAX_LIST_VALUES = 100
MAX_BIGINT = 2**63 - 1  # token indexes and deposit ids are BIGINT in the warehouse
_DIGITS = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def uint_pattern(maximum: int) -> str:
    """The decimal strings of 0..maximum (leading zeros allowed) as an OpenAPI (ECMA-262) pattern:
    what `parse_uint` accepts, so that the documented contract is the enforced one."""
    digits = str(maximum)
    options = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):  # same length: a smaller digit here, anything after
        if digit != "0":
            rest = len(digits) - position - 1
            options.append(digits[:position] + f"[0-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    options.append(digits)
    return "^0*(?:" + "|".join(options) + ")$"


# What the routes check by hand, declared in the OpenAPI (json_schema_extra: documentation only).
UINT_PATTERN = uint_pattern(MAX_BIGINT)
PER_PAGE_PATTERN = uint_pattern(PER_PAGE_MAX).replace("^0*(?:", "^0*(?!0*$)(?:")  # 1..250
ADDRESS_PATTERN = "^0x[0-9a-fA-F]{40}$"


class QueryErrors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append({"path": path, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise ApiError(400, "Validation Error", code="VALIDATION_ERROR", errors=self.items)


def validation_error(path: str, message: str) -> ApiError:
    return ApiError(400, "Validation Error", code="VALIDATION_ERROR", errors=[{"path": path, "message": message}])


def strict_query(request: Request, allowed: tuple[str, ...], errors: QueryErrors) -> dict[str, list[str]]:
    """Every value of every key, in request order; unknown keys are reported."""
    values: dict[str, list[str]] = defaultdict(list)
    for key, value in request.query_params.multi_items():
        if key == PRETTY_QUERY_KEY:
            continue
        if key not in allowed:
            if key not in values:
                errors.add(key, f"Unknown query parameter; allowed: {', '.join(allowed)}")
            values[key].append(value)
            continue
        values[key].append(value)
    return values


def single(values: dict[str, list[str]], key: str, errors: QueryErrors) -> str | None:
    given = values.get(key)
    if not given:
        return None
    if len(given) > 1:
        errors.add(key, "Must be given at most once")
    return given[0]


def parse_uint(text: str, path: str, errors: QueryErrors, *, minimum: int = 0, maximum: int = MAX_BIGINT) -> int | None:
    """A plain decimal integer string (digits only: no sign, point, exponent or spaces) in range."""
    if not _DIGITS.fullmatch(text):
        errors.add(path, "Must be a string of decimal digits")
        return None
    value = int(text)
    if not minimum <= value <= maximum:
        errors.add(path, f"Must be between {minimum} and {maximum}")
        return None
    return value


def parse_per_page(values: dict[str, list[str]], errors: QueryErrors) -> int | None:
    text = single(values, "perPage", errors)
    if text is None:
        return None
    return parse_uint(text, "perPage", errors, minimum=PER_PAGE_MIN, maximum=PER_PAGE_MAX)


def parse_address(text: str, path: str, errors: QueryErrors) -> str | None:
    if not _ADDRESS.fullmatch(text):
        errors.add(path, "Invalid Ethereum address format")
        return None
    return text.lower()


def parse_list(values: dict[str, list[str]], key: str, errors: QueryErrors) -> list[str] | None:
    """The values of a repeatable key, or None when absent; at most MAX_LIST_VALUES."""
    given = values.get(key)
    if given is None:
        return None
    if len(given) > MAX_LIST_VALUES:
        errors.add(key, f"At most {MAX_LIST_VALUES} values")
        return []
    return given
