"""Several runs (batch output folders) compared with human gaze at benchmark standard, with baselines and tests.

``python -m core.study --run NAME=BATCH_DIR [--run …] --gaze GAZE_DIR [--density DENSITY_DIR]
[--region crop|frame] [--baselines center,others] [--protocol exact|mit] [--subjects DIR] [--emd] [--out DIR]
[--latex] [--figures [VIDEO[:FRAME] …]] [--json]``

``--protocol mit`` scores with the MIT benchmark's MATLAB definitions (:mod:`core.saliency_mit`) and adds
information gain; ``center_fit`` and ``human`` bound the runs (:mod:`core.study.baselines`); ``--latex`` and
``--figures`` write ``table.tex`` (:mod:`core.study.tables`) and print-resolution panels
(:func:`core.study.pictures.print_panels`). docs/study.md says all of it; what follows is the ``exact`` protocol.

Inputs. A run is a ``core.batch`` output folder (one heatmap txt + sidecar, and npz, per video). GAZE_DIR
(and DENSITY_DIR) hold one entry per video named like it, in any layout ``core.gaze`` reads (an image per
clip, a folder of per-frame images, a video of gaze maps); ``python -m core.gaze.fixations`` writes them from
raw eye-tracker samples. Videos are matched by name; those missing from a run or from the gaze are listed in
the notes, ``report.md`` and the JSON, never dropped silently. Runs without a video in common are an error.

Scores (:mod:`core.study.scoring`), for every run × video, exactly as ``core.gaze`` scores one file: the clip
score compares the clip's saliency (heatmaps summed over frames / their number, min-max scaled) with the gaze
of the frames the model saw (fixations united, densities averaged); with per-frame gaze, every frame the model
saw is scored too (its heatmap, averaged over views). ``--region crop`` (default) scores in the window the
model saw at heatmap resolution, ``frame`` over the whole gaze frame. Metrics (:mod:`core.saliency`, the MIT
benchmark's definitions; Bylinskii et al., TPAMI 2019): AUC_Judd, AUC_Borji, sAUC, NSS, CC, SIM, KL; KL is
the one where lower is better (``core.saliency.BETTER``, shown with every table and figure).

sAUC is deterministic and has one definition, :func:`core.saliency.auc_shuffled` (the study passes it count
maps): positives are the saliency at this video's fixated pixels; negatives the saliency at the fixated pixels
of every other video in the study (each video's clip fixations over the frames any run saw), their
coordinates scaled to this map's grid (``floor(x·W/W')``, ``floor(y·H/H')``; for ``crop`` they are scaled to
this video's gaze frame and then moved into the window like its own fixations), duplicates kept. sAUC is the
probability that a positive outranks a negative, ties counting one half: ``sklearn.metrics.roc_auc_score``
on those two sets, computed from ranks. (It replaces the earlier sampled estimate of MATLAB's
``AUC_shuffled``, which drew random negatives on a coarse threshold grid.)

Baselines, scored exactly like runs (clip and frames, on the grid of the first run that has the video):
``center``, a Gaussian centred on the scoring grid with σx = W/4, σy = H/4; ``others``, leave one video out:
the mean of the other videos' clip densities, each normalised to sum 1 and resized to this video's gaze
size (of their fixation maps blurred with σ = width / 30, the fixation maker's default, when no density is
given). Their frames are the union of those the runs saw.

Statistics (:mod:`core.study.stats`): per run and metric the mean, std, n, a 95 % percentile-bootstrap CI
over videos (10 000 resamples, seed 0) and the frame-pooled mean; for every pair of runs (baselines
included) and metric, over the videos both have, the two-sided Wilcoxon signed-rank test
(``scipy.stats.wilcoxon`` defaults), Holm-corrected across the pairs of that metric, and the matched-pairs
rank-biserial correlation as effect size.

Outputs (:mod:`core.study.report`): ``scores.csv`` (run, video, class, frame — empty on the clip row —,
metrics), ``summary.csv``, ``tests.csv`` (each with a ``better`` column), ``report.md`` (run × metric table of
mean ± std, best in bold, significance marks against the best, CIs, all tests, a per-class table, notes,
definitions) and the figures ``summary.png``, ``distributions.png``, ``pvalues.png``, ``classes.png``.
"""

from core.study.inputs import ALL_BASELINES, BASELINES, Clip, find_run, gaze_window, read_clip
from core.study.report import figures, output_files, p_matrix, report_markdown, write_outputs
from core.study.result import StudyResult, compute
from core.study.scoring import REGIONS, StudyScores, StudySpec, center_map, run_study

__all__ = [
    "ALL_BASELINES", "BASELINES", "REGIONS", "Clip", "StudyResult", "StudyScores", "StudySpec", "center_map",
    "compute", "figures", "find_run", "gaze_window", "output_files", "p_matrix", "read_clip", "report_markdown",
    "run_study", "write_outputs",
]
