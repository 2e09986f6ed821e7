"""How much to measure: the full run, and the tiny one for CI smoke tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # mosaic-hb refuses intervals under 0.05 s, and every contender must beat
    # at the same rate for CPU per beat to compare.
    beat_interval: float = 0.05
    cpu_rounds: int = 3
    # CPU per beat comes from long minus short: 200 beats apart.
    cpu_short_beats: int = 3
    cpu_long_beats: int = 203
    strace_short_beats: int = 3
    strace_long_beats: int = 43
    detect_interval: float = 0.5
    detect_trials: int = 20
    launch_trials: int = 5
    fleet_sizes: tuple[int, ...] = (10, 100, 1000)
    fleet_runs: int = 5


FULL = Settings()
QUICK = Settings(
    cpu_rounds=2,
    cpu_short_beats=2,
    cpu_long_beats=10,
    strace_short_beats=2,
    strace_long_beats=6,
    detect_trials=3,
    launch_trials=1,
    fleet_runs=1,
)
