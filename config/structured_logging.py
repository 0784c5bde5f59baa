"""Structured log lines (logfmt or JSON, `LOG_FORMAT`) carrying the task id, for API and workers.

Every line has `ts level logger msg`, plus `task_id` / `task_name` when known: from the record
(`extra={"task_id": ...}`), else from the Celery task executing in this process.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from celery import current_task
from celery.signals import after_setup_logger, after_setup_task_logger

from config.settings import get_settings

# color_message: uvicorn's ANSI-coloured copy of msg, for terminals only.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "task_id", "task_name",
                                                               "color_message"}
# A line stays bounded whatever a task carries: Celery hands its receive/failure context (task
# arguments included) to handlers as the `data` extra, and a message may quote a large value.
MAX_MESSAGE_CHARS = 8192
MAX_EXTRA_CHARS = 1024
MAX_TRACEBACK_CHARS = 16384


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


class TaskContextFilter(logging.Filter):
    """Adds `task_id` and `task_name` to records that lack them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "task_id", None) is None:
            task = current_task
            request = getattr(task, "request", None) if task else None
            task_id = getattr(request, "id", None) if request is not None else None
            if task_id:
                record.task_id = task_id
                if getattr(record, "task_name", None) is None:
                    record.task_name = getattr(task, "name", None)
            else:
                record.task_id = None
        if not hasattr(record, "task_name"):
            record.task_name = None
        return True


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class StructuredFormatter(logging.Formatter):
    """One line per record: logfmt (`key=value ...`) or a JSON object."""

    def __init__(self, style_name: str = "logfmt") -> None:
        super().__init__()
        self.style_name = style_name

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _capped(record.getMessage(), MAX_MESSAGE_CHARS),
        }
        for key in ("task_id", "task_name"):
            value = getattr(record, key, None)
            if value is not None:
                fields[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in fields:
                fields[key] = value if isinstance(value, int | float | bool) else _capped(str(value), MAX_EXTRA_CHARS)
        if record.exc_info:
            text = self.formatException(record.exc_info)
            # The innermost frames and the exception line come last: those are kept.
            fields["exc"] = text if len(text) <= MAX_TRACEBACK_CHARS else "…" + text[-MAX_TRACEBACK_CHARS:]
        if self.style_name == "json":
            return orjson.dumps(fields, default=str).decode()
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


def install(handler: logging.Handler) -> None:
    """Give a handler the structured formatter and the task-context filter."""
    handler.setFormatter(StructuredFormatter(get_settings().log_format))
    if not any(isinstance(f, TaskContextFilter) for f in handler.filters):
        handler.addFilter(TaskContextFilter())


# uvicorn's own loggers (set up by uvicorn before it imports the app) and Python's warnings.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings")


class AlreadyLoggedFilter(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for an error the API's handler already logged.

    Starlette re-raises an exception after the 500 handler answered, and uvicorn logs it again:
    without this each 500 would be two entries.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(error, "_toolbox_logged", False)


def mark_logged(error: BaseException) -> None:
    """Note that `error` has been logged with its traceback (see AlreadyLoggedFilter)."""
    try:
        error._toolbox_logged = True  # type: ignore[attr-defined]
    except AttributeError:  # an exception class with __slots__: it may be logged twice
        pass


def configure_api_logging() -> None:
    """Every line of the API process in one format: Toolbox's loggers, uvicorn's and warnings, to stderr.

    Called while uvicorn imports the app, so it replaces the handlers uvicorn's log config installed
    (this works for `uvicorn main:app` and for `toolbox up` alike).
    """
    logger = logging.getLogger("toolbox")
    if any(getattr(h, "_toolbox", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._toolbox = True  # type: ignore[attr-defined]
    install(handler)
    handler.addFilter(AlreadyLoggedFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.captureWarnings(True)
    for name in UVICORN_LOGGERS:
        other = logging.getLogger(name)
        other.handlers = [handler] if name != "uvicorn.error" else []
        # uvicorn.error propagates to "uvicorn": one handler, one line per record.
        other.propagate = name == "uvicorn.error"


@after_setup_logger.connect
@after_setup_task_logger.connect
def _structure_celery_handlers(logger: logging.Logger, **_: Any) -> None:
    # Celery set up its handlers (log file, level); only their line format is replaced.
    for handler in logger.handlers:
        install(handler)
