"""`python -m bench`: measure everything, print the table, write the doc."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import fleet_live, fleet_metrics, log_metrics, report, sidecar_metrics
from .contenders import BENCH_DIR, discover
from .procs import MARKER_VAR, BenchError, sweep
from .settings import FULL, QUICK
from .sidecar_metrics import SidecarResult
from .workspace import Workspace, scratch_root

T = TypeVar("T")

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
    parser.add_argument("--hooks", action="store_true",
                        help="measure only the agent state hook (`mosaic-hb state`): one call's "
                             "whole-process time against `python3 -c pass`, and the latency to "
                             "the record; print the table, write nothing")
    parser.add_argument("--drive", action="store_true",
                        help="measure only mosaic send (latency to the text on the pane, against "
                             "tmux send-keys; a broadcast to 10) and mosaic wait (wake-up latency "
                             "and idle wake-ups, inotify and polling); print the table, write nothing")
    parser.add_argument("--logs", action="store_true",
                        help="measure only the pane log writer (`mosaic-hb log` behind pipe-pane) "
                             "against `pipe-pane 'cat >> file'`: private memory per agent and CPU "
                             "per MB; print the section and put it in the report")
    parser.add_argument("--log-agents", type=int, default=None, metavar="N",
                        help="agents for --logs (default 10; 3 with --quick)")
    parser.add_argument("--log-mb", type=int, default=None, metavar="MB",
                        help="megabytes each agent prints for --logs (default 20; 2 with --quick)")
    parser.add_argument("--restart", action="store_true",
                        help="measure only restarts by the sidecar (`mosaic-hb --restart`): crash to "
                             "new agent running, against `mosaic launch` by hand, and system calls "
                             "per beat with and without a policy; print the table, write nothing")
    live = parser.add_argument_group(
        "fleet with live agents",
        "`--fleet-live` runs only the fleet commands over live agents (fleet ps over 1-300 agents "
        "with and without idle processes, fleet down, fleet up against launch.sh) and writes their "
        "section of the report, leaving the rest of it as it was.")
    live.add_argument("--fleet-live", action="store_true",
                      help="measure fleet ps / down / up with live agents instead of the sidecars")
    live.add_argument("--compare", metavar="PYTHON",
                      help="also measure the mosaic installed for this interpreter (e.g. another "
                           "venv's bin/python), side by side, with ratios")
    live.add_argument("--label", default="current", help="this install's column (default: current)")
    live.add_argument("--compare-label", default="before",
                      help="the --compare install's column (default: before)")
    live.add_argument("--note", default="", help="a line printed in bold above the figures")
    args = parser.parse_args(argv)
    if (args.compare or args.note) and not args.fleet_live:
        parser.error("--compare and --note go with --fleet-live")
    if args.compare is not None and args.label == args.compare_label:
        parser.error("--label and --compare-label must differ")
    return args


def main_fleet_live(args: argparse.Namespace, argv: list[str]) -> int:
    import shutil

    settings = fleet_live.LIVE_QUICK if args.quick else fleet_live.LIVE_FULL
    tmux = shutil.which("tmux")
    if tmux is None:
        return fleet_live.main_error("--fleet-live needs tmux, which is not installed")
    try:
        installs = [fleet_live.this_install(args.label)]
        if args.compare is not None:
            installs.append(fleet_live.other_install(args.compare, args.compare_label))
    except BenchError as exc:
        return fleet_live.main_error(str(exc))
    marker = f"{os.getpid()}-{secrets.token_hex(6)}"
    os.environ[MARKER_VAR] = marker
    with scratch_root(args.scratch) as tmp:
        ws = Workspace(Path(tmp), marker, quiet=args.quiet)
        facts = report.machine_facts(Path(tmp))
        try:
            result = fleet_live.run(installs, tmux, settings, ws)
        finally:
            sweep(marker)
    section = fleet_live.render_section(installs, settings, result, facts,
                                        fleet_live.command_line(argv), args.note)
    print(section)
    for error in (result.ps_error, result.updown_error):
        if error:
            print(error, file=sys.stderr)
    if not args.no_write:
        old = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(fleet_live.merge_into(old, section))
        ws.log(f"wrote {os.path.relpath(args.output)}")
    return 1 if result.ps_error or result.updown_error else 0


def _measured(args: argparse.Namespace, label: str, run: Callable[[Workspace], T]) -> tuple[T | None, Workspace]:
    """RUN(ws) in a fresh scratch workspace whose processes carry a new
    marker and are swept afterwards: its result, or None once a BenchError
    has been printed as one line."""
    marker = f"{os.getpid()}-{secrets.token_hex(6)}"
    os.environ[MARKER_VAR] = marker
    with scratch_root(args.scratch) as tmp:
        ws = Workspace(Path(tmp), marker, quiet=args.quiet)
        try:
            return run(ws), ws
        except BenchError as exc:
            print(f"{label}: {exc}", file=sys.stderr)
            return None, ws
        finally:
            sweep(marker)


def main_hooks(args: argparse.Namespace) -> int:
    from . import hook_metrics

    sidecar = args.sidecar
    if sidecar is None:
        import mosaic_hb

        sidecar = mosaic_hb.sidecar_path()
    calls, trials = (20, 5) if args.quick else (500, 50)
    result, ws = _measured(args, "hooks", lambda ws: hook_metrics.run(sidecar, ws, calls, trials))
    if result is None:
        return 1
    print(hook_metrics.render(result))
    return 0


def main_drive(args: argparse.Namespace) -> int:
    from . import drive_metrics

    trials = 3 if args.quick else 20
    idle_s = 1.0 if args.quick else drive_metrics.IDLE_SECONDS
    result, ws = _measured(args, "drive", lambda ws: drive_metrics.run(ws, trials, idle_s))
    if result is None:
        return 1
    print(drive_metrics.render(result))
    return 0


def main_logs(args: argparse.Namespace, argv: list[str]) -> int:
    agents = args.log_agents or (3 if args.quick else 10)
    mb_each = args.log_mb or (2 if args.quick else 20)
    if agents < 1 or mb_each < 1:
        print("--log-agents and --log-mb must be at least 1", file=sys.stderr)
        return 2
    result, ws = _measured(args, "logs", lambda ws: log_metrics.run(ws, agents, mb_each, rounds=1 if args.quick else 3))
    if result is None:
        return 1
    section = log_metrics.render(result, " ".join(["python -m bench", *argv]))
    print(section)
    if not args.no_write:
        old = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(log_metrics.merge_into(old, section))
        ws.log(f"wrote {os.path.relpath(args.output)}")
    return 0


def main_restart(args: argparse.Namespace) -> int:
    from . import restart_metrics
    from .contenders import _mosaic_cli

    sidecar = args.sidecar
    if sidecar is None:
        import mosaic_hb

        sidecar = mosaic_hb.sidecar_path()
    cli = _mosaic_cli()
    if cli is None:
        print("restart: the mosaic CLI is not installed", file=sys.stderr)
        return 1
    settings = QUICK if args.quick else FULL
    trials = 3 if args.quick else 20
    result, ws = _measured(args, "restart", lambda ws: restart_metrics.run(sidecar, cli, ws, settings, trials))
    if result is None:
        return 1
    print(restart_metrics.render(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.hooks:
        return main_hooks(args)
    if args.drive:
        return main_drive(args)
    if args.logs:
        return main_logs(args, argv)
    if args.restart:
        return main_restart(args)
    if args.fleet_live:
        return main_fleet_live(args, argv)
    settings = QUICK if args.quick else FULL
    marker = f"{os.getpid()}-{secrets.token_hex(6)}"
    # Set here too, so that even a child started without ws.env() carries it.
    os.environ[MARKER_VAR] = marker
    with scratch_root(args.scratch) as tmp:
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
        # The fleet-live section comes from `--fleet-live` runs: keep it.
        kept = fleet_live.existing_section(args.output.read_text()) if args.output.exists() else ""
        if kept:
            document = fleet_live.merge_into(document, kept)
        # So does the pane-log section, from `--logs` runs.
        logs_kept = log_metrics.existing_section(args.output.read_text()) if args.output.exists() else ""
        if logs_kept:
            document = log_metrics.merge_into(document, logs_kept)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(document)
        ws.log(f"wrote {os.path.relpath(args.output)}")
    return 0
