"""`var/up.env`: where the running `toolbox up` serves, for a shell (`. var/up.env`) and the CLI.

`toolbox up` writes it once the API answers and removes it when it stops. The variables carry a
`TOOLBOX_` prefix and are not exported, so sourcing the file never redirects a later
`toolbox up` (which would take `DATABASE_URL`/`REDIS_URL` for external servers).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from config.settings import PROJECT_ROOT

FILE_NAME = "up.env"


def default_var_dir() -> Path:
    """The folder `toolbox up` uses (VAR_DIR, else ./var of the project), without reading the settings."""
    return Path(os.environ.get("VAR_DIR") or PROJECT_ROOT / "var").resolve()


def write(var_dir: Path, values: dict[str, str]) -> Path:
    """Write `values` as shell assignments (owner-only: the file holds a token)."""
    path = var_dir / FILE_NAME
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def read(var_dir: Path) -> dict[str, str]:
    """The assignments of `var/up.env`, or {} when there is none."""
    try:
        text = (var_dir / FILE_NAME).read_text()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if sep and key.isidentifier():
            parts = shlex.split(raw)
            values[key] = parts[0] if parts else ""
    return values


def remove(var_dir: Path) -> None:
    """Forget the running stack (it stopped)."""
    (var_dir / FILE_NAME).unlink(missing_ok=True)


def _alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_stack(var_dir: Path | None = None) -> dict[str, str]:
    """`var/up.env` of a `toolbox up` that is still running, else {} (a crashed run leaves a stale file)."""
    values = read(var_dir or default_var_dir())
    return values if _alive(values.get("TOOLBOX_PID", "")) else {}


def adopt_running_stack() -> str | None:
    """Point DATABASE_URL/REDIS_URL of this process at the running local stack when they are unset.

    Returns the path of the file used, or None. Called by the CLI before the settings are read.
    """
    var_dir = default_var_dir()
    values = running_stack(var_dir)
    if not values:
        return None
    adopted = False
    for ours, theirs in (("DATABASE_URL", "TOOLBOX_DATABASE_URL"), ("REDIS_URL", "TOOLBOX_REDIS_URL")):
        if not os.environ.get(ours) and values.get(theirs):
            os.environ[ours] = values[theirs]
            adopted = True
    return str(var_dir / FILE_NAME) if adopted else None
