"""What a process pays to exit after importing TensorFlow, and what gc.freeze saves.

    python benchmarks/investigations/exit_cost.py [--rounds 5]

`python -m imdb_sweep` registers `gc.freeze` as its last exit handler
(imdb_sweep.process.process_wide.start_process), so the
interpreter's final garbage collection skips TensorFlow's object graph. This
times, alternating, a process that imports what a job imports (imdb_sweep.training.fit
and MLflow) and exits normally, the same with the freeze, and the same ending in
os._exit (no interpreter teardown at all: the floor).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IMPORTS = "import mlflow, imdb_sweep.training.fit"
VARIANTS = {
    "normal exit": IMPORTS,
    "gc.freeze at exit (what imdb_sweep does)": f"import atexit, gc; atexit.register(gc.freeze); {IMPORTS}",
    "os._exit (no teardown, the floor)": f"{IMPORTS}; import os; os._exit(0)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, code in VARIANTS.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - started)
    normal = statistics.median(seconds["normal exit"])
    print("| process (import, then exit) | median wall | saved vs normal exit |")
    print("|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} s | {normal - median:+.2f} s |")


if __name__ == "__main__":
    main()
