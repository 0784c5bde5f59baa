"""NOTIFY_WEBHOOKS is parsed and checked at start-up; webhooks outside local runs must be signed."""

from __future__ import annotations

import json

from pydantic import ValidationError

import pytest
from config.celery_config import celery_app
from config.settings import AuthSettings, NotifySettings, Settings

REAL = AuthSettings(jwt_secret="a-real-secret-" + "x" * 30)


def test_webhooks_come_from_json_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_WEBHOOKS", json.dumps([{"url": "https://hooks.example.com/a", "tasks": ["toolbox.*"]},
                                                      {"url": "http://127.0.0.1:9/b", "events": ["schedule_failed"]}]))
    hooks = NotifySettings().webhooks
    assert [(h.url, h.events, h.tasks) for h in hooks] == [
        ("https://hooks.example.com/a", ["failure", "recovery", "schedule_failed"], ["toolbox.*"]),
        ("http://127.0.0.1:9/b", ["schedule_failed"], ["*"])]


@pytest.mark.parametrize("hook", [{"url": "ftp://x"}, {"url": "https://x", "events": ["explosion"]},
                                  {"url": "https://x", "events": []}, {"url": "https://x", "secret": "s"}])
def test_a_malformed_webhook_stops_start_up(monkeypatch: pytest.MonkeyPatch, hook: dict[str, object]) -> None:
    monkeypatch.setenv("NOTIFY_WEBHOOKS", json.dumps([hook]))
    with pytest.raises(ValidationError):
        NotifySettings()


def test_production_webhooks_need_a_real_secret() -> None:
    hooks = NotifySettings(webhooks=[{"url": "https://hooks.example.com/a"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="NOTIFY_SECRET must be set"):
        Settings(environment="production", auth=REAL, notify=hooks)
    signed = NotifySettings(webhooks=hooks.webhooks, secret="a-long-random-webhook-secret")
    assert Settings(environment="production", auth=REAL, notify=signed).notify.secret
    assert Settings(environment="production", auth=REAL).notify.webhooks == []


def test_the_delivery_task_is_registered_but_never_discovered() -> None:
    from background.processors.base import BaseProcessor
    from config.celery_config import discovered_tasks

    assert "maintenance.deliver_notification" in celery_app.tasks
    assert "maintenance.deliver_notification" not in discovered_tasks
    assert "deliver_notification" not in BaseProcessor(discovered_tasks).catalog["available_tasks"]
    assert "notifications" in {queue.name for queue in celery_app.conf.task_queues}
