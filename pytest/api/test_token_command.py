"""`toolbox token` refuses what the API would refuse, with one line and no traceback."""

from __future__ import annotations

import subprocess
import sys

import jwt

import pytest
from config.settings import get_settings
from support.processes import ROOT


def _token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "config.cli", "token", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (["--ttl", "-5"], "--ttl must be a positive number of seconds"),
    (["--ttl", "0"], "--ttl must be a positive number of seconds"),
    (["--subject", ""], "the subject is empty"),
    (["--subject", "a" * 201], "at most 200"),
    (["--subject", "eve\nadmin"], "control character"),
    (["--subject", "nul\x01"], "control character"),
], ids=["negative_ttl", "zero_ttl", "empty_subject", "long_subject", "line_break", "control_char"])
def test_a_bad_ttl_or_subject_is_refused_in_one_line(args: list[str], says: str) -> None:
    done = _token(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr


def test_a_good_token_is_minted() -> None:
    done = _token("--role", "viewer", "--subject", "alice@example.com", "--ttl", "60")
    assert done.returncode == 0, done.stderr
    auth = get_settings().auth
    claims = jwt.decode(done.stdout.strip(), auth.jwt_secret, algorithms=[auth.jwt_algorithm], issuer=auth.issuer)
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == ("alice@example.com", "viewer", 60)
