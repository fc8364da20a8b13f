"""Large blocks served from memory the process keeps, inside freed_memory_retained only (radiounet._allocator)."""

import os
import subprocess
import sys

import pytest

from radiounet._allocator import on_glibc

pytestmark = pytest.mark.skipif(not on_glibc(), reason="the setting applies to glibc's malloc only")

# Resident memory (MiB) that a fresh process keeps after 256 MiB were allocated, written and freed, inside the
# context or not (argv[1]).
_PROBE = """
import contextlib, os, sys, numpy as np
from radiounet._allocator import freed_memory_retained
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = resident()
with freed_memory_retained() if sys.argv[1] == "inside" else contextlib.nullcontext():
    block = np.ones(2**25)
    del block
print(resident() - before)
"""


def _kept_mib(where, **env):
    result = subprocess.run([sys.executable, "-c", _PROBE, where], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return float(result.stdout)


def test_blocks_freed_inside_the_context_stay_for_reuse():
    assert _kept_mib("inside") > 200


def test_blocks_outside_the_context_are_given_back():
    assert _kept_mib("outside") < 50


def test_the_setting_can_be_turned_off():
    assert _kept_mib("inside", RADIOUNET_RETAIN_MEMORY="0") < 50
