"""Settings refuse placeholder secrets outside local runs; Celery is configured for safety."""

from __future__ import annotations

from pydantic import ValidationError

import pytest
from config.celery_config import celery_app, discovered_tasks
from config.settings import AuthSettings, Settings


@pytest.mark.parametrize("secret", ["", "changeme", "secret"])
def test_production_refuses_a_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="AUTH_JWT_SECRET must be set"):
        Settings(environment="production", auth=AuthSettings(jwt_secret=secret))


def test_local_runs_get_a_random_secret_kept_under_var(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = Settings(environment="local", var_dir=tmp_path, auth=AuthSettings(jwt_secret=""))
    second = Settings(environment="local", var_dir=tmp_path, auth=AuthSettings(jwt_secret=""))
    assert len(first.auth.jwt_secret) >= 40
    assert first.auth.jwt_secret == second.auth.jwt_secret
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_celery_is_configured_for_at_least_once_json_delivery() -> None:
    conf = celery_app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_track_started is True and conf.result_extended is True
    assert conf.worker_send_task_events is True


def test_visibility_timeout_exceeds_every_task_time_limit() -> None:
    limits = [celery_app.conf.task_time_limit] + [t.time_limit for t in discovered_tasks.values() if t.time_limit]
    assert celery_app.conf.broker_transport_options["visibility_timeout"] > max(limits)
