#!/usr/bin/env python3
"""How much can a jitter buffer gain in jitter_eval's `jitter` scenario by following the
queueing wander per talkspurt? (BENCHMARKS.md, "Jitter buffer".)

The network is the scenario's own model (benches/src/bin/jitter_eval.rs: 20 ms packets, FIFO
link, 30 ms base delay, AR(1) wander with coefficient 0.97 and sigma 8 ms clipped at zero, plus
exponential jitter of mean 8 ms). Speech is modelled as 2.5 s talkspurts with 0.5 s pauses.
For each policy the script prints the share of speech packets later than their playout
(lost) against the mean playout delay, both over speech packets:

- constant: one playout delay for the whole call (a fixed buffer);
- history: each talkspurt gets the q-quantile (or the maximum) of the last M packets' delays
  plus a margin, fixed for the talkspurt (a causal per-talkspurt buffer);
- oracle: each talkspurt gets a margin plus g times the wander at its start, known exactly
  (an upper bound for any per-talkspurt estimate of the wander);
- tracking oracle: every packet gets a margin plus the wander L packets before it, known
  exactly (a buffer that changes its delay at every packet, inside speech too, and knows the
  queue it follows; an upper bound for following the wander continuously).

A per-talkspurt policy beats a constant delay only if it loses fewer packets at the same mean
delay. Usage: python3 wander_bound.py (numpy; about a minute).
"""

import numpy as np

PTIME_MS = 20.0
TALK, PAUSE = 125, 25  # packets: 2.5 s of speech, 0.5 s of pause


def network(count, seed=1):
    """Transit delay of each packet, ms, and the wander at each packet."""
    rng = np.random.default_rng(seed)
    delays = np.empty(count)
    wander_at = np.empty(count)
    wander, fifo_free = 0.0, 0.0
    for k in range(count):
        t = (k + 1) * PTIME_MS
        wander = 0.97 * wander + np.sqrt(1 - 0.97**2) * 8.0 * rng.standard_normal()
        at = max(t + 30.0 + max(wander, 0.0) + rng.exponential(8.0), fifo_free)
        fifo_free = at + 0.05
        delays[k] = at - t
        wander_at[k] = wander
    return delays, wander_at


def per_talkspurt(delays, starts, playout_at):
    """(lost share, mean delay) when talkspurt `s` plays at `playout_at(s)`."""
    lost, total, delay_sum = 0, 0, 0.0
    for s in starts:
        d = playout_at(s)
        speech = delays[s : s + TALK]
        lost += int((speech > d).sum())
        total += TALK
        delay_sum += d * TALK
    return lost / total, delay_sum / total


def main():
    delays, wander_at = network(200_000)
    starts = np.arange(100, len(delays) - TALK - PAUSE, TALK + PAUSE)
    print("policy, parameters: lost share @ mean delay (ms)")
    for d in (60, 65, 70, 75, 80, 85, 90):
        lost, mean = per_talkspurt(delays, starts, lambda s, d=d: d)
        print(f"constant {d}: {lost:.4f} @ {mean:.1f}")
    for m in (10, 25, 50):
        for q in (0.5, 0.9, 1.0):
            for c in (10, 20, 30):
                lost, mean = per_talkspurt(
                    delays, starts, lambda s: np.quantile(delays[s - m : s], q) + c
                )
                print(f"history M={m} q={q} +{c}: {lost:.4f} @ {mean:.1f}")
    for g in (0.25, 0.5, 1.0):
        for c in (60, 65, 70):
            lost, mean = per_talkspurt(
                delays, starts, lambda s: c + g * max(wander_at[s], 0.0)
            )
            print(f"oracle g={g} +{c}: {lost:.4f} @ {mean:.1f}")
    queue = np.maximum(wander_at, 0.0)
    for lag in (1, 10, 25):
        for c in (55, 60):
            playout = np.concatenate([np.full(lag, c + queue[0]), c + queue[:-lag]])
            lost, mean = tracking(delays, starts, playout)
            print(f"tracking oracle lag={lag} +{c}: {lost:.4f} @ {mean:.1f}")


def tracking(delays, starts, playout):
    """(lost share, mean delay) over the talkspurts' packets when packet k plays at
    `playout[k]`."""
    lost, delay_sum, total = 0, 0.0, 0
    for s in starts:
        speech, at = delays[s : s + TALK], playout[s : s + TALK]
        lost += int((speech > at).sum())
        delay_sum += float(at.sum())
        total += TALK
    return lost / total, delay_sum / total


if __name__ == "__main__":
    main()
