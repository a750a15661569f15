"""A study's result: the scores, their summary and the pairwise tests, and the tables built from them."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from core.errors import CamError
from core.saliency import ALL_METRICS, BETTER, Protocol
from core.study.baselines import normalised
from core.study.scoring import Progress, StudyScores, StudySpec, run_study
from core.study.stats import pairwise_tests, summarise

SCORE_FIELDS = ("run", "video", "class", "frame", "protocol", *ALL_METRICS)
"""The columns of ``scores.csv`` under the ``exact`` protocol (:func:`score_fields` gives any study's)."""
SUMMARY_FIELDS = ("run", "metric", "mean", "std", "n", "ci_low", "ci_high", "frame_pooled_mean", "normalised",
                  "better", "protocol")
TEST_FIELDS = ("metric", "run_a", "run_b", "n", "statistic", "p", "p_holm", "effect", "better", "protocol")
FRAME_CAP = 50_000
"""Under ``mit``, the frame-pooled mean averages at most this many frames, a seeded random subset (DHF1K's
evaluationFunc.m: "we evaluate at most 50000 randomly selected frames in one dataset")."""
ALPHA = 0.05
MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


@dataclass
class StudyResult:
    spec: StudySpec
    scores: StudyScores
    summary: list[dict]
    tests: list[dict]

    @property
    def runs(self) -> list[str]:
        return self.scores.runs

    @property
    def protocol(self) -> Protocol:
        return self.scores.protocol

    @property
    def metrics(self) -> list[str]:
        """The metrics with at least one score (sAUC is empty when there are no other videos' fixations)."""
        return [m for m in self.scores.metrics if any(row["n"] for row in self.summary if row["metric"] == m)]

    @property
    def centre(self) -> str | None:
        """The centre baseline a run is placed against: ``center_fit`` when scored, else ``center``."""
        return next((b for b in ("center_fit", "center") if b in self.scores.baselines), None)

    def stat(self, run: str, metric: str) -> dict:
        return next(row for row in self.summary if row["run"] == run and row["metric"] == metric)

    def test(self, run_a: str, run_b: str, metric: str) -> dict | None:
        for row in self.tests:
            if row["metric"] == metric and {row["run_a"], row["run_b"]} == {run_a, run_b}:
                return row
        return None

    def best(self, metric: str) -> str | None:
        """The run (or baseline) with the best mean on ``metric``; the human bound is a ceiling, not a
        competitor, and is never the best."""
        means = [(self.stat(run, metric)["mean"], run) for run in self.runs if run != "human"]
        means = [(mean, run) for mean, run in means if math.isfinite(mean)]
        if not means:
            return None
        pick = max if BETTER[metric] == "higher" else min
        return pick(means, key=lambda item: item[0])[1]

    def mark(self, run: str, metric: str) -> str:
        """``*``/``**``/``***`` when ``run`` differs from the metric's best at Holm-corrected p < .05/.01/.001."""
        best = self.best(metric)
        test = None if best is None or best == run else self.test(run, best, metric)
        if test is None or not math.isfinite(test["p_holm"]):
            return ""
        return next((mark for limit, mark in MARKS if test["p_holm"] < limit), "")

    def to_json(self) -> dict:
        """Summary, tests and what was left out, NaN as null."""
        return _json_safe({"protocol": str(self.protocol), "summary": self.summary, "tests": self.tests,
                "better": {m: BETTER[m] for m in self.metrics}, "center_sigmas": self.scores.center_sigmas,
                "runs": self.runs, "baselines": self.scores.baselines, "videos": self.scores.videos,
                "missing": self.scores.missing, "notes": self.scores.notes,
                "frames_scored": self.scores.frames_scored()})


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def compute(spec: StudySpec, progress: Progress | None = None, workers: int | None = None) -> StudyResult:
    """Score, summarise and test (see :mod:`core.study`); ``workers`` as :func:`~core.study.run_study`."""
    scores = run_study(spec, progress, workers)
    metrics = [m for m in scores.metrics if any(math.isfinite(row[m]) for row in scores.rows)]
    if not metrics:
        why = next((note for note in scores.notes if "not scored" in note), None)
        raise CamError("No clip of the study could be scored" + (f" (e.g. {why})" if why else "")
                       + "; check that the gaze holds fixations inside what the models saw.")
    cap = FRAME_CAP if scores.protocol == Protocol.MIT else None
    summary = summarise(scores.rows, scores.runs, metrics, frame_cap=cap)
    tests = pairwise_tests(scores.rows, scores.runs, metrics)
    _place(summary, scores.baselines)
    for row in (*summary, *tests):
        row["protocol"] = str(scores.protocol)
    return StudyResult(spec, scores, summary, tests)


def _place(summary: list[dict], baselines: list[str]) -> None:
    """Each summary row's ``normalised`` mean: (run − centre) / (human − centre) (:func:`normalised`), with
    the fitted centre when it was scored; NaN without a human bound and a centre baseline."""
    centre = next((b for b in ("center_fit", "center") if b in baselines), None)
    means = {(row["run"], row["metric"]): row["mean"] for row in summary}
    for row in summary:
        bounds = (means.get((centre, row["metric"]), math.nan), means.get(("human", row["metric"]), math.nan))
        row["normalised"] = normalised(row["mean"], *bounds)


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.10g}"
    return "" if value is None else value


def csv_text(rows: list[dict], fields: tuple[str, ...]) -> str:
    """Rows as CSV text (NaN as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(row.get(k)) for k in fields} for row in rows)
    return buffer.getvalue()


def score_fields(result: StudyResult) -> tuple[str, ...]:
    """The columns of ``scores.csv``: run, video, class, frame, protocol, then the study's metrics."""
    return (*SCORE_FIELDS[:5], *result.scores.metrics)


def scores_csv(result: StudyResult) -> str:
    protocol = str(result.protocol)
    return csv_text([{**row, "protocol": protocol} for row in result.scores.rows], score_fields(result))


def summary_csv(result: StudyResult) -> str:
    return csv_text(result.summary, SUMMARY_FIELDS)


def tests_csv(result: StudyResult) -> str:
    return csv_text(result.tests, TEST_FIELDS)
