"""Grad-CAM heatmaps scored against human gaze: gaze inputs, frame matching, clip and per-frame scores, CLI.

``python -m core.gaze HEATMAPS FIXATIONS [--density D | --blur [SIGMA]] [--region crop|frame] [--json] [--out CSV]
[--protocol exact|mit]``

``--protocol mit`` computes the metrics as the MIT benchmark's MATLAB code does (seeded per video and frame) and
adds information gain over the centre bias; every output says its protocol (docs/gaze.md).

Gaze inputs (fixations, and optionally a fixation density) are one map for the whole clip (an image,
``.npy``), or one per frame: a folder of images whose names carry the frame number (``0001.png``,
``frame_12.jpg``; the last number in the name), or a video of gaze maps (frame ``i`` = decoded frame ``i``).
Colour images count by their brightest channel. A fixation map marks fixated pixels by values > 0; in
lossy files (JPEG, WebP, videos) by values > 127, so compression noise is not taken for fixations.

Matching: the sidecar's ``frame_indices`` (0-based source frames) say which frame each heatmap shows.
Folder numbers are 1-based unless the folder has a frame numbered 0 (``start_index`` overrides).

Scores: the clip score compares :func:`core.saliency.clip_saliency` of all heatmaps with the clip's gaze;
with per-frame gaze that is the union of the fixations, and the mean of the densities, over the distinct
frames the model saw (frames without a gaze map are left out, with a note). Per-frame gaze also gives one
score per frame the model saw (its heatmaps, averaged when several views show that frame). ``region="crop"``
(default) scores in the model's window at heatmap resolution (gaze cut and resized, fixations moved point
by point); ``region="frame"`` scores over the whole gaze frame, the heatmap placed in its window, zero
elsewhere. A txt without sidecar is taken to cover the whole gaze frame, with unknown frames.

Metrics improve upwards except KL (:data:`core.saliency.BETTER`; :func:`metric_title`, :func:`directions`).
CC, SIM and KL compare with the density; without one they are computed against the fixation map itself and
say little (:data:`FIXATIONS_ONLY` says so wherever they are shown); ``blur`` (``--blur``) makes the density
from the fixations as :mod:`core.gaze.fixations` does. A batch's clip scores are summarised per class
(:func:`class_summary`, classes in label order). :func:`frame_pictures` draws the comparison frame by frame.

Views that looked at different windows (``--all-views`` with ThreeCrop or TenCrop) are scored each where it
looked: the heatmaps of each window (its clips, mirrored views flipped back) make that view's saliency, scored
as above in its window; the clip and per-frame scores are the means over the views, and each view's own
scores are reported too (``views`` in the JSON, the ``view`` column of the CSV).
"""

from core.gaze.cli import build_parser, main, run
from core.gaze.images import comparison_images, frame_pictures, shown_frame, video_frame
from core.gaze.inputs import GazeMaps, blurred, frame_number, read_gaze, read_heatmaps
from core.gaze.scores import (
    CSV_FIELDS,
    FIXATIONS_ONLY,
    REGIONS,
    GazeScores,
    GazeSource,
    class_summary,
    csv_rows,
    csv_text,
    directions,
    find_heatmap_files,
    gaze_entry,
    header_notes,
    metric_title,
    score_batch,
    score_file,
    score_path,
    score_result,
    summary_cells,
    write_csv,
)
from core.saliency import METRICS

__all__ = [
    "CSV_FIELDS", "FIXATIONS_ONLY", "METRICS", "REGIONS", "GazeMaps", "GazeScores", "GazeSource", "blurred",
    "build_parser", "class_summary", "comparison_images", "csv_rows", "csv_text", "directions",
    "find_heatmap_files", "frame_number", "frame_pictures", "gaze_entry", "header_notes", "main", "metric_title",
    "read_gaze", "read_heatmaps", "run", "score_batch", "score_file", "score_path", "score_result", "shown_frame",
    "summary_cells", "video_frame", "write_csv",
]
