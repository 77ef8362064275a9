#!/usr/bin/env python3
"""How often, and how much, a core runs slower than itself: the host's share of a benchmark.

    chrt -f 50 taskset -c 0 benches/scripts/cpu_slowdown.py [SECONDS]

Times a fixed chunk of arithmetic (about 30 µs) over and over, 4 ms of chunks then 6 ms of
sleep (40 % duty, like a media worker, so that the kernel's RT throttling never applies),
for SECONDS (30). Inside a guest nothing at normal kernel priorities can preempt a
SCHED_FIFO thread for long, and the chunk's data stays in L1, so a chunk that takes several
times its median means the virtual CPU itself ran slowly: the host ran something else on
it, in slices too short to show as stolen time in /proc/stat.

Prints the chunk's median and, per 20 ms window (a media packet's period), how many windows
ran more than 2× and 4× slower on average, and the worst ratios.
"""

import statistics
import sys
import time
from collections import defaultdict

CHUNK_ITERATIONS = 300
BUSY_NS = 4_000_000
SLEEP_S = 0.006
WINDOW_NS = 20_000_000


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    seconds = min(max(seconds, 1.0), 600.0)
    end = time.monotonic_ns() + int(seconds * 1e9)
    chunks = []  # (start ns, duration ns)
    while (busy_from := time.monotonic_ns()) < end:
        while time.monotonic_ns() - busy_from < BUSY_NS:
            start = time.monotonic_ns()
            total = 0
            for i in range(CHUNK_ITERATIONS):
                total += i
            chunks.append((start, time.monotonic_ns() - start))
        time.sleep(SLEEP_S)
    median = statistics.median(d for _, d in chunks)
    windows = defaultdict(list)
    for start, duration in chunks:
        windows[start // WINDOW_NS].append(duration)
    ratios = sorted(
        (statistics.mean(d) / median for d in windows.values() if len(d) > 5), reverse=True
    )
    print(
        f"{seconds:.0f} s, chunk median {median / 1000:.1f} µs, {len(ratios)} busy 20 ms windows: "
        f"{sum(r > 2 for r in ratios)} ran > 2× slower ({100 * sum(r > 2 for r in ratios) / max(len(ratios), 1):.1f} %), "
        f"{sum(r > 4 for r in ratios)} > 4×; worst {[round(r, 1) for r in ratios[:8]]}"
    )


if __name__ == "__main__":
    main()
