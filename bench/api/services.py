"""The three services under test and how to talk to each."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import httpx
import orjson

from config.embedded import free_port


@dataclass
class Service:
    """A server under test: request builders and response readers."""

    name: str
    port: int
    execute_path: str
    status_prefix: str
    headers: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/"

    def execute_request(self) -> bytes:
        from bench.api.loadgen import build_request

        return build_request("POST", self.execute_path, f"127.0.0.1:{self.port}", self.headers, b"{}")

    def status_request(self, task_id: str) -> bytes:
        from bench.api.loadgen import build_request

        return build_request("GET", self.status_prefix + task_id, f"127.0.0.1:{self.port}", self.headers)

    def task_id_of(self, body: bytes) -> str:
        data = orjson.loads(body)
        return str(data.get("task_id") or data.get("task-id"))

    def is_success(self, body: bytes) -> bool:
        data = orjson.loads(body)
        return (data.get("status") or data.get("state")) == "SUCCESS"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", headers=self.headers, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start on port {self.port}")


def build_services(env: dict[str, str]) -> tuple[list[Service], list[list[str]]]:
    """Toolbox, naive and Flower, each on its own free port, with their start commands."""
    from config.settings import AuthSettings
    from services.auth import TokenService

    token = TokenService(AuthSettings(jwt_secret=env["AUTH_JWT_SECRET"])).mint("bench", "operator", 6 * 3600)
    ports = [free_port() for _ in range(3)]
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    services = [
        Service("toolbox", ports[0], "/tasks/execute/ping", "/tasks/status/",
                {"Authorization": f"Bearer {token}"}, ready_path="/health"),
        Service("naive", ports[1], "/execute/maintenance.ping", "/status/", ready_path="/docs"),
        Service("flower", ports[2], "/api/task/async-apply/maintenance.ping", "/api/task/result/",
                ready_path="/api/workers?refresh=false"),
    ]
    commands = [
        [*uvicorn, "--port", str(ports[0]), "main:app"],
        [*uvicorn, "--port", str(ports[1]), "bench.api.naive_app:app"],
        [sys.executable, "-m", "celery", "-A", "config.celery_config", "flower", f"--port={ports[2]}",
         "--address=127.0.0.1", "--logging=warning"],
    ]
    return services, commands
