"""The installed package: one version everywhere, and the sidecar it ships.

src/mosaic_hb/_version.py is the one place the version is written. The C
build compiles it into mosaic-hb (setup.py's MOSAIC_VERSION macro) and
`mosaic --version` imports it, so a mosaic-hb left over from an older build
is caught here. These tests run against whatever installation is imported:
the editable one in development, the wheel under cibuildwheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

import mosaic_hb
from tests.support.run import MODULE, mosaic_argv


def installed_script(name: str) -> str | None:
    """The console script NAME that this installation put in its scripts
    dir (the dir that is on PATH when its environment is active), else the
    one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def output_of(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout.strip()


def test_version_is_one_string():
    version = mosaic_hb.__version__
    assert version and version == version.strip() and " " not in version


def test_mosaic_and_mosaic_hb_report_the_package_version():
    version = mosaic_hb.__version__
    mosaic = installed_script("mosaic")
    sidecar = installed_script("mosaic-hb")
    assert sidecar is not None, "the mosaic-hb executable is not installed as a script"

    said = {
        "python -m mosaic_launch --version": output_of(mosaic_argv("--version", via=MODULE)),
        "mosaic-hb --version": output_of([sidecar, "--version"]),
        "sidecar_path() --version": output_of([mosaic_hb.sidecar_path(), "--version"]),
    }
    expected = {
        "python -m mosaic_launch --version": f"mosaic {version}",
        "mosaic-hb --version": f"mosaic-hb {version}",
        "sidecar_path() --version": f"mosaic-hb {version}",
    }
    if mosaic is not None:  # the console script; python -m covers an install without one
        said["mosaic --version"] = output_of([mosaic, "--version"])
        expected["mosaic --version"] = f"mosaic {version}"
    assert said == expected

def test_packaged_sidecar_is_the_same_build_as_the_one_on_path():
    packaged = Path(mosaic_hb.sidecar_path())
    assert packaged.is_file(), f"{packaged} is missing"
    assert os.access(packaged, os.X_OK), f"{packaged} is not executable"
    assert packaged.read_bytes()[:4] in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"), \
        f"{packaged} is not a compiled executable"

    on_path = installed_script("mosaic-hb")
    assert on_path is not None, "mosaic-hb is not installed as a script"
    assert output_of([str(packaged), "--version"]) == output_of([on_path, "--version"])


def test_python_rules_are_the_c_ones():
    """The agent-name rule and the interval bounds are defined in hb.h; the
    Python constants that readers use must be those very values."""
    from mosaic_hb import _hb, record, rules

    assert (record.INTERVAL_MIN, record.INTERVAL_MAX) == (_hb.INTERVAL_MIN, _hb.INTERVAL_MAX) == (0.05, 86400)
    assert (mosaic_hb.INTERVAL_MIN, mosaic_hb.INTERVAL_MAX) == (_hb.INTERVAL_MIN, _hb.INTERVAL_MAX)
    assert mosaic_hb.AGENT_NAME_RULE.endswith(f"{{0,{_hb.AGENT_NAME_MAX - 1}}}")
    longest = "a" * _hb.AGENT_NAME_MAX
    for name in (longest, longest + "a", "-a", "a_b-c", "é"):
        assert bool(rules.AGENT_NAME.match(name)) == mosaic_hb.valid_agent_name(name), name
    # Every record the C core writes fits what a reader accepts.
    assert _hb.RECORD_WRITE_MAX <= record.RECORD_MAX_BYTES


def test_sidecar_help_states_the_c_interval_bounds():
    help_text = output_of([mosaic_hb.sidecar_path(), "--help"])
    assert f"{mosaic_hb.INTERVAL_MIN:g} to {mosaic_hb.INTERVAL_MAX:g}" in help_text


def test_setup_compiles_exactly_one_platform_file_per_platform():
    setup_py = Path(__file__).resolve().parent.parent / "setup.py"
    if not setup_py.is_file():
        pytest.skip("no source tree (an installed wheel)")
    pytest.importorskip("setuptools")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mosaic_setup", setup_py)
    module = importlib.util.module_from_spec(spec)
    cwd = os.getcwd()
    os.chdir(setup_py.parent)  # setup.py names its sources relative to the project
    try:
        spec.loader.exec_module(module)  # setup() runs only as __main__
        for platform, expected in (("linux", "hb_proc_linux.c"), ("darwin", "hb_proc_darwin.c"),
                                   ("freebsd14", "hb_proc_posix.c")):
            sources = module.core_sources(platform)
            assert [Path(s).name for s in sources if Path(s).name.startswith("hb_proc_")] == [expected]
            assert all(Path(s).is_file() for s in sources), sources
    finally:
        os.chdir(cwd)


def test_pi_extension_is_package_data_next_to_the_sidecar():
    """`pi -e` loads it from the installed package, and it finds mosaic-hb
    next to itself: the wheel (package-data) and the sdist (MANIFEST.in)
    must both carry it; scripts/check-dist checks the built wheel."""
    import fnmatch

    from mosaic_launch import hooks

    extension = Path(hooks.pi_extension_path())
    assert extension.is_file() and extension.parent == Path(mosaic_hb.sidecar_path()).parent
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        return  # run against an installed wheel without the sources
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch.fnmatch(extension.name, glob) for glob in data["mosaic_hb"])
    manifest = [line.split() for line in (root / "MANIFEST.in").read_text().splitlines()]
    assert any(words[:2] == ["recursive-include", "src/mosaic_hb"]
               and any(fnmatch.fnmatch(extension.name, glob) for glob in words[2:]) for words in manifest)
