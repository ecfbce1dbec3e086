"""Shared fixtures: the built guest programs and a way to run the CLI as users do."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("HVSIM_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(BUILD, "python"))

import hvsim  # noqa: E402


@pytest.fixture
def guest():
    """guest('hello') -> path of a built guest-kit program."""
    return hvsim.guest_program


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + ":" + os.path.join(BUILD, "python")
    env["HVSIM_BUILD_DIR"] = BUILD
    return env


@pytest.fixture
def cli():
    """cli('run', '--kernel', ...) -> CompletedProcess of `python3 -m hvsim ...` (no build)."""
    def run(*args, timeout=300, cwd=None):
        return subprocess.run(["/usr/bin/python3", "-m", "hvsim", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, env=_env(), cwd=cwd)
    return run
