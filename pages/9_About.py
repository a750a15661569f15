"""About and help: what the explorer does, how to read it, where files go."""

from __future__ import annotations

import streamlit as st

from pages.ui.page import setup_page

setup_page("About", "❔")
st.title("About the Grad-CAM explorer")
st.markdown("""
The explorer shows **where and when** an MMAction2 video recognizer looks when it decides on a class,
with Grad-CAM (and the other CAM methods in `core.methods`).

### Daily use
1. **Model** (sidebar): the built-in demo, a training run found under a folder (`work_dirs/*/` with the
   dumped config and `best_*.pth`, `epoch_*.pth` or `last_checkpoint`; newest first), or a config and a
   checkpoint path. A label-map txt (one class per line) gives class names. Models stay loaded: switching
   videos never reloads them.
2. **Video**: the demo clip, an upload, a path (a video file or a rawframes folder), or a folder to browse.
   Its frames, frame rate, resolution and duration show before you run.
3. **Explanation**: the target layer (the last backbone stage by default), the target class (the predicted
   one, or any class by name; after a run its top-5 come first with their probabilities), the CAM method,
   the views (center crop, or all the config's test views), and the overlay's opacity and colormap.
4. Press **Run Grad-CAM**. A combination you ran before opens at once.

### Reading the result
- **Overlay video**: the heatmaps over the frames the model saw, at the pace of the stretch of video they sample.
- **Frame view**: heatmap and overlay of one frame; drag the slider or press ▶ (all in the browser, no
  waiting). Above the slider: the frame's index in the source video and its time. **Frame view (png)**
  under the video saves the frame the player shows (heatmap and overlay, labelled); the camera icon in
  the view's toolbar saves the view as it is on screen.
- **Activation per frame**: the mean and the max of each heatmap: _when_ the model looks.
- **Saliency**: all heatmaps summed and divided by their number.
- **Top-5 predictions**: the explained class in orange.

Heatmaps are normalised to [0, 1] per clip (view), so compare shapes, not absolute values, across runs.

### Downloads
- **txt**: `Frame N - Heatmap values:` blocks (one per heatmap frame, views one after another), as
  MMAction2's patched `vis_cam.py` wrote; `core.read_heatmap_txt` reads it back.
- **json**: the sidecar (video, config, checkpoint, layer, method, classes, frame indices, fps…).
- **npz**: heatmaps, frame indices, scores and probabilities.
- **mp4**: the overlay video (H.264). **png**: one frame view.

File names are made of the video, checkpoint, layer and class names.

### The other pages
- **Training runs**: a `work_dirs/NAME/` folder's loss and accuracy curves, which epoch each checkpoint holds and
  which is best, and its test results with the checkpoint that made each (`python -m core.mm train|test` runs
  MMAction2's own `tools/train.py` and `tools/test.py` here).
- **Batch**: explain a whole folder, list or annotation file with one model load; resumable, with a
  `summary.csv` (same as `python -m core.batch`).
- **Gaze comparison**: score saliency against human gaze maps (AUC, NSS, CC, SIM: higher is better; KL: lower
  is better) where the model looked, frame by frame in a player with the per-frame scores under it, and per class
  for a batch. Give a fixation density (or tick the blur): without one CC, SIM and KL say little.
- **Test results**: read a `tools/test.py --dump` pickle, find the wrong predictions, and explain them
  (one, or all of them in a batch).
- **Heatmap files**: reopen txt files (ours or legacy), scrub them, compare two of the same video; legacy
  files (no sidecar) can be placed over the video you give.
- **Study**: compare several batch runs with human gaze and two baselines: every saliency metric (sAUC
  included), bootstrap CIs, Holm-corrected Wilcoxon tests, one video frame by frame, report and figures
  (same as `python -m core.study`).

### Same thing on the command line
`python -m core.vis_cam CONFIG CHECKPOINT VIDEO --file-url out.txt --out-filename out.mp4`
takes MMAction2's `vis_cam.py` arguments.
""")
