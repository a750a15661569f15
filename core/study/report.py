"""A study's outputs: ``scores.csv``, ``summary.csv``, ``tests.csv``, ``report.md`` and PNG figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import CamError
from core.gaze.scores import PROTOCOL_TEXT, metric_title
from core.outputs import atomic_path
from core.saliency import BETTER
from core.study.pictures import print_panels
from core.study.result import ALPHA, MARKS, StudyResult, scores_csv, summary_csv, tests_csv
from core.study.tables import latex_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = ("summary", "distributions", "pvalues", "classes")
BASELINE_TEXT = {
    "center": "a Gaussian centred on the scoring grid, σx = W/4, σy = H/4",
    "others": "leave one video out: the mean of the other videos' gaze densities, each summing to 1",
    "center_fit": "a centred Gaussian, σ = f·(W, H) with f chosen on the other videos' fixations (highest "
                  "log-likelihood; leave one video out)",
    "human": "the human upper bound: each subject's fixations against the other subjects' density (leave one "
             "subject out, same blur), averaged over subjects",
}
REGION_TEXT = {
    "crop": "in the window each model saw, at its heatmap resolution (gaze cut to the window)",
    "frame": "over the whole gaze frame (heatmaps placed in their window, zero elsewhere)",
}


def _f(value: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def report_markdown(result: StudyResult, figures: bool = True) -> str:
    """The study as a Markdown report (tables, notes, definitions; figures linked when written beside it)."""
    spec, scores, metrics = result.spec, result.scores, result.metrics
    lines = [f"# Saliency study: {len(spec.runs)} run{'s' * (len(spec.runs) != 1)} against human gaze", ""]
    lines += _inputs_lines(result)
    lines += _clip_score_lines(result)
    lines += _placed(result)
    lines += _interval_lines(result)
    lines += _test_lines(result)
    lines += _frames_scored_lines(result)
    lines += ["", "## Per class", "", "Mean ± std of the clip scores of each class's videos.", ""]
    lines += _table(["class", "run", "n", *map(metric_title, metrics)], _class_rows(result))
    if scores.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in scores.notes)]
    lines += ["", "## Definitions", "", *_definitions(result)]
    if figures:
        lines += ["", "## Figures", "", *(f"![{name}]({name}.png)" for name in FIGURES)]
    return "\n".join(lines) + "\n"


def _frames_scored_lines(result: StudyResult) -> list[str]:
    scores = result.scores
    counts = scores.frames_scored()
    lines = ["", "## Frames scored", "", "Frames scored on their own per video (every frame with both a heatmap "
             "and per-frame gaze; 0: one gaze map per clip).", ""]
    return lines + _table(["video", *(f"`{run}`" for run in result.runs)],
                          [[video, *(str(counts.get(run, {}).get(video, 0)) for run in result.runs)]
                           for video in scores.videos])


def _inputs_lines(result: StudyResult) -> list[str]:
    """What was compared: runs, baselines, gaze, region, protocol, and the videos a run or the gaze lacks."""
    spec, scores = result.spec, result.scores
    runs = [f"`{name}` ({folder})" for name, folder in spec.runs]
    lines = [f"- Runs: {', '.join(runs)}."]
    if scores.baselines:
        lines.append("- Baselines, scored like the runs: "
                     + "; ".join(f"`{b}` ({BASELINE_TEXT[b]})" for b in scores.baselines) + ".")
    lines.append(f"- Gaze: {spec.gaze}" + (f"; density: {spec.density}" if spec.density else
                                           "; no density (CC, SIM and KL compare with the fixation maps)") + ".")
    lines.append(f"- Scored {REGION_TEXT[spec.region]} (`--region {spec.region}`).")
    lines.append(f"- Protocol `{result.protocol}`: {PROTOCOL_TEXT[result.protocol]} (`--protocol "
                 f"{result.protocol}`; scores of another protocol are not comparable with these).")
    common = [v for v in scores.videos if all(v not in scores.missing.get(r, []) for r, _ in spec.runs)]
    lines.append(f"- Videos: {len(scores.videos)} with gaze in some run, {len(common)} in every run.")
    for run, videos in scores.missing.items():
        if videos:
            where = "without a gaze entry (not scored)" if run == "gaze" else f"missing from run `{run}`"
            lines.append(f"- {len(videos)} videos {where}: {', '.join(videos)}.")
    for run, videos in scores.constant.items():
        if videos:
            lines.append(f"- {len(videos)} constant maps of run `{run}` not scored (all zero or flat: no saliency): "
                         f"{', '.join(videos)}.")
    if scores.gaze_only:
        lines.append(f"- {len(scores.gaze_only)} videos with gaze in no run: {', '.join(scores.gaze_only)}.")
    return lines


def _clip_score_lines(result: StudyResult) -> list[str]:
    """The run x metric table of mean ± std, the best in bold, marks where a run differs from the best."""
    scores, metrics = result.scores, result.metrics
    lines = ["", "## Clip scores", "", "Mean ± std over videos; **bold**: the best per metric; "
             + ", ".join(f"`{mark}` p < {limit}" for limit, mark in reversed(MARKS))
             + ": differs from the best (Holm-corrected two-sided Wilcoxon signed-rank over the videos both "
             "have). ↑ higher is better, ↓ lower is better.", ""]
    rows = []
    for run in result.runs:
        cells = [f"`{run}`" + (" (baseline)" if run in scores.baselines else ""),
                 str(result.stat(run, metrics[0])["n"]) if metrics else "0"]
        for metric in metrics:
            stat = result.stat(run, metric)
            text = f"{_f(stat['mean'])} ± {_f(stat['std'])}"
            if result.best(metric) == run:
                text = f"**{text}**"
            cells.append(text + (f" {result.mark(run, metric)}" if result.mark(run, metric) else ""))
        rows.append(cells)
    return lines + _table(["run", "n", *map(metric_title, metrics)], rows)


def _interval_lines(result: StudyResult) -> list[str]:
    metrics = result.metrics
    lines = ["", "## 95 % confidence intervals and frame-pooled means", "",
             "Percentile bootstrap over videos (10 000 resamples, seed 0) of the clip-score mean; then the mean "
             "of all per-frame scores (all frames of all videos pooled), where the gaze is per frame.", ""]
    rows = [[f"`{run}`", *(f"[{_f(s['ci_low'])}, {_f(s['ci_high'])}] · {_f(s['frame_pooled_mean'])}"
                           for s in (result.stat(run, m) for m in metrics))] for run in result.runs]
    return lines + _table(["run", *map(metric_title, metrics)], rows)


def _test_lines(result: StudyResult) -> list[str]:
    lines = ["", "## Pairwise tests", "",
             "Two-sided Wilcoxon signed-rank (scipy defaults) over the videos both runs have; p Holm-corrected "
             "across the pairs of each metric; effect: matched-pairs rank-biserial r of a − b (+1: a higher on "
             "every video).", ""]
    rows = [[metric_title(t["metric"]), f"`{t['run_a']}`", f"`{t['run_b']}`", str(t["n"]), _f(t["statistic"], 1),
             _p(t["p"]), _p(t["p_holm"]) + (" *" if math.isfinite(t["p_holm"]) and t["p_holm"] < ALPHA else ""),
             _f(t["effect"], 2)] for t in result.tests]
    return lines + _table(["metric", "run a", "run b", "n", "W", "p", "p (Holm)", "effect r"], rows)


def _placed(result: StudyResult) -> list[str]:
    """The runs placed between the centre baseline and the human bound (nothing without both)."""
    centre, metrics = result.centre, result.metrics
    if centre is None or "human" not in result.scores.baselines:
        return []
    lines = ["", "## Between the centre baseline and the human bound", "",
             f"(run − {centre}) / (human − {centre}) of the mean clip scores: 0 is the centre bias, 1 the human "
             "bound (for KL too, where lower is better).", ""]
    rows = [[f"`{run}`", *(_f(result.stat(run, m)["normalised"], 2) for m in metrics)]
            for run in result.runs if run not in result.scores.baselines]
    return lines + _table(["run", *map(metric_title, metrics)], rows)


def _class_rows(result: StudyResult) -> list[list[str]]:
    rows = []
    classes = sorted(set(result.scores.classes.values()))
    clip_rows = [row for row in result.scores.rows if row["frame"] == ""]
    for label in classes:
        for run in result.runs:
            mine = [row for row in clip_rows if row["run"] == run and row["class"] == label]
            if not mine:
                continue
            cells = [label or "(none)", f"`{run}`", str(len(mine))]
            for metric in result.metrics:
                values = np.array([row[metric] for row in mine if math.isfinite(row[metric])])
                std = values.std(ddof=1) if values.size > 1 else math.nan
                cells.append(f"{_f(values.mean())} ± {_f(std)}" if values.size else "–")
            rows.append(cells)
    return rows


def _definitions(result: StudyResult) -> list[str]:
    protocol = [
        "- Protocol `mit`: every metric as the MIT benchmark's MATLAB code computes it (cvzoya/saliency "
        "code_forMetrics/*.m, which DHF1K's evaluationFunc.m runs): AUC_Judd with a seeded 1e-7 jitter; AUC_Borji "
        "and sAUC over 100 seeded splits, thresholds in steps of 0.1; sAUC's negatives the fixations of 10 frames "
        "drawn from the other videos (10 other videos for the clip score); constant maps give no score (NaN, left "
        "out). IG: information gain over the fitted centre bias in bits per fixation (Kümmerer et al., PNAS 2015; "
        "InfoGain.m). The frame-pooled mean averages at most 50 000 frames (a seeded random subset).",
    ] if result.protocol == "mit" else [
        "- sAUC (Zhang et al. 2008; Borji et al. 2013), exact: positives are the saliency at this video's fixated "
        "pixels, negatives the saliency at the fixated pixels of every other video of the study (their coordinates "
        "scaled to this map's grid, floor(x·W/W'), floor(y·H/H'); duplicates kept); sAUC is the probability that "
        "a positive outranks a negative, ties counting one half (sklearn's roc_auc_score on the two sets).",
    ]
    return [
        "- Metrics as the MIT saliency benchmark defines them (Bylinskii et al., \"What do different evaluation "
        "metrics tell us about saliency models?\", TPAMI 2019), computed by `core.saliency`: AUC_Judd, AUC_Borji "
        "(100 splits of uniform random negatives, seed 0), NSS, CC, SIM, KL.",
        *protocol,
        "- Clip score: the mean of all heatmaps (min-max scaled) against the gaze of the frames the model saw "
        "(fixations united, densities averaged); per-frame scores: each frame's heatmap against that frame's gaze.",
        "- Confidence intervals: percentile bootstrap (Efron & Tibshirani 1993). Tests: Wilcoxon signed-rank "
        "(Wilcoxon 1945), Holm (1979), matched-pairs rank-biserial correlation (Kerby 2014). Frame-pooled mean "
        "as DHF1K reports (Wang et al., CVPR 2018).",
    ]


def _figure(count: int, width: float = 3.6, height: float = 3.0) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure

    cols = min(4, max(1, count))
    rows = math.ceil(count / cols)
    figure = Figure(figsize=(width * cols, height * rows + 0.6))  # no layout engine: twice as fast to draw
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.14 / rows, top=1 - 0.5 / (height * rows + 0.6),
                           wspace=0.4, hspace=0.6)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for axis in axes[count:]:
        axis.set_visible(False)
    return figure, axes


def _colours(result: StudyResult) -> list[str]:
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]
    greys = {"center": "#7f7f7f", "others": "#bdbdbd"}
    return [greys.get(run, "#9a9a9a") if run in result.scores.baselines else palette[i % len(palette)]
            for i, run in enumerate(result.runs)]


def figures(result: StudyResult) -> dict[str, Figure]:
    """Matplotlib figures of the study: means with CIs, per-video distributions, Holm p-value matrices, and
    class means, one panel per metric (titled with its better direction)."""
    clip_rows = [row for row in result.scores.rows if row["frame"] == ""]
    return {"summary": _summary_figure(result), "distributions": _distributions_figure(result, clip_rows),
            "pvalues": _pvalues_figure(result), "classes": _classes_figure(result, clip_rows)}


def _summary_figure(result: StudyResult) -> Figure:
    metrics, runs, colours = result.metrics, result.runs, _colours(result)
    figure, axes = _figure(len(metrics))
    for axis, metric in zip(axes, metrics, strict=False):
        stats = [result.stat(run, metric) for run in runs]
        means = np.array([s["mean"] for s in stats])
        errors = np.abs(np.array([[s["ci_low"], s["ci_high"]] for s in stats]).T - means)
        for i, (mean, colour) in enumerate(zip(means, colours, strict=True)):
            axis.errorbar(i, mean, yerr=errors[:, i:i + 1], fmt="o", color=colour, capsize=4)
        axis.set_xticks(range(len(runs)), runs, rotation=30, ha="right")
        axis.set_title(f"{metric} ({BETTER[metric]} is better)", fontsize=10)
    figure.suptitle("Mean clip score with 95 % bootstrap CI")
    return figure


def _distributions_figure(result: StudyResult, clip_rows: list[dict]) -> Figure:
    metrics, runs, colours = result.metrics, result.runs, _colours(result)
    figure, axes = _figure(len(metrics))
    jitter = np.random.default_rng(0)
    for axis, metric in zip(axes, metrics, strict=False):
        data = [[row[metric] for row in clip_rows if row["run"] == run and math.isfinite(row[metric])]
                for run in runs]
        axis.boxplot([d if d else [math.nan] for d in data], positions=range(len(runs)), showfliers=False,
                     widths=0.6)
        for i, (values, colour) in enumerate(zip(data, colours, strict=True)):
            axis.scatter(i + jitter.uniform(-0.18, 0.18, len(values)), values, s=9, color=colour, alpha=0.7)
        axis.set_xticks(range(len(runs)), runs, rotation=30, ha="right")
        axis.set_title(f"{metric} ({BETTER[metric]} is better)", fontsize=10)
    figure.suptitle("Clip scores per video")
    return figure


def _pvalues_figure(result: StudyResult) -> Figure:
    metrics, runs = result.metrics, result.runs
    side = 2.6 + 0.3 * len(runs)
    figure, axes = _figure(len(metrics), side + 0.6, side)
    colormap = _p_colormap()
    for axis, metric in zip(axes, metrics, strict=False):
        matrix = p_matrix(result, metric)
        image = axis.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=0.1, cmap=colormap)
        for i in range(len(runs)):
            for j in range(len(runs)):
                if i != j and math.isfinite(matrix[i, j]):
                    axis.text(j, i, _p(matrix[i, j]), ha="center", va="center", fontsize=7,
                              color="white" if matrix[i, j] < 0.05 else "black")
        axis.set_xticks(range(len(runs)), runs, rotation=30, ha="right")
        axis.set_yticks(range(len(runs)), runs)
        axis.set_title(f"{metric} ({BETTER[metric]} is better)", fontsize=10)
        figure.colorbar(image, ax=axis, shrink=0.8, extend="max")
    figure.suptitle("Holm-corrected p (Wilcoxon signed-rank)")
    return figure


def _classes_figure(result: StudyResult, clip_rows: list[dict]) -> Figure:
    metrics, runs, colours = result.metrics, result.runs, _colours(result)
    classes = sorted(set(result.scores.classes.values()))
    figure, axes = _figure(len(metrics), max(3.6, 0.5 * len(classes) * max(1, len(runs)) ** 0.5))
    width = 0.8 / max(1, len(runs))
    for axis, metric in zip(axes, metrics, strict=False):
        for i, (run, colour) in enumerate(zip(runs, colours, strict=True)):
            class_means: list[float] = []
            for label in classes:
                values = [row[metric] for row in clip_rows if row["run"] == run and row["class"] == label
                          and math.isfinite(row[metric])]
                class_means.append(float(np.mean(values)) if values else math.nan)
            axis.bar(np.arange(len(classes)) + (i - (len(runs) - 1) / 2) * width, class_means, width, color=colour,
                     label=run)
        axis.set_xticks(range(len(classes)), [c or "(none)" for c in classes], rotation=30, ha="right")
        axis.set_title(f"{metric} ({BETTER[metric]} is better)", fontsize=10)
    if metrics:
        axes[0].legend(fontsize=7)
    figure.suptitle("Mean clip score per class")
    return figure


def _p_colormap():
    """Dark green for small p, white from 0.1 on, light grey where nothing was tested."""
    import matplotlib

    return matplotlib.colormaps["Greens_r"].with_extremes(over="white", bad="#eeeeee")


def p_matrix(result: StudyResult, metric: str) -> np.ndarray:
    """Holm-corrected p of every pair of runs (symmetric, NaN on the diagonal and where untested)."""
    runs = result.runs
    matrix = np.full((len(runs), len(runs)), np.nan)
    for i, run_a in enumerate(runs):
        for j, run_b in enumerate(runs):
            test = result.test(run_a, run_b, metric) if i != j else None
            if test is not None:
                matrix[i, j] = test["p_holm"]
    return matrix


def png_bytes(figure: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def output_files(result: StudyResult, *, latex: bool = False,
                 panels: list[str] | None = None) -> dict[str, bytes]:
    """Every output by file name: the CSVs, report.md and the figures; with ``latex`` also ``table.tex``
    (:func:`core.study.tables.latex_table`), with ``panels`` (video or video:frame picks, [] for the default)
    also ``panels.pdf`` and ``panels.png`` (:func:`core.study.pictures.print_panels`)."""
    files = {"scores.csv": scores_csv(result).encode(), "summary.csv": summary_csv(result).encode(),
             "tests.csv": tests_csv(result).encode(), "report.md": report_markdown(result).encode()}
    files.update({f"{name}.png": png_bytes(figure) for name, figure in figures(result).items()})
    if latex:
        files["table.tex"] = latex_table(result).encode()
    if panels is not None:
        files.update(print_panels(result, panels))
    return files


def check_out(out: str | Path) -> Path:
    """The output folder: it may exist (its study files are replaced); else its parent must."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CamError(f"--out {out} is a file; give a folder for the study's outputs.")
    if not out.exists() and not out.parent.is_dir():
        raise CamError(f"--out {out}: its parent folder {out.parent} does not exist.")
    return out


def write_outputs(result: StudyResult, out: str | Path, *, latex: bool = False,
                  panels: list[str] | None = None) -> list[Path]:
    """Write every output (:func:`output_files`) into ``out`` (created when needed), each file atomically."""
    out = check_out(out)
    files = output_files(result, latex=latex, panels=panels)  # built first: nothing is written when a figure fails
    out.mkdir(exist_ok=True)
    written = []
    for name, data in files.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(data)
        written.append(out / name)
    return written
