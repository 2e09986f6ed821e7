"""`python -m bench`: measure everything, print the table, write the doc."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

from . import fleet_metrics, report, sidecar_metrics
from .contenders import BENCH_DIR, discover
from .procs import MARKER_VAR, sweep
from .settings import FULL, QUICK
from .sidecar_metrics import SidecarResult
from .workspace import Workspace

DEFAULT_OUTPUT = BENCH_DIR.parent / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark mosaic-hb against the bash heartbeat sidecar, a minimal C loop "
                    "and the in-process binding; print a Markdown table and write it to "
                    "docs/benchmarks.md.")
    parser.add_argument("--quick", action="store_true",
                        help="a few beats and 2-3 trials: a smoke run, not for conclusions")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the report (default: docs/benchmarks.md)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--sidecar", metavar="PATH",
                        help="the mosaic-hb executable to measure (default: the installed one)")
    parser.add_argument("--scratch", metavar="DIR", type=Path,
                        help="where the temporary run dirs go (default: the system's temp dir); "
                             "a beat's cost depends on this file system")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    marker = f"{os.getpid()}-{secrets.token_hex(6)}"
    # Set here too, so that even a child started without ws.env() carries it.
    os.environ[MARKER_VAR] = marker
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-", dir=args.scratch) as tmp:
        ws = Workspace(Path(tmp), marker, quiet=args.quiet)
        facts = report.machine_facts(Path(tmp))
        try:
            toolbox = discover(Path(tmp), args.sidecar)
            contenders = [c for c in toolbox.contenders if c.available]
            for c in toolbox.contenders:
                if not c.available:
                    ws.log(f"skipping {c.label}: {c.why_not}")
            sidecars = {c.key: SidecarResult() for c in toolbox.contenders}
            fleet = fleet_metrics.FleetResult()
            sidecar_metrics.measure_cpu_and_memory(contenders, settings, ws, sidecars)
            sidecar_metrics.measure_syscalls(contenders, settings, toolbox.strace, ws, sidecars)
            sidecar_metrics.measure_detection(contenders, settings, ws, sidecars)
            fleet_metrics.measure_launch(toolbox, settings, ws, fleet)
            fleet_metrics.measure_cli_startup(toolbox, settings, ws, fleet)
            fleet_metrics.measure_fleet_ps(toolbox, settings, ws, fleet)
        finally:
            sweep(marker)

    table, targets = report.build_table(toolbox, settings, sidecars, fleet)
    print(table.markdown())
    print()
    for line in report.summary_lines(targets) + report.notes_lines(toolbox, sidecars):
        print(line)
    for c in toolbox.contenders:
        for metric, why in sidecars[c.key].errors.items():
            if not why.startswith("n/a"):
                print(f"{c.label}, {metric}: {why}", file=sys.stderr)
    for kind, why in fleet.launch_errors.items():
        if not why.startswith("n/a"):
            print(f"launch, {kind}: {why}", file=sys.stderr)
    if fleet.ps_error and not fleet.ps_error.startswith("n/a"):
        print(f"fleet ps: {fleet.ps_error}", file=sys.stderr)
    if not args.no_write:
        document = report.render_document(table, targets, toolbox, settings, sidecars,
                                          facts, args.quick)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(document)
        ws.log(f"wrote {os.path.relpath(args.output)}")
    return 0
