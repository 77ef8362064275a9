#!/usr/bin/env python3
"""What a change of timing costs in PESQ: edits a degraded WAV and scores each step.

Usage: pesq_edit_cost.py MODE REFERENCE DEGRADED EDIT...

MODE is `nb` or `wb` (as in pesq_score.py). Each EDIT is `+SECONDS:MS` (repeat the MS of
audio just before SECONDS there: a jitter buffer's hold or deceleration) or `-SECONDS:MS`
(remove MS of audio from SECONDS on: an acceleration), in the degraded file's time. The edits
are applied cumulatively, in the order given, and the score after each is printed, then the
score of the last edit alone; the length stays the reference's (padded or cut at the end).

Written for the jitter buffer's tuning (BENCHMARKS.md, "Jitter buffer"): with the edits an
adaptive buffer made (from `jitter_eval --trace`), applied to the fixed buffer's output of
the same network, it separates what the timing changes cost from what the concealment costs.
Scoring is pesq_score.py's: the median over five fractional delays.
"""

import sys

import numpy as np

from pesq_score import read, score


def parse(edit):
    sign, rest = edit[0], edit[1:]
    at, ms = rest.split(":")
    if sign not in "+-":
        raise ValueError(f"{edit}: starts with + or -")
    return sign, float(at), float(ms)


def apply(x, rate, edits):
    # Later edits first, so that each one's time is the unedited file's.
    for sign, at, ms in sorted(edits, key=lambda e: -e[1]):
        i, n = int(at * rate), int(ms * rate / 1000)
        if sign == "+":
            x = np.concatenate([x[:i], x[max(i - n, 0) : i], x[i:]])
        else:
            x = np.concatenate([x[:i], x[i + n :]])
    return x


def fit(x, n):
    return np.concatenate([x, np.zeros(max(0, n - len(x)), np.float32)])[:n]


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    mode, ref_path, deg_path = sys.argv[1:4]
    edits = [parse(e) for e in sys.argv[4:]]
    rate, ref = read(ref_path)
    _, deg = read(deg_path)
    print(f"unedited\t{score(rate, ref, deg, mode):.3f}")
    for k in range(1, len(edits) + 1):
        edited = fit(apply(deg, rate, edits[:k]), len(deg))
        print(f"{' '.join(sys.argv[4:4 + k])}\t{score(rate, ref, edited, mode):.3f}")
    if len(edits) > 1:
        edited = fit(apply(deg, rate, edits[-1:]), len(deg))
        print(f"{sys.argv[-1]} alone\t{score(rate, ref, edited, mode):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
