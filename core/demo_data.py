"""The demo's data: what every page opens on at first start, made in the cache at first use.

Only what had to be trained is committed (``core/demo_assets``: the two demo models, the curves logged while
training them); everything else is generated from it, deterministically, into
``$MMCAM_CACHE/demo-data/<key>/`` (``key``: a digest of the assets and :data:`VERSION`, so new assets get new
data) the first time a page or command asks for it::

    clips/        clip_00..clip_11.mp4 (48 frames, 3 per class) and glimpse_00..03.mp4 (4 frames: too short
                  to see the motion well, so the test dump has a few mistakes); test_list.txt names all 16
    gaze/         samples.csv: 5 synthetic observers watching each clip_* (core.observers), and the
                  fixations/ and density/ folders python -m core.gaze.fixations writes from it
    runs/         one training-run folder per demo model (work_dirs/NAME/ as MMEngine leaves it): its config
                  (the demo config, its test set set to the clips), checkpoint, last_checkpoint, the curves
                  (<timestamp>/vis_data/scalars.json); the localization model's holds results.pkl, written by
                  MMAction2's own tools/test.py --dump (python -m core.mm test) on test_list.txt
    batches/      python -m core.batch of each model on the clip_* videos (ground-truth class)

Each part is built once under a file lock (several browser sessions may ask at once) and marked complete by a
stamp written last, so an interrupted build is redone, never used half-made. ``python -m core.demo_data``
builds every part and prints the paths; ``python -m core.study --demo`` runs the demo study.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.batch import BatchOptions, collect_tasks, run_batch
from core.demo import ASSETS, CHECKPOINT, CONFIG, DEMO_VIDEO_SIZE, demo_data_folder
from core.errors import CamError, run_command
from core.gaze.fixations import make_fixations
from core.model import load_model
from core.observers import write_samples
from core.synthetic import CLIP_FPS, DEMO_CLASSES, make_clip, write_clip
from core.target import GROUND_TRUTH

VERSION = 1  # bump when what is generated changes
LABELS_ONLY = ASSETS / "moving_shapes_r3d_labels_only.pth"
SUBJECTS = 5
CLIP_FRAMES, GLIMPSE_FRAMES = 48, 4
ITERATIONS = 800  # the demo models' training steps (tools.demo train): their checkpoints are iter_800.pth


@dataclass(frozen=True)
class DemoModel:
    """One demo model: its name in runs and studies, checkpoint, and the curves logged while training it."""

    name: str
    checkpoint: Path
    label: str

    @property
    def scalars(self) -> Path:
        return self.checkpoint.with_suffix(".scalars.json")

    @property
    def run_name(self) -> str:
        return self.checkpoint.stem


MODELS = (DemoModel("localization", CHECKPOINT, "trained with the localization term (maps on the object)"),
          DemoModel("labels_only", LABELS_ONLY, "trained on labels alone (maps beside the object)"))
TESTED = MODELS[0]  # the model whose test dump the demo shows


@dataclass(frozen=True)
class DemoClip:
    name: str
    seed: int
    label: int
    frames: int

    @property
    def file(self) -> str:
        return f"{self.name}.mp4"

    @property
    def watched(self) -> bool:
        """Whether the synthetic observers watched it (the full-length clips; glimpses are too short)."""
        return self.frames == CLIP_FRAMES


CLIPS = (*(DemoClip(f"clip_{i:02d}", 500 + i, i % len(DEMO_CLASSES), CLIP_FRAMES) for i in range(12)),
         *(DemoClip(f"glimpse_{i:02d}", 600 + i, i % len(DEMO_CLASSES), GLIMPSE_FRAMES) for i in range(4)))


@lru_cache(maxsize=4)
def _digest(files: tuple[Path, ...]) -> str:
    sha = hashlib.sha256(f"demo data {VERSION}".encode())
    for path in files:
        if path.is_file():
            sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def root() -> Path:
    """Where this version of the demo data lives (built or not)."""
    assets = (CONFIG, *(m.checkpoint for m in MODELS), *(m.scalars for m in MODELS))
    return demo_data_folder() / _digest(assets)


def check_assets() -> None:
    for asset in (CONFIG, *(m.checkpoint for m in MODELS)):
        if not asset.is_file():
            raise CamError(f"The demo asset {asset} is missing; restore it from git or train it again "
                           "(python -m tools.demo, see docs/demo.md).")


@contextlib.contextmanager
def _locked(folder: Path, name: str) -> Iterator[None]:
    """Part ``name`` of ``folder`` locked against other processes and threads. One lock per part: a part's
    build asks for the parts it needs (the gaze, the runs and the batches need the clips), and flock is held
    per open file, so one lock for all would make that nested ask wait on its own process for ever."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _part(name: str, build: Callable[[Path], None]) -> Path:
    """The folder of part ``name``, built first (under the lock, stamped when complete) when needed."""
    check_assets()
    base = root()
    folder = base / name
    stamp = base / f".{name}.complete"
    if stamp.is_file():
        return folder
    try:
        with _locked(base, name):
            if not stamp.is_file():  # another process may have built it while we waited
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                build(folder)
                stamp.write_text("complete\n", encoding="utf-8")
    except OSError as err:
        raise CamError(f"Could not write the demo data to {base} ({err.strerror or err}); set MMCAM_CACHE to a "
                       "writable folder.") from err
    return folder


