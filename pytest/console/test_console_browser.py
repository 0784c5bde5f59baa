"""The console in a real browser: sign in, run from a form, follow live, retry, stop, schedules, roles, ETL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx

import pytest
from support.browser import chromium, screenshot
from support.console_stack import ConsoleStack

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    pytest.skip("playwright is not installed (uv sync --dev)", allow_module_level=True)

expect.set_options(timeout=45_000)  # a loaded 2-core machine; no assertion depends on speed
BATCH = "zz-browser-batch"


@pytest.fixture(scope="module")
def browser(console: ConsoleStack) -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def open_console(browser: Any, console: ConsoleStack, mint: Callable[..., str],
                 request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """open_console(role) -> a page signed in through the `#token=` link; a screenshot is kept on failure."""
    pages: list[Page] = []

    def open_as(role: str = "operator", subject: str = "ana", path: str = "#/tasks") -> Page:
        context = browser.new_context(viewport={"width": 1320, "height": 900})
        page = context.new_page()
        page.goto(f"{console.api_url}/#token={mint(role, subject=subject)}")
        expect(page.locator("#who-role")).to_have_text(role)
        if path != "#/tasks":
            page.evaluate("hash => { location.hash = hash; }", path)
        pages.append(page)
        return page

    yield open_as
    failed = getattr(request.node, "rep_call", None)
    for number, page in enumerate(pages):
        if failed is not None and failed.failed:
            screenshot(page, f"FAILED-{request.node.name}-{number}")
        page.context.close()


def _api(console: ConsoleStack, token: str) -> httpx.Client:
    return httpx.Client(base_url=console.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_sign_in_by_pasting_a_token_and_sign_out(browser: Any, console: ConsoleStack, mint: Callable[..., str]) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(console.api_url + "/")
        expect(page.get_by_role("heading", name="Sign in to Toolbox")).to_be_visible()
        screenshot(page, "signin")
        page.get_by_label("Token").fill("not-a-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#token-err")).to_contain_text("refused")
        page.get_by_label("Token").fill(mint("viewer", subject="vera"))
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who-name")).to_have_text("vera")
        expect(page.locator("#who-role")).to_have_text("viewer")
        expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in to Toolbox")).to_be_visible()
        # The one-click link: the token leaves the address bar at once.
        page.goto(f"{console.api_url}/#token={mint('operator', subject='otto')}")
        expect(page.locator("#who-name")).to_have_text("otto")
        assert "token" not in page.url
    finally:
        context.close()


def test_tasks_are_grouped_by_domain_and_filtered(open_console: Callable[..., Page], console: ConsoleStack) -> None:
    page = open_console()
    expect(page.get_by_role("region", name="Domain toolbox")).to_be_visible()
    etl = page.locator('[data-task="toolbox.etl"]')
    expect(etl).to_contain_text("single run")
    expect(etl).to_contain_text("0 7-19/2 * * 1-6")
    expect(etl).to_contain_text("Every 2 hours from 07:00 to 19:00, on Monday through Saturday")
    screenshot(page, "tasks")
    page.get_by_label("Filter tasks").fill(f"{console.domain.name}.console_every")
    expect(page.locator("[data-task]")).to_have_count(1)
    expect(page.locator(f'[data-task="{console.task("every_type")}"]')).to_be_visible()
    page.get_by_label("Filter tasks").fill("no such thing at all")
    expect(page.get_by_text("No task matches")).to_be_visible()


def test_an_invalid_value_shows_its_field_error_and_a_valid_one_runs(
    open_console: Callable[..., Page], console: ConsoleStack
) -> None:
    page = open_console(path=f"#/tasks/{console.task('every_type')}")
    expect(page.get_by_role("heading", name=console.task("every_type"))).to_be_visible()
    expect(page.get_by_label("Region")).to_have_value('"north"')  # enums are selects, defaults filled in
    assert page.get_by_label("On", exact=True).get_attribute("type") == "date"
    assert page.get_by_label("At", exact=True).get_attribute("type") == "datetime-local"
    expect(page.locator("#f-title-help")).to_contain_text("A short title · at least 3 characters")
    page.get_by_label("Title").fill("ab")
    page.get_by_label("Count").fill("11")
    page.get_by_role("button", name="Run task").click()
    expect(page.locator("#f-title-err")).to_have_text("Must be at least 3 characters.")
    expect(page.locator("#f-count-err")).to_have_text("Must be at most 10.")
    screenshot(page, "form-errors")
    # Checked only by the server: integers must fit in 64 bits. Its 422 lands next to the field.
    page.get_by_label("Title").fill("quarterly")
    page.get_by_label("Count").fill("3")
    page.get_by_label("Limit").fill("9223372036854775808")
    page.get_by_role("button", name="Run task").click()
    expect(page.locator("#f-limit-err")).to_contain_text("integers must lie between")
    expect(page.locator("#f-title-err")).to_have_text("")
    page.get_by_label("Limit").fill("")
    page.get_by_label("Region").select_option(label="south")
    page.get_by_label("Mode").select_option(label="careful")
    page.get_by_label("On", exact=True).fill("2024-05-01")
    page.get_by_label("Tags").fill("a, b")
    page.get_by_label("Enabled").uncheck()
    page.get_by_role("button", name="Run task").click()
    expect(page).to_have_url(re.compile(r"#/runs/[0-9a-f-]{36}$"))
    expect(page.locator(".run-state .badge")).to_have_text("SUCCESS")
    result = page.locator("pre.json").first
    expect(result).to_contain_text('"region": "south"')
    expect(result).to_contain_text('"on": "2024-05-01"')
    expect(result).to_contain_text('"enabled": false')
    expect(result).to_contain_text('"tags": [')


def test_progress_and_log_lines_appear_live_until_success(open_console: Callable[..., Page],
                                                         console: ConsoleStack) -> None:
    page = open_console(path=f"#/tasks/{console.task('steps')}")
    page.get_by_label("Steps").fill("5")
    page.get_by_label("Pause S").fill("1.5")
    page.get_by_role("button", name="Run task").click()
    expect(page).to_have_url(re.compile(r"#/runs/"))
    logs = page.locator(".logs .line")
    expect(logs.first).to_contain_text("step 1 of 5 done")
    badge = page.locator(".run-state .badge")
    assert badge.inner_text() in {"STARTED", "PROGRESS"}  # the line arrived while the run went on
    expect(page.locator(".live")).to_be_visible()
    screenshot(page, "run-live")
    expect(badge).to_have_text("SUCCESS")
    expect(page.locator(".progress-line")).to_contain_text("5 / 5")
    expect(logs).to_have_count(5)
    expect(page.get_by_role("table", name="Result rows").locator("tbody tr")).to_have_count(5)
    expect(page.locator("dl.kv")).to_contain_text("Runtime")
    screenshot(page, "run-finished")


def test_a_stream_cut_before_the_final_state_is_resumed(open_console: Callable[..., Page], console: ConsoleStack,
                                                        mint: Callable[..., str]) -> None:
    """The API ends a stream it cannot feed (Redis lost) without the final state: the page reconnects."""
    seen: list[str] = []

    def events(route: Any) -> None:
        seen.append(route.request.url)
        if len(seen) == 1:  # as the API ends a stream when Redis goes away: a comment, then the end
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                          body=": cut, Redis is unreachable; reconnect with Last-Event-ID\n\n")
        else:
            route.continue_()

    page = open_console()
    page.route(re.compile(r"/tasks/status/[^/]+/events$"), events)
    with _api(console, mint("operator")) as http:
        task_id = http.post(f"/tasks/execute/{console.task('steps')}", json={"steps": 3, "pause_s": 1.5}).json()["task_id"]
    page.evaluate("hash => { location.hash = hash; }", f"#/runs/{task_id}")
    expect(page.locator(".run-state .badge")).to_have_text("SUCCESS")
    expect(page.locator(".logs .line")).to_have_count(3)
    assert len(seen) >= 2  # the cut stream, then the one that carried the run to its end


def test_retry_a_finished_run(open_console: Callable[..., Page], console: ConsoleStack,
                              mint: Callable[..., str]) -> None:
    with _api(console, mint("operator")) as http:
        first = http.post(f"/tasks/execute/{console.task('steps')}", json={"steps": 1, "pause_s": 0, "fail": True}).json()["task_id"]
        assert http.get(f"/tasks/status/{first}", params={"wait": 30}).json()["status"] == "FAILURE"
    page = open_console(path=f"#/runs/{first}")
    expect(page.locator(".error-box")).to_contain_text("failed on purpose")
    expect(page.locator(".logs")).to_contain_text("giving up on purpose")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("dialog")).to_contain_text("Retry this run?")
    page.get_by_role("dialog").get_by_role("button", name="Retry").click()
    expect(page).not_to_have_url(re.compile(first))
    expect(page.locator("dl.kv")).to_contain_text(first[:8])  # its parent
    expect(page.locator(".run-state .badge")).to_have_text("FAILURE")


def test_the_run_page_lists_the_retries_of_a_retried_run(open_console: Callable[..., Page], console: ConsoleStack,
                                                         mint: Callable[..., str]) -> None:
    with _api(console, mint("operator")) as http:
        first = http.post(f"/tasks/execute/{console.task('steps')}", json={"steps": 1, "pause_s": 0, "fail": True}).json()["task_id"]
        assert http.get(f"/tasks/status/{first}", params={"wait": 30}).json()["status"] == "FAILURE"
        retries = []
        for _ in range(2):
            retry = http.post(f"/tasks/{first}/retry").json()["task_id"]
            assert http.get(f"/tasks/status/{retry}", params={"wait": 30}).json()["status"] == "FAILURE"
            retries.append(retry)
    page = open_console(path=f"#/runs/{first}")
    links = page.locator("#retry-runs a")
    expect(links).to_have_count(2)
    expect(links).to_have_text([retry[:8] for retry in reversed(retries)])  # newest first
    screenshot(page, "run-retries")
    links.first.click()
    expect(page).to_have_url(re.compile(retries[-1]))
    expect(page.locator("dl.kv")).to_contain_text(first[:8])  # its parent
    expect(page.locator("#retry-runs")).to_have_text("—")  # a retry nobody retried


def test_stop_a_long_run(open_console: Callable[..., Page], console: ConsoleStack, mint: Callable[..., str]) -> None:
    with _api(console, mint("operator")) as http:
        task_id = http.post(f"/tasks/execute/{console.task('sleepy')}", json={"seconds": 300}).json()["task_id"]
    page = open_console(path=f"#/runs/{task_id}")
    expect(page.locator(".progress-line")).to_contain_text("sleeping")
    page.get_by_role("button", name="Stop").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".run-state .badge")).not_to_have_text("REVOKED")
    page.get_by_role("button", name="Stop").click()
    dialog.get_by_role("button", name="Stop run").click()
    expect(page.locator(".run-state .badge")).to_have_text("REVOKED")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()


def test_pause_and_resume_a_schedule(open_console: Callable[..., Page]) -> None:
    page = open_console(path="#/schedules")
    row = page.locator('[data-schedule="toolbox.kpi"]')
    expect(row).to_contain_text("At 01:30, every day")
    # Next runs in the schedule's time zone (the page says which), not the browser's (UTC here).
    expect(page.get_by_text("Times in America/Lima.")).to_be_visible()
    expect(row.locator("td").nth(3)).to_contain_text("01:30:00")
    screenshot(page, "schedules")
    row.get_by_role("button", name="Pause toolbox.kpi").click()
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("by ana")
    row.get_by_role("button", name="Resume toolbox.kpi").click()
    expect(row).to_contain_text("active")
    expect(row.get_by_role("button", name="Pause toolbox.kpi")).to_be_visible()


def test_a_viewer_sees_no_control(open_console: Callable[..., Page], console: ConsoleStack,
                                  mint: Callable[..., str]) -> None:
    with _api(console, mint("operator")) as http:
        done = http.post(f"/tasks/execute/{console.task('steps')}", json={"steps": 1, "pause_s": 0}).json()["task_id"]
        running = http.post(f"/tasks/execute/{console.task('sleepy')}", json={"seconds": 60}).json()["task_id"]
        http.get(f"/tasks/status/{done}", params={"wait": 30})
    try:
        page = open_console("viewer", subject="vera", path=f"#/tasks/{console.task('steps')}")
        expect(page.get_by_text("Your role is viewer")).to_be_visible()
        expect(page.locator("main form")).to_have_count(0)
        expect(page.get_by_role("button", name="Run task")).to_have_count(0)
        page.evaluate("hash => { location.hash = hash; }", f"#/runs/{done}")
        expect(page.locator(".run-state .badge")).to_have_text("SUCCESS")
        expect(page.get_by_role("button", name="Retry")).to_have_count(0)
        page.evaluate("hash => { location.hash = hash; }", f"#/runs/{running}")
        expect(page.locator(".run-state .badge")).not_to_have_text("PENDING")
        expect(page.get_by_role("button", name="Stop")).to_have_count(0)
        page.evaluate("hash => { location.hash = hash; }", "#/schedules")
        expect(page.locator('[data-schedule="toolbox.kpi"]')).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("^(Pause|Resume) "))).to_have_count(0)
        page.evaluate("hash => { location.hash = hash; }", "#/tasks")
        expect(page.locator("[data-task] .btn").first).to_have_text("Details")
    finally:
        with _api(console, mint("operator")) as http:
            http.post(f"/tasks/{running}/revoke", json={"terminate": True})


@pytest.fixture
def rejected_batch(servers: dict[str, Any]) -> Iterator[str]:
    async def arrange(sql: str, *args: Any, many: list[tuple[Any, ...]] | None = None) -> None:
        conn = await asyncpg.connect(servers["postgres"].dsn)
        try:
            if many is not None:
                await conn.executemany(sql, many)
            else:
                await conn.execute(sql, *args)
        finally:
            await conn.close()

    def run(*args: Any, **kwargs: Any) -> None:
        # Playwright's sync API keeps an event loop running in this thread: SQL runs in another.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, arrange(*args, **kwargs)).result()

    run("insert into etl_batches (name, status, loaded_at, counts) values ($1, 'loaded', "
        "now() + interval '2 days', '{\"operations\": {\"inserted\": 118, \"updated\": 2}}')", BATCH)
    run(
        "insert into etl_rejects (batch, file, line_number, reason, raw) values ($1, $2, $3, $4, $5)",
        many=[(BATCH, "operations.csv", n, "disbursed_on is not a date written YYYY-MM-DD",
               f"OP-{n:04d},C01,D07,PEN,12500.00,0.90,0.021,150,05/{n:02d}/2024,2024-07-30,active")
              for n in range(2, 62)])
    try:
        yield BATCH
    finally:
        run("delete from etl_rejects where batch = $1", BATCH)
        run("delete from etl_batches where name = $1", BATCH)


def test_an_etl_batch_and_its_rejected_lines(open_console: Callable[..., Page], rejected_batch: str) -> None:
    page = open_console("viewer", subject="vera", path="#/etl")
    row = page.locator(f'[data-batch="{rejected_batch}"]')
    expect(row).to_contain_text("60")
    screenshot(page, "etl-batches")
    row.get_by_role("link", name=rejected_batch).click()
    table = page.get_by_role("table", name="Rejected lines")
    expect(table.locator("tbody tr")).to_have_count(50)
    first = table.locator("tbody tr").first
    expect(first).to_contain_text("operations.csv")
    expect(first).to_contain_text("OP-0002,C01,D07,PEN,12500.00,0.90,0.021,150,05/02/2024,2024-07-30,active")
    expect(first).to_contain_text("disbursed_on is not a date written YYYY-MM-DD")
    expect(first.locator("td").nth(1)).to_have_text("2")
    screenshot(page, "etl-rejects")
    page.get_by_role("button", name="Load more").click()
    expect(table.locator("tbody tr")).to_have_count(60)
    expect(page.get_by_text("60 of 60 lines shown")).to_be_visible()


def test_history_and_workers_pages(open_console: Callable[..., Page], console: ConsoleStack,
                                   mint: Callable[..., str]) -> None:
    with _api(console, mint("operator")) as http:
        ids = [http.post(f"/tasks/execute/{console.task('chatty')}", json={"lines": 1}).json()["task_id"] for _ in range(3)]
        for task_id in ids:
            http.get(f"/tasks/status/{task_id}", params={"wait": 30})
    page = open_console(path=f"#/history?task={console.task('chatty')}")
    table = page.get_by_role("table", name="Runs")
    expect(table.locator("tbody tr").first).to_contain_text(ids[-1][:8])  # newest first
    expect(table.locator("tbody tr").first).to_contain_text("SUCCESS")
    screenshot(page, "history")
    page.get_by_label("Status").select_option("FAILURE")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No run matches these filters yet.")).to_be_visible()
    page.get_by_role("link", name="Workers").click()
    expect(page.get_by_role("table", name="Queues")).to_contain_text(console.domain.name)
    expect(page.locator(".stat")).to_have_count(4)
    expect(page.locator(".stat").first).to_contain_text("workers online")
    screenshot(page, "workers")


def test_every_shipped_task_gets_a_form_with_a_labelled_field_per_parameter(
    open_console: Callable[..., Page], console: ConsoleStack, mint: Callable[..., str]
) -> None:
    with _api(console, mint("viewer")) as http:
        catalog = http.get("/tasks/available").json()["available_tasks"]
    shipped = {key: t for key, t in catalog.items() if t["name"].split(".")[0] in {"toolbox", "maintenance"}}
    page = open_console()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for key, task in shipped.items():
        page.evaluate("hash => { location.hash = hash; }", f"#/tasks/{key}")
        expect(page.get_by_role("heading", name=task["name"], exact=True)).to_be_visible()
        form = page.get_by_role("form", name="Run parameters")
        names = list(task["parameters"].get("properties", {}))
        expect(form.locator(".field")).to_have_count(len(names))
        for name in names:
            control = form.locator(f"#f-{name}")
            expect(control).to_have_count(1)
            assert control.evaluate("el => el.labels.length") == 1, (task["name"], name)
            assert control.evaluate("el => el.tagName") != "TEXTAREA", (task["name"], name)  # a typed control
    assert errors == []
