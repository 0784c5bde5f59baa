"""Schemathesis over the live OpenAPI document: no 5xx, every answer as documented.

The API fuzzed is our own (own PostgreSQL and Valkey, no worker): runs it accepts are recorded
and queued there and never executed, so generated launches, revokes, retries and pauses cannot
disturb any other test. Authenticated as an admin, so every operation is reachable; both valid
(positive) and invalid (negative) inputs are generated for every operation.

schemathesis.pytest.from_fixture does not run under pytest 9 (it sets Function._nodeid), so the
operations are driven here with their Hypothesis strategies directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

import pytest
from support.private_stack import PrivateStack, private_stack

EXAMPLES = 25  # per operation and generation mode
MIN_REQUESTS = 1_000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_stack(servers: dict[str, Any], run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "fuzz", persistent_broker=False) as created:
        created.start_api()
        yield created


def test_every_documented_operation_answers_as_documented(fuzz_stack: PrivateStack, mint: Callable[..., str]) -> None:
    document = httpx.get(f"{fuzz_stack.api_url}/openapi.json", timeout=10).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(document)
    admin = {"Authorization": f"Bearer {mint('admin', 'fuzzer')}"}
    sent: dict[str, int] = {}
    failures: dict[str, str] = {}

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        # An operation with no parameter, no body and no security (health, metrics) has no invalid input.
        public = operation.definition.raw.get("security") == [] and not operation.definition.raw.get("parameters") \
            and "requestBody" not in operation.definition.raw
        modes = (GenerationMode.POSITIVE,) if public else (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def call(case: Any) -> None:
                sent[operation.label] = sent.get(operation.label, 0) + 1  # noqa: B023
                case.call_and_validate(base_url=fuzz_stack.api_url, headers=admin, checks=CHECKS, timeout=10)

            try:
                call()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures[f"{operation.label} [{mode.value}]"] = str(exc)[:3000]

    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
    # Every documented operation was exercised, nothing excluded, and the total is bounded below.
    assert set(sent) == {operation.label for operation in operations}
    assert sum(sent.values()) >= MIN_REQUESTS, sent
    print(f"\nfuzzed {len(operations)} operations with {sum(sent.values())} requests")
