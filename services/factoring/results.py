"""Task results are JSON: decimals become strings (exact), dates ISO strings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` with every Decimal as a fixed-point string and every date as ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
