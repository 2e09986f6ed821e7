"""Build steps that pyproject.toml cannot express.

Two things are compiled from the same C core (``core_sources()``):

* the Cython extension ``mosaic_hb._hb``;
* the standalone ``mosaic-hb`` sidecar executable, so that a running sidecar
  carries no Python interpreter.

The executable is installed twice: on PATH through the ``scripts`` mechanism
(the wheel carries it in ``.data/scripts/``), and inside the package, so that
``mosaic_hb.spawn()`` starts the binary of this very installation rather than
whichever ``mosaic-hb`` comes first on PATH.
"""

import os
import re
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# setuptools provides `distutils` (its own copy, on every Python version) once
# it is imported; build_scripts and the compiler helpers live only there.
from distutils.command.build_scripts import build_scripts  # noqa: E402

PACKAGE_DIR = Path("src") / "mosaic_hb"
MAIN_SOURCE = str(PACKAGE_DIR / "hb_main.c")
# Compiled into the executable only: the pane log writer (mosaic-hb log).
EXECUTABLE_ONLY_SOURCES = [str(PACKAGE_DIR / "hb_log.c")]
SIDECAR_NAME = "mosaic-hb"


def core_sources(platform: str = sys.platform) -> list[str]:
    """The C core for PLATFORM (a sys.platform value), as psutil does it: the
    portable files plus exactly one hb_proc_*.c, the process code (start
    time and exit notifier) of that platform. hb_proc_posix.c serves every
    other POSIX system: no start time, no notifier. The kill(pid, 0) polling
    fallback is in hb_watch.c, compiled everywhere, since it is also chosen
    at run time (MOSAIC_HB_WATCH=poll, a kernel without pidfd_open)."""
    if platform.startswith("linux"):
        proc = "hb_proc_linux.c"
    elif platform == "darwin":
        proc = "hb_proc_darwin.c"
    else:
        proc = "hb_proc_posix.c"
    names = ["hb.c", "hb_record.c", "hb_watch.c", "hb_posix.c", proc]
    return [str(PACKAGE_DIR / name) for name in names]


def sidecar_sources(platform: str = sys.platform) -> list[str]:
    """What the mosaic-hb executable is compiled from for PLATFORM: the core,
    the executable-only files and hb_main.c. scripts/check-cross compiles
    exactly this list for each target."""
    return core_sources(platform) + EXECUTABLE_ONLY_SOURCES + [MAIN_SOURCE]


def read_version() -> str:
    text = (PACKAGE_DIR / "_version.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def version_macro() -> tuple[str, str]:
    return ("MOSAIC_VERSION", '"%s"' % read_version())


C_FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]


def compile_sidecar(command, output_dir: str) -> str:
    """Compile and link the mosaic-hb executable into OUTPUT_DIR."""
    from distutils.ccompiler import new_compiler
    from distutils.sysconfig import customize_compiler

    compiler = new_compiler(force=command.force)
    customize_compiler(compiler)
    build_temp = os.path.join(command.get_finalized_command("build").build_temp, "sidecar")
    # The executable is linked with linker_exe, which (unlike the extension's
    # linker) never sees ARCHFLAGS: pass them, so that a macOS cross-arch
    # build links for the target arch.
    arch_flags = os.environ.get("ARCHFLAGS", "").split() if sys.platform == "darwin" else []
    objects = compiler.compile(
        sidecar_sources(),
        output_dir=build_temp,
        macros=[version_macro()],
        include_dirs=[str(PACKAGE_DIR)],
        extra_postargs=C_FLAGS + arch_flags,
    )
    os.makedirs(output_dir, exist_ok=True)
    compiler.link_executable(objects, SIDECAR_NAME, output_dir=output_dir, extra_preargs=arch_flags)
    return os.path.join(output_dir, SIDECAR_NAME)


class BuildExt(build_ext):
    """build_ext that also puts the sidecar executable inside the package."""

    user_options = build_ext.user_options + [
        ("cython-linetrace", None, "build with Cython line tracing (for coverage; slower)"),
    ]
    boolean_options = build_ext.boolean_options + ["cython-linetrace"]

    def initialize_options(self):
        super().initialize_options()
        self.cython_linetrace = False

    def finalize_options(self):
        from Cython.Build import cythonize

        # pip cannot pass build_ext options; an environment variable can.
        if os.environ.get("MOSAIC_CYTHON_LINETRACE") == "1":
            self.cython_linetrace = True
        directives = {"language_level": "3", "embedsignature": True}
        extensions = self.distribution.ext_modules
        if self.cython_linetrace:
            directives["linetrace"] = True
            for ext in extensions:
                ext.define_macros.append(("CYTHON_TRACE_NOGIL", "1"))
        # Cythonize before setuptools sees the extensions, so it treats the
        # generated C like any other source.
        self.distribution.ext_modules = cythonize(extensions, compiler_directives=directives)
        super().finalize_options()

    def run(self):
        super().run()
        in_package = os.path.dirname(self.get_ext_fullpath("mosaic_hb._hb"))
        compile_sidecar(self, in_package)
        # An editable install imports from the source tree: put a copy there.
        if getattr(self, "editable_mode", False) and not self.inplace:
            self.copy_file(os.path.join(in_package, SIDECAR_NAME), str(PACKAGE_DIR / SIDECAR_NAME))

    def get_outputs(self):
        outputs = super().get_outputs()
        in_package = os.path.dirname(self.get_ext_fullpath("mosaic_hb._hb"))
        return outputs + [os.path.join(in_package, SIDECAR_NAME)]


class BuildScripts(build_scripts):
    """Compile mosaic-hb into the scripts build dir.

    The stock command copies scripts as text and rewrites their #! line; it
    would choke on an ELF file, so the compiled binary never goes through it.
    """

    def run(self):
        compile_sidecar(self, self.build_dir)


def main() -> None:
    if sys.platform == "win32":
        sys.exit("mosaic supports Linux and macOS; Windows is out of scope (no tmux, no setsid).")
    setup(
        ext_modules=[
            Extension(
                "mosaic_hb._hb",
                sources=[str(PACKAGE_DIR / "_hb.pyx")] + core_sources(),
                include_dirs=[str(PACKAGE_DIR)],
                define_macros=[version_macro()],
                extra_compile_args=C_FLAGS,
            )
        ],
        # Declared so that install_scripts runs; BuildScripts compiles it.
        scripts=[MAIN_SOURCE],
        cmdclass={"build_ext": BuildExt, "build_scripts": BuildScripts},
    )


# setuptools runs this file as __main__ (setuptools.build_meta does too);
# importing it, as a test does to check core_sources(), builds nothing.
if __name__ == "__main__":
    main()
