"""Drives HTTP load with wrk (C, epoll): its own CPU stays small and is not charged to a server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run the bench again."

# Headers and body are set once; `done` prints one JSON line the bench parses (latencies in µs).
_LUA = """
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format('BENCH {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text


def require_wrk() -> str:
    """The wrk binary, or exit with the install command."""
    found = shutil.which("wrk")
    if found is None:
        sys.exit(INSTALL_HINT)
    return found


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles and failed requests (non-2xx/3xx included)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(url: str, *, method: str = "GET", body: str | None = None, headers: dict[str, str] | None = None,
            connections: int = 16, seconds: float = 5.0, threads: int = 1) -> WrkResult:
    """`connections` keep-alive connections sending the same request for `seconds`."""
    header_lines = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items())
    script = _LUA.format(method=_lua_string(method), body=_lua_string(body) if body is not None else "nil",
                         headers=header_lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run([require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                               "--timeout", "10s", "-s", handle.name, url],
                              capture_output=True, text=True, check=True)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    match = re.search(r"^BENCH (\{.*\})$", done.stdout, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    data = json.loads(match.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = sum(data[k] for k in ("connect", "read", "write", "timeout")) + (int(non_2xx.group(1)) if non_2xx else 0)
    return WrkResult(requests=data["requests"], seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000,
                     p99_ms=data["p99_us"] / 1000, errors=errors)
