"""A newcomer's first hour, as the README prints it: a real `toolbox up` in a folder of its own.

The README's task example (taken from the README text) is dropped into a fresh domain before
`toolbox up` starts; the README's curl lines are pasted into bash in that folder after
`. var/up.env`; the CLI finds the stack with no variable set; then Ctrl-C and a restart.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

import pytest
from config.embedded import PG_BIN, free_port
from config.up_env import read as read_up_env
from support.processes import ROOT
from support.scratch_domain import ScratchDomain, scratch_domain
from support.toolbox_up import ToolboxUp, toolbox, user_env

README = (ROOT / "README.md").read_text()
LOGFMT_LINE = re.compile(r'^ts=\S+ level=(debug|info|warning|error|critical) logger=\S+ msg=("(?:[^"\\]|\\.)*"|\S+)( |$)')


def readme_section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def readme_block(title: str, language: str, containing: str) -> str:
    """The first ```language block of a README section that contains `containing`."""
    for block in re.findall(rf"```{language}\n(.*?)```", readme_section(title), flags=re.S):
        if containing in block:
            return str(block)
    raise AssertionError(f"no {language} block with {containing!r} in README section {title!r}")


def readme_task_example() -> tuple[str, str]:
    """(file name, source) of the "Writing a task" example, its domain replaced by `{domain}`."""
    source = readme_block("Writing a task", "python", "@celery_app.task")
    name = re.search(r'@celery_app\.task\(name="([a-z_]+)\.([a-z_]+)"', source)
    assert name, "the README example declares no <domain>.<name>"
    domain, short = name.groups()
    return f"{short}_task.py", source.replace(f'"{domain}.', '"{domain}.')


@pytest.fixture(scope="module")
def example_domain() -> Iterator[ScratchDomain]:
    file_name, source = readme_task_example()
    with scratch_domain({file_name: source}) as created:
        yield created


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"api": free_port(), "pg": free_port(), "redis": free_port()}


@pytest.fixture(scope="module")
def squatter(ports: dict[str, int]) -> Iterator[socket.socket]:
    """"Another program" listening on the API port `toolbox up` prefers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", ports["api"]))
    sock.listen()
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("first-hour")


@pytest.fixture(scope="module")
def up(example_domain: ScratchDomain, folder: Path, ports: dict[str, int],
       squatter: socket.socket) -> Iterator[ToolboxUp]:
    # Small log files, so that rotation shows within a test.
    env = user_env(folder, LOG_MAX_BYTES="16384", LOG_BACKUPS="50")
    stack = ToolboxUp(folder, ["--port", str(ports["api"]), "--postgres-port", str(ports["pg"]),
                               "--redis-port", str(ports["redis"]), "--concurrency", "1", "--no-beat"], env)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def up_env(up: ToolboxUp) -> dict[str, str]:
    return read_up_env(up.var_dir)


def bash(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, env=user_env(folder),
                          capture_output=True, text=True, timeout=120, check=False)


def wait_success(url: str, token: str, task_id: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(f"{url}/tasks/status/{task_id}", headers={"Authorization": f"Bearer {token}"},
                           timeout=10).json()
        if status["status"] in ("SUCCESS", "FAILURE", "REVOKED") or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.2)


def test_a_taken_port_is_said_in_one_line_and_up_env_follows(up: ToolboxUp, up_env: dict[str, str],
                                                             ports: dict[str, int]) -> None:
    lines = [line for line in up.output.splitlines() if f"port {ports['api']} is taken" in line]
    assert len(lines) == 1, up.output
    chosen = int(re.search(r"the API uses port (\d+) instead", lines[0]).group(1))  # type: ignore[union-attr]
    assert chosen != ports["api"]
    assert up_env["TOOLBOX_URL"] == f"http://127.0.0.1:{chosen}"
    # The free ones were kept.
    assert up_env["TOOLBOX_DATABASE_URL"] == f"postgresql://postgres@127.0.0.1:{ports['pg']}/toolbox"
    assert up_env["TOOLBOX_REDIS_URL"] == f"redis://127.0.0.1:{ports['redis']}/0"


def test_the_banner_prints_a_psql_ready_url_and_how_to_use_up_env(up: ToolboxUp, up_env: dict[str, str]) -> None:
    banner = up.output[up.output.index("Toolbox is up."):]
    assert "+asyncpg" not in banner
    assert up_env["TOOLBOX_DATABASE_URL"] in banner
    assert up_env["TOOLBOX_URL"] in banner
    assert "up.env" in banner and '"$TOOLBOX_URL/tasks/available"' in banner
    done = subprocess.run([str(PG_BIN / "psql"), up_env["TOOLBOX_DATABASE_URL"], "-Atc", "select count(*) from alembic_version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr


def test_the_readme_curl_lines_work_as_pasted(up: ToolboxUp, up_env: dict[str, str]) -> None:
    block = readme_block("Two commands", "bash", "var/up.env")
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    status_line = next(line for line in lines if "<task_id>" in line)
    script = "\n".join(line for line in lines if "<task_id>" not in line and not line.startswith("#"))
    done = bash(up.folder, script)
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()  # curl -s prints the two bodies back to back
    catalog, end = decoder.raw_decode(done.stdout)
    accepted, _ = decoder.raw_decode(done.stdout[end:].lstrip())
    assert catalog["success"] is True and "table_stats" in catalog["available_tasks"]
    assert accepted["success"] is True and accepted["task_name"] == "maintenance.table_stats"
    status_script = "\n".join([lines[0], status_line.replace("<task_id>", accepted["task_id"])])
    status = json.loads(bash(up.folder, status_script).stdout)
    assert status["task_id"] == accepted["task_id"]
    assert wait_success(up_env["TOOLBOX_URL"], up_env["TOOLBOX_TOKEN"], accepted["task_id"])["status"] == "SUCCESS"


def test_the_readme_task_example_runs_to_success(up: ToolboxUp, up_env: dict[str, str],
                                                 example_domain: ScratchDomain) -> None:
    url, token = up_env["TOOLBOX_URL"], up_env["TOOLBOX_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}
    entry = httpx.get(f"{url}/tasks/available", headers=headers, timeout=10).json()["available_tasks"]["big_tables"]
    assert entry["name"] == f"{example_domain.name}.big_tables"
    assert entry["description"] == "List the biggest tables of a schema with their row counts and sizes."
    assert set(entry["parameters"]["properties"]) == {"schema_name", "top"}
    answer = httpx.post(f"{url}{entry['endpoint']}", json={"top": 3}, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    status = wait_success(url, token, answer.json()["task_id"])
    assert status["status"] == "SUCCESS", status
    tables = status["result"]
    assert isinstance(tables, list) and 1 <= len(tables) <= 3
    assert [t["bytes"] for t in tables] == sorted((t["bytes"] for t in tables), reverse=True)


def test_the_cli_finds_the_running_stack(up: ToolboxUp, up_env: dict[str, str]) -> None:
    run = toolbox(up.folder, "run", "big-tables", "top=2")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "SUCCESS" and len(json.loads(run.stdout)["result"]) == 2
    assert "progress 1/1" in run.stderr and "Traceback" not in run.stderr
    failed = toolbox(up.folder, "run", "etl", "batch=no-such-batch")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "FAILURE"
    assert "no-such-batch" in json.loads(failed.stdout)["error"]
    migrate = toolbox(up.folder, "migrate")
    assert (migrate.returncode, migrate.stdout.strip()) == (0, "database at head"), migrate.stderr
    tasks = toolbox(up.folder, "tasks")
    assert tasks.returncode == 0 and "big_tables" in tasks.stdout
    token = toolbox(up.folder, "token", "--role", "viewer", "--subject", "newcomer").stdout.strip()
    answer = httpx.get(f"{up_env['TOOLBOX_URL']}/tasks/available", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)
    assert answer.status_code == 200


def test_docs_are_served_by_the_api_itself(up: ToolboxUp, up_env: dict[str, str]) -> None:
    url = up_env["TOOLBOX_URL"]
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{url}{page}", timeout=10).text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert refs, html
        assert not re.search(r"https?://", html), f"{page} references an outside URL"
        for ref in refs:
            asset = httpx.get(f"{url}{ref}", timeout=30)
            assert asset.status_code == 200 and len(asset.content) > 1000, ref
            if ref.endswith(".css"):
                assert not re.search(r"url\(\s*['\"]?https?:", asset.text), ref
                assert "@import" not in asset.text


def test_api_log_has_one_format_and_each_500_once(up: ToolboxUp, up_env: dict[str, str]) -> None:
    url, headers = up_env["TOOLBOX_URL"], {"Authorization": f"Bearer {up_env['TOOLBOX_TOKEN']}"}
    dsn = up_env["TOOLBOX_DATABASE_URL"]
    psql = [str(PG_BIN / "psql"), dsn, "-qc"]
    # A real unexpected error: the history table goes missing under the API.
    subprocess.run([*psql, "alter table task_runs rename to task_runs_hidden"], check=True, capture_output=True)
    try:
        answer = httpx.get(f"{url}/tasks/runs", headers=headers, timeout=10)
    finally:
        subprocess.run([*psql, "alter table task_runs_hidden rename to task_runs"], check=True, capture_output=True)
    assert answer.status_code == 500 and answer.json()["errors"] == []
    for _ in range(200):  # enough access lines to rotate a 16 KiB file
        httpx.get(f"{url}/health", timeout=10)
    log_dir = up.var_dir / "log"
    deadline = time.monotonic() + 30
    while not (log_dir / "api.log.1").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    files = sorted(log_dir.glob("api.log*"))
    assert len(files) >= 2, files  # rotated
    assert all(path.stat().st_size <= 16384 + 8192 for path in files)
    lines = [line for path in files for line in path.read_text(errors="replace").splitlines() if line]
    odd = [line for line in lines if not LOGFMT_LINE.match(line)]
    assert not odd, odd[:5]
    assert any("logger=uvicorn.access" in line and "/health" in line for line in lines)
    errors = [line for line in lines if "level=error" in line]
    assert len(errors) == 1, errors
    assert "/tasks/runs" in errors[0] and "exc=" in errors[0]


def test_a_restart_gets_the_same_ports_back(up: ToolboxUp, ports: dict[str, int], squatter: socket.socket) -> None:
    before = read_up_env(up.var_dir)
    assert up.stop() == 0
    assert "stopped." in up.output
    assert not (up.var_dir / "up.env").exists()
    up.start()
    after = read_up_env(up.var_dir)
    assert after["TOOLBOX_DATABASE_URL"] == before["TOOLBOX_DATABASE_URL"]
    assert after["TOOLBOX_REDIS_URL"] == before["TOOLBOX_REDIS_URL"]
    # The API port is still held by the other program: said again, in one line.
    assert up.output.count(f"port {ports['api']} is taken") == 2
