"""The parts of scripts/check-cross that can be proved without zig, qemu or the
network: that it compiles what setup.py compiles, from any directory, and that
its glibc reading flags a symbol newer than manylinux2014's 2.17.

The full check (six targets, qemu runs) is .ci/run's; these catch the drift
that broke it once: a C file added to the executable in setup.py alone.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check-cross"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file() or not sys.platform.startswith("linux"),
                                reason="needs the source tree, on Linux")


def check_cross():
    """scripts/check-cross as a module (it has no .py suffix); main() does not run."""
    loader = importlib.machinery.SourceFileLoader("check_cross", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_cross", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_check_cross_reads_setup_py_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup = check_cross().load_setup()
    version = (REPO / "src" / "mosaic_hb" / "_version.py").read_text()
    macro, value = setup.VERSION_MACRO
    assert macro == "MOSAIC_VERSION" and value.strip('"') in version


def test_the_sidecar_sources_of_every_platform_are_the_packages_c_files(tmp_path, monkeypatch):
    """check-cross compiles setup.sidecar_sources(platform); a C file the
    executable needs but no platform's list names would fail only there."""
    monkeypatch.chdir(tmp_path)
    setup = check_cross().load_setup()
    listed = set()
    for platform in ("linux", "darwin", "freebsd14"):
        sources = setup.sidecar_sources(platform)
        assert sources[-1] == setup.MAIN_SOURCE and len(sources) == len(set(sources))
        listed |= {Path(s).name for s in sources}
    on_disk = {p.name for p in (REPO / "src" / "mosaic_hb").glob("hb*.c")}
    assert listed == on_disk


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("readelf") is None, reason="needs gcc and readelf")
def test_highest_glibc_flags_a_symbol_above_2_17(tmp_path):
    """closefrom is GLIBC_2.34: a binary that calls it must read as above
    GLIBC_TARGET (zig's 2.17 stubs refuse to link it, so only a native
    build can show that the reading itself works)."""
    module = check_cross()
    source = tmp_path / "uses_closefrom.c"
    source.write_text("#define _GNU_SOURCE\n#include <unistd.h>\nint main(void) { closefrom(3); return 0; }\n")
    binary = tmp_path / "uses_closefrom"
    done = subprocess.run(["gcc", "-o", str(binary), str(source)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"this libc has no closefrom: {done.stderr.strip()[:200]}")
    ws = module.Workspace(keep_temp=False)
    try:
        highest = module.highest_glibc(ws, binary)
    finally:
        ws.close()
    assert highest is not None and highest >= (2, 34) and highest > module.GLIBC_TARGET
