"""Wall time of ``meshctl --help`` against bare-interpreter baselines, in one run.

Each command is started ROUNDS times, interleaved so machine noise hits all
of them alike; the median and the best are reported. Noise only ever adds
time, so the best run is the cost of the command itself and the verdict
uses it. Target: ``meshctl --help`` under 300 ms.
Run: ``.venv/bin/python benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

ROUNDS = 15
TARGET_MS = 300.0
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "meshctl --help": [sys.executable, "-m", "meshctl", "--help"],
    "meshctl version": [sys.executable, "-m", "meshctl", "version"],
}


def wall_ms(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the file cache before measuring
        wall_ms(argv)
    for _ in range(ROUNDS):
        for name, argv in COMMANDS.items():
            samples[name].append(wall_ms(argv))
    print(f"{'command':28} {'median ms':>10} {'best ms':>8}")
    for name, values in samples.items():
        print(f"{name:28} {statistics.median(values):10.1f} {min(values):8.1f}")
    help_ms = min(samples["meshctl --help"])
    typer_ms = min(samples["python -c 'import typer'"])
    verdict = "meets" if help_ms < TARGET_MS else "MISSES"
    over = help_ms - typer_ms
    print(f"\nmeshctl --help: {help_ms:.0f} ms best, {over:+.0f} ms over importing typer;")
    print(f"{verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
