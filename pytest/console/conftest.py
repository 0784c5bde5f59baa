"""The console's stack: scratch tasks that log and report progress, their worker and an API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import pytest
from support.console_stack import ConsoleStack, console_stack


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep each phase's report on the test item: the browser fixture screenshots failed tests."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def console(servers: dict[str, Any], run_dir: Path) -> Iterator[ConsoleStack]:
    # Module scope: the scratch domain exists only while the console's own tests run.
    with console_stack(run_dir) as stack:
        yield stack


@pytest.fixture
async def api(console: ConsoleStack, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's client of the console stack's API."""
    headers = {"Authorization": f"Bearer {mint('operator')}"}
    async with httpx.AsyncClient(base_url=console.api_url, headers=headers, timeout=90) as http:
        yield http