# --- the parts ----------------------------------------------------------------------------------------------


def _build_clips(folder: Path) -> None:
    lines = []
    for clip in CLIPS:
        made = make_clip(clip.seed, label=clip.label, frames=clip.frames, size=DEMO_VIDEO_SIZE)
        write_clip(made, folder / clip.file, fps=CLIP_FPS)
        lines.append(f"{clip.file} {clip.label}")
    (folder / "test_list.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def clips() -> Path:
    """The demo clips' folder (``test_list.txt`` in it lists them with their labels)."""
    return _part("clips", _build_clips)


def _build_gaze(folder: Path) -> None:
    videos = clips()
    watched = {clip.file: (make_clip(clip.seed, label=clip.label, frames=clip.frames, size=DEMO_VIDEO_SIZE).centers,
                           DEMO_VIDEO_SIZE) for clip in CLIPS if clip.watched}
    samples = write_samples(folder / "samples.csv", watched, CLIP_FPS, subjects=SUBJECTS)
    make_fixations(samples, videos, folder)


def gaze() -> Path:
    """The demo gaze: ``samples.csv`` and the ``fixations/`` and ``density/`` folders made from it."""
    return _part("gaze", _build_gaze)


def _run_config(folder: Path, name: str) -> Path:
    """The demo config with its test set pointed at the demo clips, as a run folder holds its config."""
    text = CONFIG.read_text(encoding="utf-8")
    listed, prefix = "ann_file='demo_list.txt'", "data_prefix=dict(video='')"
    if listed not in text or prefix not in text:
        raise CamError(f"The demo config {CONFIG} no longer names its test set as {listed}; update core.demo_data.")
    videos = clips()
    text = text.replace(listed, f"ann_file={str(videos / 'test_list.txt')!r}")
    text = text.replace(prefix, f"data_prefix=dict(video={str(videos)!r})")
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def _core_env() -> dict[str, str]:
    """The environment for a ``python -m core...`` subprocess: this ``core`` first on the path."""
    here = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here + (os.pathsep + path if path else "")}


def _link(asset: Path, path: Path) -> None:
    """``path`` pointing at a committed asset (a symbolic link, so the run's checkpoint *is* the demo checkpoint
    every page names; a copy where links cannot be made)."""
    try:
        path.symlink_to(asset)
    except OSError:
        shutil.copyfile(asset, path)


def _build_runs(folder: Path) -> None:
    for model in MODELS:
        run = folder / model.run_name
        run.mkdir()
        config = _run_config(run, model.run_name)
        checkpoint = run / f"iter_{ITERATIONS}.pth"
        _link(model.checkpoint, checkpoint)
        (run / "last_checkpoint").write_text(str(checkpoint), encoding="utf-8")
        if model.scalars.is_file():
            logged = run / "20261207_000000" / "vis_data"
            logged.mkdir(parents=True)
            shutil.copyfile(model.scalars, logged / "scalars.json")
        if model == TESTED:
            dump = run / "results.pkl"
            done = subprocess.run([sys.executable, "-m", "core.mm", "test", str(config), str(checkpoint.resolve()),
                                   "--dump", str(dump), "--work-dir", str(run)],
                                  cwd=run, env=_core_env(), capture_output=True, text=True, timeout=900)
            if done.returncode != 0 or not dump.is_file():
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise CamError(f"MMAction2's tools/test.py failed on the demo clips: {tail}")


def runs() -> Path:
    """The folder holding one training-run folder per demo model (pick it as "the folder with your work_dirs")."""
    return _part("runs", _build_runs)


def run_folder(model: DemoModel = TESTED) -> Path:
    return runs() / model.run_name


def run_config(model: DemoModel = TESTED) -> Path:
    """The config in a demo run's folder: the demo config, its test set the demo clips."""
    return run_folder(model) / f"{model.run_name}.py"


def dump() -> Path:
    """The demo test dump: MMAction2's tools/test.py --dump of the localization model on the 16 demo clips."""
    return run_folder(TESTED) / "results.pkl"


def _build_batches(folder: Path) -> None:
    videos = clips()
    listed = folder / "gaze_clips.txt"
    listed.write_text("".join(f"{c.file} {c.label}\n" for c in CLIPS if c.watched), encoding="utf-8")
    tasks = collect_tasks([listed], video_root=videos)
    for model in MODELS:
        handle = load_model(CONFIG, model.checkpoint, "cpu")
        report = run_batch(handle, tasks, folder / model.name, BatchOptions(target=GROUND_TRUTH))
        if report.failed:
            raise CamError(f"The demo batch of {model.name} failed on {report.failed} clips.")
    listed.unlink()


def batches() -> Path:
    """One batch output folder per demo model (named like :data:`MODELS`), on the clips with gaze."""
    return _part("batches", _build_batches)


def batch(model: DemoModel = TESTED) -> Path:
    return batches() / model.name


def build_all() -> dict[str, str]:
    """Every part, built when missing; their paths."""
    return {"clips": str(clips()), "gaze": str(gaze()), "runs": str(runs()), "dump": str(dump()),
            **{f"batch {m.name}": str(batch(m)) for m in MODELS}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.demo_data", description=__doc__.split("\n")[0])
    parser.parse_args(argv)

    def action() -> int:
        print(json.dumps(build_all(), indent=2))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
