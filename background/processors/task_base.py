"""The Celery app class and task base class every discovered task runs on."""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

from celery import Celery, Task
from celery.app.task import _task_stack
from celery.exceptions import Ignore
from pydantic_core import to_jsonable_python

from background.processors.params import TaskParams, build_params_model, caller_check, check_parameter_types
from background.processors.progress import Progress
from background.processors.revocations import is_revoked, record_revoked_at_worker
from background.processors.runtime import get_runtime
from background.processors.single_run import single_run_guard
from background.processors.worker_liveness import after_worker_lost, take_lost_marker
from config.repository_factory import RepositoryFactory


class DuplicateTaskError(RuntimeError):
    """Two task functions claimed one task name."""


class ToolboxTask(Task):
    """Validates keyword arguments, injects the toolbox's helpers and runs `async def` bodies.

    Extra options a task may declare in `@celery_app.task(...)`:
    `single_run=True` (never active twice), `schedule=...` (see background.processors.schedule_resolution)
    and `catch_up="skip"|"once"` (what Beat does with ticks missed while no Beat ran).
    """

    single_run: bool = False
    schedule: Any = None
    catch_up: str = "skip"
    # `queue=` in the decorator lands here (Celery 5.7 deprecates the `queue` task attribute);
    # config/celery_config.py turns it into routes and consumed queues.
    declared_queue: str | None = None

    @cached_property
    def _signature_info(self) -> tuple[type[TaskParams], dict[str, type]]:
        run = type(self).__dict__.get("run")
        bound = not isinstance(run, staticmethod)
        return build_params_model(self.name, self._decorated_fun, bound=bound)

    def check_parameters(self) -> None:
        """Build the parameter model and its JSON Schema now; ParameterTypeError names a bad parameter."""
        run = type(self).__dict__.get("run")
        check_parameter_types(self._decorated_fun, bound=not isinstance(run, staticmethod))
        self.params_model.model_json_schema()

    @property
    def params_model(self) -> type[TaskParams]:
        """The Pydantic model of the task's caller-supplied parameters."""
        return self._signature_info[0]

    @property
    def description(self) -> str:
        """The first line of the task's docstring."""
        doc = inspect.getdoc(self._decorated_fun) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def long_description(self) -> str:
        """The whole docstring (the endpoint's description in /docs and /openapi.json)."""
        return inspect.getdoc(self._decorated_fun) or ""

    def _skip_if_revoked(self, task_id: str) -> None:
        # Celery's own revoke list lives in worker memory and is lost on restart; the persisted
        # one (one Redis EXISTS) stops a run revoked while it waited in the queue.
        if is_revoked(self.backend.client, task_id):
            record_revoked_at_worker(self, task_id)
            raise Ignore()

    def _injections(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, kind in self._signature_info[1].items():
            if issubclass(kind, RepositoryFactory):
                values[name] = get_runtime().repositories
            elif issubclass(kind, Progress):
                values[name] = Progress(self)
        return values

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        lost_owner = None
        if request.id and not request.called_directly and not request.is_eager:
            self._skip_if_revoked(request.id)
            # Set by a sweep that sent this run back after the worker running it died.
            lost_owner = take_lost_marker(self.backend.client, request.id, request.delivery_info)
        model = self.params_model
        validated = model.model_validate(kwargs)
        call_kwargs = {name: getattr(validated, name) for name in model.model_fields}
        call_kwargs.update(self._injections())
        # Push a request carrying only the caller's kwargs: the result backend stores the request,
        # and injected helpers are not JSON.
        _task_stack.push(self)
        self.push_request(args=args, kwargs=kwargs)
        try:
            with single_run_guard(self):
                if lost_owner is not None:
                    after_worker_lost(self, lost_owner)  # raises when the run must not go on
                result = self.run(*args, **call_kwargs)
                if inspect.isawaitable(result):
                    result = get_runtime().run(_await(result))
        finally:
            self.pop_request()
            _task_stack.pop()
        return to_jsonable_python(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


class ToolboxCelery(Celery):
    """Celery app that refuses a second function under an existing task name, and checks the
    arguments of `apply_async`/`delay` (and so Beat's sends) against the caller's parameters only."""

    def type_checker(self, fun: Any, bound: bool = False) -> Any:
        # Celery stores the result as the task class's `__header__`, run by apply_async when
        # `typing` is on (the default): see background.processors.params.caller_check.
        return staticmethod(caller_check(fun, bound=bound))

    def _task_from_fun(self, fun: Any, name: str | None = None, **options: Any) -> Any:
        existing = self._tasks.get(name) if name else None
        if existing is not None and getattr(existing, "_decorated_fun", None) is not fun:
            first = inspect.getsourcefile(existing._decorated_fun)
            second = inspect.getsourcefile(fun)
            raise DuplicateTaskError(f"task name {name!r} is declared twice: in {first} and in {second}")
        if "queue" in options:
            options["declared_queue"] = options.pop("queue")
        return super()._task_from_fun(fun, name=name, **options)
