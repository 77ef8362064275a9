#!/usr/bin/env python3
"""Scores degraded speech against references with ViSQOL v3 (speech mode), for jitter_eval.

Usage: visqol_score.py MANIFEST

The manifest is pesq_score.py's: one job per line, tab-separated: `nb` or `wb`, the reference
WAV, the degraded WAV (mono 16-bit PCM at 8000 or 16000 Hz). For each job one line goes to
stdout: the degraded path, a tab, and the MOS-LQO, or `nan` and the error. Jobs run in
`VISQOL_JOBS` processes (default 2). Needs the PyPI package `visqol-python[lattice]` (a
Python port of Google's ViSQOL v3 that matches the C++ tool's conformance scores; the
`lattice` extra gives the speech-mode mapping the C++ tool uses by default).

Why a second measure: PESQ (P.862) was built for a constant delay per utterance. A jitter
buffer that changes its delay inside speech (a hold for a late packet, a time-stretch) is
scored by how well P.862's alignment happens to cope, which is erratic: one 10 ms repetition
costs a clean clip anything from 0.00 to 0.33 PESQ MOS depending on where it falls, and 0.00 to
0.07 ViSQOL MOS (BENCHMARKS.md, "Jitter buffer"; `pesq_edit_cost.py --visqol`). ViSQOL aligns short patches of the spectrogram on their own
and was designed and validated for exactly these VoIP conditions (Hines, Skoglund, Kokaram,
Harte: "ViSQOL: an objective speech quality model", EURASIP J. Audio, Speech, and Music
Processing 2015:13, experiments on clock drift, time warping and playout adjustments, where
PESQ under-predicts quality).

Speech mode works at 16 kHz, so narrowband files (and their references) are upsampled 2:1
first: the score is then on ViSQOL's wideband scale, lower for narrowband speech, and the same
for both buffers under comparison.
"""

import sys

import numpy as np
from scipy.signal import resample_poly

from pesq_score import score_manifest

SPEECH_RATE = 16000

_api = None


def api():
    """One ViSQOL instance per worker process (its model loads once)."""
    global _api
    if _api is None:
        from visqol import VisqolApi

        _api = VisqolApi()
        _api.create(mode="speech")
    return _api


def at_speech_rate(rate, x):
    if rate == SPEECH_RATE:
        return x.astype(np.float64)
    if SPEECH_RATE % rate:
        raise ValueError(f"{rate} Hz: not a divisor of {SPEECH_RATE}")
    return resample_poly(x.astype(np.float64), SPEECH_RATE // rate, 1)


def score(rate, ref, deg, _mode):
    ref, deg = at_speech_rate(rate, ref) / 32768.0, at_speech_rate(rate, deg) / 32768.0
    return api().measure_from_arrays(ref, deg, sample_rate=SPEECH_RATE).moslqo


def main():
    return score_manifest(score, __doc__, "VISQOL_JOBS")


if __name__ == "__main__":
    sys.exit(main())
