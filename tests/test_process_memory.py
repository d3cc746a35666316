"""The flow process's malloc and garbage-collector settings."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys

import pytest

from pipelines.process_memory import limit_malloc_arenas

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_malloc_arenas_are_capped_on_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True


def test_an_arena_limit_from_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_importing_the_flows_freezes_startup_objects_only():
    """Imports leave the collector's reach; what a run creates afterwards is still collected."""
    code = ("import gc, weakref\n"
            "import pipelines.flows\n"
            "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()\n"
            "class Node: pass\n"
            "a, b = Node(), Node(); a.other, b.other = b, a\n"
            "probe = weakref.ref(a); del a, b\n"
            "gc.collect()\n"
            "assert probe() is None\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert gc.isenabled()
