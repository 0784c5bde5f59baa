"""Tokens never reach a log line, whether they are valid, expired or forged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from config.embedded import free_port
from support.processes import ROOT, stop


async def test_no_token_appears_in_the_api_log(servers: dict[str, Any], run_dir: Path, mint: Callable[..., str]) -> None:
    log_path = run_dir / "api-token-hygiene.log"
    port = free_port()
    # Access log on and debug level: the most a production operator could turn on.
    command = [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "debug"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        tokens = [mint("operator"), mint("viewer", ttl_s=-5), mint("viewer")[:-4] + "AAAA", "not-a-jwt-at-all-123"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(600):  # importing the app takes long on a loaded machine
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            for token in tokens:
                headers = {"Authorization": f"Bearer {token}"}
                await http.get("/tasks/available", headers=headers)
                await http.post("/tasks/execute/ping", json={"echo": "x"}, headers=headers)
                await http.post("/tasks/execute/nope", json={}, headers=headers)
    finally:
        stop(process)
    text = log_path.read_text(errors="replace")
    assert "/tasks/available" in text  # the access log did record the requests
    for token in tokens:
        assert token not in text
        assert token.split(".")[-1] not in text  # not even the signature
