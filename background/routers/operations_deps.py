"""The `Ops` dependency: the operator services built by the lifespan (config/operations.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from config.operations import Operations


async def get_operations(request: Request) -> Operations:
    return request.app.state.operations  # type: ignore[no-any-return]


Ops = Annotated[Operations, Depends(get_operations)]
