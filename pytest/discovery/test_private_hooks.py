"""Every private Celery/kombu/redbeat hook Toolbox relies on still exists and still behaves.

`pyproject.toml` bounds celery, kombu and celery-redbeat to the minor versions these hooks were
written against; when a bound is raised, these tests say at once which hook moved.
"""

from __future__ import annotations

import inspect
from typing import Any

from celery import current_task
from celery.app.task import _task_stack  # type: ignore[attr-defined]
from celery.schedules import crontab
from kombu.transport import redis as kombu_redis

import pytest
from background.processors.progress import Progress
from background.processors.schedule_resolution import expression_of
from background.processors.task_base import DuplicateTaskError, ToolboxCelery, ToolboxTask


def _app() -> ToolboxCelery:
    app = ToolboxCelery("hooks", task_cls=ToolboxTask, broker="memory://", backend="cache+memory://",
                        set_as_current=False)
    app.finalize()  # a finalized app builds each task at once (discovery imports after finalizing too)
    return app


def test_task_from_fun_is_where_a_second_function_under_one_name_is_refused() -> None:
    app = _app()

    def first() -> None: ...

    def second() -> None: ...

    task = app.task(name="hooks.one", shared=False)(first)
    assert task._decorated_fun is first  # the original function, kept by Celery on the task
    app.task(name="hooks.one", shared=False)(first)  # the same function again is harmless (a re-import)
    with pytest.raises(DuplicateTaskError, match="hooks.one"):
        app.task(name="hooks.one", shared=False)(second)
    assert "fun" in inspect.signature(type(app)._task_from_fun).parameters


def test_type_checker_becomes_the_send_time_argument_check() -> None:
    app = _app()

    def job(progress: Progress, limit: int = 3) -> int:
        return limit

    task = app.task(name="hooks.job", shared=False)(job)
    header: Any = task.__header__  # what apply_async calls with the caller's arguments
    header(limit=5)  # the injected `progress` is not the caller's to pass
    with pytest.raises(TypeError):
        header(nope=1)


def test_task_stack_is_what_current_task_reads() -> None:
    app = _app()
    task = app.task(name="hooks.stacked", shared=False)(lambda: None)
    _task_stack.push(task)
    try:
        assert current_task._get_current_object() is task
    finally:
        _task_stack.pop()


def test_crontab_keeps_the_fields_as_written() -> None:
    assert expression_of(crontab(minute="*/15", hour="1-3", day_of_week="mon")) == ("*/15 1-3 * * mon", {})


def test_kombu_redis_channel_builds_connection_parameters_in_connparams() -> None:
    parameters = inspect.signature(kombu_redis.Channel._connparams).parameters
    assert "asynchronous" in parameters


# --- kombu's Redis QoS and Channel internals that background/processors/broker.py and
# --- background/processors/worker_liveness.py (dead workers) build on.


def test_kombu_qos_append_still_writes_what_broker_py_reproduces() -> None:
    # broker.QoS.append copies kombu's append to add the owner in the same MULTI/EXEC: the copy is
    # only right while kombu writes these two entries, with this JSON of the raw message.
    source = inspect.getsource(kombu_redis.QoS.append)
    for written in ("self.unacked_index_key", "self.unacked_key", "message._raw", "delivery['exchange']",
                    "delivery['routing_key']", "pipe_or_acquire", "super().append(message, delivery_tag)"):
        assert written in source, f"kombu's QoS.append no longer has {written!r}: update broker.QoS.append"
    assert list(inspect.signature(kombu_redis.QoS.append).parameters) == ["self", "message", "delivery_tag"]


def test_kombu_qos_remove_from_indices_takes_a_pipe_and_returns_it() -> None:
    # broker.QoS chains `.hdel(owner key)` on what it returns; worker_liveness calls it inside its transaction.
    assert list(inspect.signature(kombu_redis.QoS._remove_from_indices).parameters) == ["self", "delivery_tag", "pipe"]
    source = inspect.getsource(kombu_redis.QoS._remove_from_indices)
    assert "return pipe.zrem(self.unacked_index_key, delivery_tag)" in source
    assert ".hdel(self.unacked_key, delivery_tag)" in source


def test_kombu_qos_restore_unacked_once_is_what_a_closing_channel_calls() -> None:
    assert list(inspect.signature(kombu_redis.QoS.restore_unacked_once).parameters) == ["self", "stderr"]
    from kombu.transport import virtual

    # kombu's virtual Channel.close is what calls it (the Redis channel inherits that close).
    assert "qos.restore_unacked_once()" in inspect.getsource(virtual.Channel.close).replace("self.", "")


def test_kombu_channel_restores_a_message_with_do_restore_message() -> None:
    # worker_liveness restores a dead owner's message as kombu's own restore_by_tag does.
    parameters = list(inspect.signature(kombu_redis.Channel._do_restore_message).parameters)
    assert parameters[:5] == ["self", "payload", "exchange", "routing_key", "pipe"]
    source = inspect.getsource(kombu_redis.QoS.restore_by_tag)
    assert "self.channel._do_restore_message(M, EX, RK, pipe, leftmost)" in source
    assert "loads(bytes_to_str(p))" in source  # the unacked entry's format worker_liveness decodes
    assert isinstance(kombu_redis.Channel.unacked_key, str) and isinstance(kombu_redis.Channel.unacked_index_key, str)


def test_kombu_virtual_message_keeps_its_raw_payload() -> None:
    from kombu.transport import virtual

    assert "self._raw = payload" in inspect.getsource(virtual.Message.__init__)


def test_asyncpg_copy_in_runs_the_copy_statement_it_is_given() -> None:
    # repositories/etl.py sends `COPY ... (ON_ERROR ignore)` through it: copy_to_table has no such option.
    import asyncpg

    parameters = list(inspect.signature(asyncpg.connection.Connection._copy_in).parameters)
    assert parameters == ["self", "copy_stmt", "source", "timeout"]
    assert "copy_stmt" in inspect.getsource(asyncpg.connection.Connection._copy_in)
