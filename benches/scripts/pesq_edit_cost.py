#!/usr/bin/env python3
"""What a change of timing costs in PESQ: edits a degraded WAV and scores each step.

Usage: pesq_edit_cost.py [--visqol] MODE REFERENCE DEGRADED EDIT...

MODE is `nb` or `wb` (as in pesq_score.py). Each EDIT is `+SECONDS:MS` (repeat the MS of
audio just before SECONDS there: a jitter buffer's hold or deceleration) or `-SECONDS:MS`
(remove MS of audio from SECONDS on: an acceleration), in the degraded file's time. The edits
are applied cumulatively, in the order given, and the score after each is printed, then the
score of the last edit alone; the length stays the reference's (padded or cut at the end).

Written for the jitter buffer's tuning (BENCHMARKS.md, "Jitter buffer"): with the edits an
adaptive buffer made (from `jitter_eval --trace`), applied to the fixed buffer's output of
the same network, it separates what the timing changes cost from what the concealment costs.
Scoring is pesq_score.py's: the median over five fractional delays. With `--visqol`, each
line also gets visqol_score.py's score (ViSQOL v3, speech mode), for comparing how the two
measures charge the same edit; the reference may then be the degraded file itself.
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
    args = sys.argv[1:]
    with_visqol = bool(args) and args[0] == "--visqol"
    if with_visqol:
        args = args[1:]
    if len(args) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    mode, ref_path, deg_path = args[:3]
    labels = args[3:]
    edits = [parse(e) for e in labels]
    rate, ref = read(ref_path)
    _, deg = read(deg_path)

    def scores(x):
        line = f"{score(rate, ref, x, mode):.3f}"
        if with_visqol:
            from visqol_score import score as visqol

            line += f"\t{visqol(rate, ref, x, mode):.3f}"
        return line

    print(f"unedited\t{scores(deg)}")
    for k in range(1, len(edits) + 1):
        edited = fit(apply(deg, rate, edits[:k]), len(deg))
        print(f"{' '.join(labels[:k])}\t{scores(edited)}")
    if len(edits) > 1:
        edited = fit(apply(deg, rate, edits[-1:]), len(deg))
        print(f"{labels[-1]} alone\t{scores(edited)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
