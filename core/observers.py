"""Synthetic observers: eye-tracker samples of people watching a :mod:`core.synthetic` clip.

Real gaze data cannot ship with the project, so the demo and the sample project (``python -m core.synthetic``)
make their own, written as the raw-sample CSV :mod:`core.gaze.fixations` reads (``subject, video, t, x, y,
event``). Each observer follows the moving object the way people follow a small moving target:

- **Centre bias at the start**: every trial begins on a central fixation cross, so the first 150–350 ms
  look at the frame's centre; later, a fixation goes to the centre instead of the object with a small
  probability per observer (5–15 %), as viewers of videos do between events (Tseng et al., "Quantifying
  center bias of observers in free viewing of dynamic natural scenes", JoV 2009).
- **Saccade lag**: a saccade aims at where the object was one saccade latency ago (150–250 ms per observer,
  the usual visually guided latency), lands with a Gaussian aiming error (2–4 % of the frame width), and
  lasts 30–60 ms (event ``S``).
- **Pursuit and fixations**: between saccades the gaze pursues the object with a velocity gain below one
  (0.8–0.95), so it falls behind and catch-up saccades follow; fixation durations are gamma distributed
  (mean ~280 ms, at least 100 ms); each sample adds tremor noise. Samples are ``F`` (fixation/pursuit).
- **Blinks**: about one per 3 s and observer, 100–150 ms of samples with event ``B`` and no position
  (:mod:`core.gaze.fixations` counts and reports them as not fixations).

Samples come at :data:`RATE` Hz from a clock with a random phase per observer. Everything is drawn from
``numpy.random.default_rng((seed, subject, clip index))``: the same arguments give the same samples.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.outputs import atomic_path

RATE = 60.0
"""Samples per second (a common remote eye-tracker rate)."""
COLUMNS = ("subject", "video", "t", "x", "y", "event")


@dataclass(frozen=True)
class Observer:
    """One synthetic subject's habits (drawn once per subject by :func:`observers`)."""

    latency: float  # s: a saccade aims where the object was this long ago
    gain: float  # smooth-pursuit velocity gain (< 1: the gaze falls behind the object)
    aim: float  # σ of the landing error, as a fraction of the frame width
    tremor: float  # σ of the per-sample noise, as a fraction of the frame width
    centre: float  # probability that a fixation goes to the frame's centre instead of the object


def observers(count: int, seed: int = 0) -> list[Observer]:
    """``count`` observers with habits drawn in the ranges of the module docstring."""
    rng = np.random.default_rng((seed, 7919))
    return [Observer(latency=float(rng.uniform(0.15, 0.25)), gain=float(rng.uniform(0.8, 0.95)),
                     aim=float(rng.uniform(0.02, 0.04)), tremor=float(rng.uniform(0.003, 0.006)),
                     centre=float(rng.uniform(0.05, 0.15)))
            for _ in range(count)]


def _object_at(centers: np.ndarray, fps: float, t: np.ndarray | float) -> np.ndarray:
    """The object's centre (x, y) at time ``t`` s (frame k shown over [k/fps, (k+1)/fps)), held at the ends."""
    frame = np.clip(np.asarray(t, np.float64) * fps - 0.5, 0, len(centers) - 1)
    steps = np.arange(len(centers))
    return np.stack([np.interp(frame, steps, centers[:, 0]), np.interp(frame, steps, centers[:, 1])], axis=-1)


def watch(centers: np.ndarray, size: tuple[int, int], fps: float, observer: Observer,
          rng: np.random.Generator, rate: float = RATE) -> list[tuple[float, float, float, str]]:
    """One observer's samples ``(t, x, y, event)`` over a clip whose object is at ``centers`` ([T, 2]) in a
    frame of ``size`` (height, width) shown at ``fps``; x and y are NaN during blinks (event ``B``)."""
    height, width = size
    duration = len(centers) / fps
    middle = np.array([(width - 1) / 2, (height - 1) / 2])
    times = np.arange(rng.uniform(0, 1 / rate), duration, 1 / rate)
    samples: list[tuple[float, float, float, str]] = []
    position = middle + rng.normal(0, observer.aim * width, 2)
    anchor, follow = position.copy(), False  # where the fixation landed; whether it pursues the object
    landed = 0.0
    fixation_end = rng.uniform(0.15, 0.35)  # the central fixation cross
    saccade: tuple[float, float, np.ndarray, np.ndarray] | None = None  # (start, end, from, to)
    blink_at, blink_end = rng.uniform(0.5, 3.0), -1.0
    for t in times:
        if saccade is None and t >= fixation_end:  # the next saccade: aim, with the observer's lag
            if rng.random() < observer.centre:
                target, follow = middle + rng.normal(0, min(height, width) / 8, 2), False
            else:
                lagged = _object_at(centers, fps, max(t - observer.latency, 0.0))
                target, follow = lagged + rng.normal(0, observer.aim * width, 2), True
            saccade = (t, t + rng.uniform(0.03, 0.06), position.copy(), target)
        if saccade is not None and t >= saccade[1]:  # landed: a fixation (pursuing the object) begins
            anchor, landed, saccade = saccade[3], t, None
            fixation_end = t + max(0.1, rng.gamma(4.0, 0.07))
        if saccade is not None:
            start, end, origin, target = saccade
            position = origin + (target - origin) * (t - start) / (end - start)
            event = "S"
        else:
            position = anchor.copy()
            if follow:  # pursuit: the lagged object's displacement since landing, scaled by the gain
                moved = (_object_at(centers, fps, t - observer.latency)
                         - _object_at(centers, fps, landed - observer.latency))
                position = position + observer.gain * moved
            event = "F"
        if t >= blink_at:
            blink_at, blink_end = t + rng.uniform(2.0, 4.0), t + rng.uniform(0.1, 0.15)
        if t < blink_end:
            samples.append((float(t), float("nan"), float("nan"), "B"))
            continue
        noisy = position + rng.normal(0, observer.tremor * width, 2)
        samples.append((float(t), float(noisy[0]), float(noisy[1]), event))
    return samples


def write_samples(path: str | Path, clips: Mapping[str, tuple[np.ndarray, tuple[int, int]]], fps: float, *,
                  subjects: int = 5, seed: int = 0, rate: float = RATE) -> Path:
    """Write the samples of ``subjects`` observers watching each clip as one CSV (atomically).

    ``clips`` maps the video's file name (the CSV's ``video`` column, as :mod:`core.gaze.fixations` matches
    it) to the object's centres ``[T, 2]`` and the frame size ``(height, width)``. Subjects are ``s01``,
    ``s02``, ...; times in seconds, positions in video pixels (empty during blinks).
    """
    habits = observers(subjects, seed)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for index, (video, (centers, size)) in enumerate(clips.items()):
            for number, observer in enumerate(habits, start=1):
                rng = np.random.default_rng((seed, number, index))
                for t, x, y, event in watch(np.asarray(centers, np.float64), size, fps, observer, rng, rate):
                    where = ("", "") if np.isnan(x) else (f"{x:.2f}", f"{y:.2f}")
                    writer.writerow((f"s{number:02d}", video, f"{t:.4f}", *where, event))
    return Path(path)
