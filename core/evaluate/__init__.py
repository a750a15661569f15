"""Can the map be trusted? Faithfulness, frame importance and sanity checks of video explanations.

>>> import core
>>> model = core.load_model("config.py", "best.pth")
>>> result = core.explain(model, "video.mp4")
>>> core.faithfulness(model, result).verdict().text        # deletion / insertion against a random ranking
>>> core.frame_importance(model, result).drop               # [V, T] score drop without each frame
>>> core.sanity_check(model, "video.mp4").verdict().text    # does the map change with the weights?

Command line: ``python -m core.evaluate CONFIG CHECKPOINT VIDEO [--steps N] [--baseline B] [--sanity] [--json]``.
Definitions: :mod:`core.evaluate.faithfulness` and :mod:`core.evaluate.sanity`.
"""

from core.evaluate.faithfulness import (
    SUMMARY_COLUMNS,
    Faithfulness,
    FrameImportance,
    Verdict,
    deletion_insertion,
    faithfulness,
    frame_importance,
    random_heatmaps,
    summary_columns,
)
from core.evaluate.perturb import BASELINES, DEFAULT_BATCH_SIZE, DEFAULT_BLUR_SIGMA, Baseline, clip_of, spearman
from core.evaluate.sanity import THRESHOLD, SanityCheck, sanity_check

__all__ = [
    "BASELINES",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BLUR_SIGMA",
    "SUMMARY_COLUMNS",
    "THRESHOLD",
    "Baseline",
    "Faithfulness",
    "FrameImportance",
    "SanityCheck",
    "Verdict",
    "clip_of",
    "deletion_insertion",
    "faithfulness",
    "frame_importance",
    "random_heatmaps",
    "sanity_check",
    "spearman",
    "summary_columns",
]
