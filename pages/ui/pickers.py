"""Sidebar pickers: the model, the video, and what to explain. Each reads widgets and returns plain values."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import streamlit as st

import core
from core import access, demo
from core.errors import CamError
from core.geometry import VIEWS, Views
from core.layers import LayerInfo
from core.methods import METHODS, Method, method_label
from core.runs import Run, find_runs
from core.target import PREDICTED as PREDICTED_TARGET
from core.target import ClassIndex, Contrast, read_versus
from core.video import VIDEO_EXTENSIONS, find_videos
from pages.ui import page
from pages.ui.cache import ModelSpec, VideoRef
from pages.ui.errors import shown_as_error
from pages.ui.text import TRUST_LABEL, control
from pages.ui.viewer import COLORMAPS

# Radio values are these keys; the labels are what the page shows.
MODEL_SOURCES = {"demo": "Built-in demo", "runs": "Training runs in a folder", "paths": "Config and checkpoint paths"}
VIDEO_SOURCES = {"demo": "Demo clip", "upload": "Upload", "path": "Path", "folder": "Browse a folder"}
DEVICES = {"auto": "Auto", "cuda": "CUDA", "cpu": "CPU"}
_UNDER_MODEL = "under “Class names, device, trust” in the sidebar"
MODEL_CONTROLS = {  # what core's sentences call --flags, as the model picker names them
    "--device cpu": control("Device: CPU", _UNDER_MODEL),
    "--device": control("Device", _UNDER_MODEL),
    "--label-map": control("Label map (txt, one class per line)", _UNDER_MODEL),
}
EXPLORER_CONTROLS = {**MODEL_CONTROLS, "--target-layer-name": control("…or type a layer path"),
                     "--target-class": control("Target class"), "--method": control("CAM method")}
HANDOFF = "explorer_handoff"  # session-state key: what another page asks the explorer to open (read once)
_HANDOFF_TARGET = "handoff_target"
_HANDOFF_EXPECTED = "handoff_expected"  # what the page that handed over expects the prediction to be
_LABEL_MAPS = "label_maps"  # session state: checkpoint (or config) -> the label map given for it on any page
T = TypeVar("T")


def demo_paths() -> dict[str, str]:
    """The built-in demo's config, checkpoint and clip (``core.demo``), or a CamError saying what is missing."""
    return demo.demo_paths()


def demo_clip() -> str:
    """The demo clip alone (it is generated, so it exists even when the demo checkpoint does not)."""
    return str(demo.demo_video().resolve())


def run_label(run: Run) -> str:
    """A training run as pickers show it: its name and when it last changed."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.modified))
    return f"{run.name} · {when}"


def runs_input(**kwargs: Any) -> list[Run] | None:
    """The "Folder with your work_dirs" field (key ``runs_root``) and the training runs found there, newest
    first; None (said on the page) when the folder is refused, unreadable or holds no run."""
    root = path_input("Folder with your work_dirs", "runs_root", first_folder(), **kwargs)
    if root is None:
        return None
    with shown_as_error() as box:
        runs = find_runs(root)
    if box.failed:
        return None
    if not runs:
        st.info("No MMAction2 runs here: a run is a folder (e.g. `work_dirs/NAME/`) holding `best_*.pth`, "
                "`epoch_*.pth` or `last_checkpoint` beside its dumped config.")
        return None
    return runs


def _optional(text: str | None) -> str | None:
    return text.strip() or None if text else None


def kept(key: str, options: Iterable | None = None, default: object = None) -> dict:
    """Keyword arguments (``key``, ``on_change``) for a widget whose value this browser session keeps across
    pages. Streamlit drops the state of widgets a page does not draw (and a widget of another page is another
    widget), so the value is also kept under ``kept:<key>``, written when the visitor changes it (``on_change``,
    before the script runs) and after each drawing (:func:`keep`), and handed back before the widget is drawn.
    A kept value no longer among ``options`` is left out; ``default`` (when given) fills a widget never set."""
    state = st.session_state
    value = state.get(f"kept:{key}", default)
    if value is not None and (options is None or value in list(options)):
        state[key] = value
    return dict(key=key, on_change=_changed, args=(key,))


def _changed(key: str) -> None:
    st.session_state[f"kept:{key}"] = st.session_state[key]


def keep(key: str, value: T) -> T:
    """Remember a widget's value beyond its page (handed back by :func:`kept`); returns ``value``."""
    st.session_state[f"kept:{key}"] = value
    return value


def path_input(label: str, key: str, default: str = "", **kwargs: Any) -> str | None:
    """A text input for a path: its value survives while it is hidden (another source picked, another
    page visited), and a path outside the allowed folders is refused with one sentence (None returned).
    Every page takes paths through this field (or :func:`paths_input`)."""
    value = keep(key, st.text_input(label, **kept(key, default=default if key not in st.session_state else None),
                                    **kwargs))
    path = _optional(value)
    allowed = checked(path) if path is not None else None
    st.session_state[f"refused:{key}"] = path is not None and allowed is None
    return allowed


def first_folder() -> str:
    """Where folder fields start: the first allowed folder (by default the one the server started in)."""
    roots = access.current() or access.configured_roots()
    return str(roots.folders[0]) if roots.folders else str(Path.cwd())


def refused(*keys: str) -> bool:
    """Whether any of these :func:`path_input` fields holds a path that was refused (not merely empty)."""
    return any(st.session_state.get(f"refused:{key}", False) for key in keys)


def paths_input(label: str, key: str, **kwargs: Any) -> list[str]:
    """A text area of paths, one a line; lines outside the allowed folders are refused, one sentence each."""
    text = st.text_area(label, key=key, **kwargs)
    paths = (checked(line.strip()) for line in text.splitlines() if line.strip())
    return [path for path in paths if path is not None]


def checked(path: str) -> str | None:
    """``path`` when this page may open it (``core.access``), else None after one ``st.error``."""
    roots = access.current() or access.configured_roots()
    try:
        roots.check(path)
    except CamError as err:
        st.error(str(err), icon=":material/block:")
        return None
    return path


def upload_input(label: str, types: list[str], key: str, *, multiple: bool = False,
                 check: Callable[[list[Path]], object] | None = None, **kwargs: Any) -> list[Path]:
    """Uploaded files saved in this session's own folder (under one sanitised name each), or [].

    ``check(paths)`` reads them as the page will; when it (or saving) refuses them they are deleted at
    once and its sentence is shown. Each upload is saved and checked once, not on every rerun.
    """
    uploads = st.file_uploader(label, type=types, key=key, accept_multiple_files=multiple, **kwargs)
    uploads = [u for u in (uploads if isinstance(uploads, list) else [uploads]) if u is not None]
    if not uploads:
        return []
    done = st.session_state.setdefault("saved_uploads", {})  # file ids -> paths, or the refusal's sentence
    ids = (key, *(u.file_id for u in uploads))
    if ids not in done:
        folder = page.upload_folder()
        with shown_as_error() as box:
            paths = folder.save(((u.name, u.getvalue()) for u in uploads), suffixes=[f".{t}" for t in types])
            try:
                if check is not None:
                    check(paths)
            except BaseException:
                folder.discard(paths)
                raise
        done[ids] = box.message if box.failed else paths
        if box.failed:
            return []
    if isinstance(done[ids], str):
        st.error(done[ids], icon=":material/error:")
        return []
    return done[ids]


def hand_over(spec: ModelSpec, video: str, target: int | None = None, *, run: bool = True,
              views: Views | None = None, expected: dict | None = None) -> None:
    """Open the explorer with this model, video and target class (``None``: the predicted one) preset,
    and explain at once when ``run``. ``views`` presets the Views choice; ``expected`` (``class``, ``label``,
    ``source``, ``why``: what another page knows the prediction should be) makes the explorer warn when the
    explanation predicts another class. Call it from another page; it does not return (``st.switch_page``)."""
    st.session_state[HANDOFF] = {"config": spec.config, "checkpoint": spec.checkpoint, "label_map": spec.label_map,
                                 "device": spec.device, "trust": spec.trust_checkpoint, "video": str(video),
                                 "target": target, "run": run, "views": views, "expected": expected}
    st.switch_page("explorer.py")


def take_handoff() -> bool:
    """Preset the explorer's pickers from a hand-over another page left (:func:`hand_over`), once.

    Call it before any picker is drawn. The model is set by paths, the video by path; the target class
    is applied by :func:`pick_explanation` once the model's classes are known. Returns whether the
    hand-over asks to explain at once.
    """
    handoff = st.session_state.pop(HANDOFF, None)
    if not handoff:
        return False
    preset("model_source", "paths")
    preset("video_source", "path")
    for key, value in (("config_path", handoff["config"]), ("checkpoint_path", handoff.get("checkpoint")),
                       ("label_map", handoff.get("label_map")), ("video_path", handoff["video"])):
        preset(key, value or "")
    preset("device", handoff.get("device") or "auto")
    preset("trust_checkpoint", bool(handoff.get("trust")) and access.operator_trusts_checkpoints())
    st.session_state[_HANDOFF_TARGET] = handoff.get("target")
    if handoff.get("views"):
        st.session_state["views"] = handoff["views"]
    st.session_state[_HANDOFF_EXPECTED] = ({**handoff["expected"], "config": handoff["config"],
                                           "checkpoint": handoff.get("checkpoint"), "video": handoff["video"]}
                                          if handoff.get("expected") else None)
    return bool(handoff.get("run"))


def expected_prediction_warning(spec: ModelSpec, video: str, predicted: int, label: str,
                                views: Views | str) -> str | None:
    """A warning when a result of the handed-over model and video predicts another class than the page that
    handed it over expected (e.g. the test dump's prediction); None when it agrees or nothing was expected."""
    expected = st.session_state.get(_HANDOFF_EXPECTED)
    if (not expected or expected["config"] != spec.config or expected["checkpoint"] != spec.checkpoint
            or expected["video"] != video or predicted == expected["class"]):
        return None
    causes = [expected["why"]] if expected.get("why") else []
    if views != Views.ALL:
        causes.append("this explanation saw the center view only while tools/test.py averages all the config's "
                      "test views (Views: All views)")
    return (f"{expected.get('source', 'The other page')} predicted {expected['label']} for this video, but this "
            f"model predicts {label} here." + (f" Likely causes: {'; '.join(causes)}." if causes else ""))


def preset(key: str, value: object) -> None:
    """Set the kept widget ``key`` (shown now or later, on any page) to ``value``; call it from a callback or
    before the widget is drawn."""
    st.session_state[key] = keep(key, value)


def preset_path(key: str, value: str | None) -> None:
    """Set a :func:`path_input` field (shown now or later, on any page) to ``value``; call it from a callback
    or before the field is drawn."""
    preset(key, value or "")


def preset_model_paths(config: str, checkpoint: str | None) -> None:
    """Pick a model by config and checkpoint paths in :func:`pick_model` (e.g. the checkpoint that made a
    test dump); call it from a callback or before the picker is drawn."""
    preset("model_source", "paths")
    preset_path("config_path", config)
    preset_path("checkpoint_path", checkpoint)


def pick_model() -> ModelSpec | None:
    """Model source, config, checkpoint, label map, device; None until a model is fully named."""
    source = keep("model_source", st.radio("Model", tuple(MODEL_SOURCES), **kept("model_source", MODEL_SOURCES),
                                           format_func=MODEL_SOURCES.get))
    config = checkpoint = None
    if source == "demo":
        with shown_as_error() as box:
            paths = demo_paths()
        if box.failed:
            return None
        config, checkpoint = paths["config"], paths["checkpoint"]
        st.caption("A tiny 3D ResNet trained on synthetic clips of a shape moving left, right, up or down.")
    elif source == "runs":
        runs = runs_input()
        if not runs:
            return None
        run = keep("training_run", st.selectbox(f"Run ({len(runs)}, newest first)", runs, format_func=run_label,
                                                **kept("training_run", runs)))
        chosen = keep("run_checkpoint", st.selectbox(
            "Checkpoint", run.checkpoints, **kept("run_checkpoint", run.checkpoints),
            format_func=lambda p: p.name + (" (latest)" if p == run.latest else "")))
        if run.config is None:
            st.error(f"Run {run.name} has no dumped config (`*.py`); use config and checkpoint paths instead.")
            return None
        config, checkpoint = str(run.config), str(chosen)
        st.caption(f"Config: {run.config.name}")
    else:
        config = path_input("Config (.py)", "config_path", placeholder="configs/…/my_config.py")
        checkpoint = path_input("Checkpoint (.pth)", "checkpoint_path",
                                 help="Leave empty to explain randomly initialised weights.")
        if refused("config_path", "checkpoint_path"):
            return None
        if config is None:
            st.info("Enter the path of an MMAction2 config.")
            return None
        if checkpoint is None:
            st.warning("No checkpoint: the model has random weights.")
    with st.expander("Class names, device, trust"):
        label_map = path_input("Label map (txt, one class per line)", "label_map",
                                help="Optional; by default the names stored in the checkpoint.")
        if label_map is None and (given := given_label_map(config, checkpoint)) is not None:
            label_map = given
            st.caption(f"Class names from {Path(given).name} (the label map given for this model on another page).")
        device = keep("device", st.radio("Device", tuple(DEVICES), format_func=DEVICES.get, horizontal=True,
                                         **kept("device", DEVICES)))
        trust = _trust()
    if refused("label_map"):
        return None
    return ModelSpec(config, checkpoint, device, label_map, trust)


def _model_id(config: str, checkpoint: str | None) -> str:
    return str(Path(checkpoint or config).expanduser().resolve())


def remember_label_map(config: str, checkpoint: str | None, label_map: str) -> None:
    """Class names are given once: a label map given for a model on one page (e.g. Test results) is the one
    :func:`pick_model` uses for it on every page of this browser session, unless one is typed there."""
    st.session_state.setdefault(_LABEL_MAPS, {})[_model_id(config, checkpoint)] = label_map


def given_label_map(config: str, checkpoint: str | None) -> str | None:
    """The label map given for this model on another page (:func:`remember_label_map`), or None."""
    return st.session_state.get(_LABEL_MAPS, {}).get(_model_id(config, checkpoint))


def _trust() -> bool:
    """The visitor's "trust" tick, offered only when the operator allowed full unpickling for this server."""
    if not access.operator_trusts_checkpoints():
        st.caption("Checkpoints holding arbitrary pickled objects and configs importing other packages' code "
                   "are refused (they could run code). Whoever starts the server can allow them: "
                   f"`{access.TRUST_ENV}=1 streamlit run explorer.py`.")
        return False
    return keep("trust_checkpoint", st.checkbox(TRUST_LABEL, **kept("trust_checkpoint"),
                       help="Allow a checkpoint that holds arbitrary pickled objects, and a config whose "
                            "custom_imports name modules outside MMAction2. Both can run code: only tick this for "
                            "files you made yourself."))


def pick_video(demo_video: str | None) -> VideoRef | None:
    """Video source and the video (file or rawframes folder); None until one is chosen."""
    source = keep("video_source", st.radio("Video", tuple(VIDEO_SOURCES), **kept("video_source", VIDEO_SOURCES),
                                           format_func=VIDEO_SOURCES.get))
    if source == "demo":
        if demo_video is None:
            with shown_as_error() as box:
                demo_video = demo_clip()
            if box.failed or demo_video is None:
                return None
        return VideoRef.of(demo_video)
    if source == "upload":
        returning = "video_upload" not in st.session_state  # back from another page: the uploader is empty again
        uploaded = upload_input("Video file", [ext[1:] for ext in VIDEO_EXTENSIONS], "video_upload",
                                check=lambda paths: core.probe_video(paths[0]))
        earlier = st.session_state.get("kept:video_upload")
        if not uploaded and returning and earlier and Path(earlier).exists():
            st.caption(f"The video uploaded before: {Path(earlier).name}")
            uploaded = [Path(earlier)]
        if not uploaded:
            keep("video_upload", None)
            return None
        path = keep("video_upload", uploaded[0])  # <session folder>/<content digest>/<sanitised name>
        return VideoRef.of(path, stamp=path.parent.name)
    if source == "path":
        typed = path_input("Video file or rawframes folder", "video_path")
        return VideoRef.of(typed) if typed else None
    folder = path_input("Folder", "video_folder", first_folder())
    if folder is None:
        return None
    with shown_as_error() as box:
        videos = find_videos(folder)
    if box.failed:
        return None
    if not videos:
        st.info(f"No videos or rawframes folders in {folder}.")
        return None
    chosen = keep("video_pick", st.selectbox(f"Video ({len(videos)})", videos, **kept("video_pick", videos),
                                             format_func=lambda p: p.name + ("/ (rawframes)" if p.is_dir() else "")))
    return VideoRef.of(chosen)


class Settings(NamedTuple):
    """What to explain and how to draw it."""

    layer: str | None  # None: the architecture's default
    target: int | None  # None: the predicted class
    method: Method
    views: Views
    alpha: float
    colormap: str
    versus: int | str | None = None  # None: no contrast; a class index, or "similar:K" (FinerCAM)
    whole_video: bool = False  # explain every frame (core.whole_video), not one clip

    @property
    def explained(self) -> int | str | None:
        """What ``core.explain`` takes as its target: the class (None: predicted), or a contrast's key."""
        if self.versus is None:
            return self.target
        return Contrast(PREDICTED_TARGET if self.target is None else ClassIndex(self.target),
                        read_versus(self.versus) or PREDICTED_TARGET).key


VIEW_LABELS = {Views.CENTER: "Center crop", Views.ALL: "All views"}
DEFAULT_LAYER, PREDICTED = "", -1  # sentinels: a None option would read as "nothing chosen" after a rerun
NO_VERSUS, SIMILAR = -2, "similar:3"


def pick_explanation(layers: list[LayerInfo], default_layer: str, classes: list[str],
                     methods: list[Method] | None = None) -> tuple[Settings, Callable]:
    """Target layer, target class, method (of ``methods``, default all), views, look; and ``draw_target(probs)``,
    which draws the target-class picker (top-5 of ``probs`` first, with their probabilities) in its place in the
    sidebar.

    The target is read before its picker is drawn, so a page can explain first and then list the classes by the
    probabilities of the explanation it just made: the page is drawn once, not drawn, explained and drawn again.
    """
    shapes = {info.name: info for info in layers}

    def layer_label(name: str) -> str:
        if name == DEFAULT_LAYER:
            return f"Default ({default_layer})"
        info = shapes[name]
        return f"{name}  [{'×'.join(str(s) for s in info.shape[1:])}]" + ("" if info.candidate else "  ·")

    choice = st.selectbox("Target layer", [DEFAULT_LAYER, *shapes], format_func=layer_label, key="layer",
                          help="Stage outputs come first; layers marked · are all the others.")
    typed = _optional(st.text_input("…or type a layer path", key="layer_typed",
                                    placeholder="backbone/layer4/1/relu"))
    layer = typed or choice or None
    if _HANDOFF_TARGET in st.session_state:
        handed = st.session_state.pop(_HANDOFF_TARGET)
        st.session_state["target"] = handed if handed in range(len(classes)) else PREDICTED
    target = st.session_state.get("target", PREDICTED)
    if target != PREDICTED and target not in range(len(classes)):  # a class of another model
        target = st.session_state["target"] = PREDICTED
    versus = st.session_state.get("versus", NO_VERSUS)
    if versus not in (NO_VERSUS, SIMILAR) and versus not in range(len(classes)):
        versus = st.session_state["versus"] = NO_VERSUS
    slot = st.empty()
    offered = methods or list(METHODS)  # the model's: attention methods only for attention backbones
    if st.session_state.get("method") not in (None, *offered):
        st.session_state["method"] = offered[0]
    method = Method(st.selectbox("CAM method", offered, format_func=method_label, key="method"))
    views = Views(st.radio("Views", VIEWS, horizontal=True, key="views", format_func=VIEW_LABELS.get,
                       help="All views keeps the config's multi-crop / multi-clip test views."))
    alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="alpha")
    colormap = st.selectbox("Colormap", COLORMAPS, key="colormap")
    whole = st.toggle("Whole video", key="whole_video",
                      help="Explain every frame: the model's clip sampling slides over the whole video (center "
                           "view), with the class-score timeline of its windows.")

    def draw_target(probs: list[float] | None) -> None:
        with slot.container():
            _target_picker(classes, probs)

    settings = Settings(layer, None if target in (None, PREDICTED) else target, method, views, alpha, colormap,
                        None if versus == NO_VERSUS else cast(int | str, versus), whole)
    return settings, draw_target


def _target_picker(classes: list[str], probs: list[float] | None) -> int:
    order = list(range(len(classes)))
    if probs is not None and len(probs) == len(classes):
        top = sorted(order, key=lambda i: -probs[i])[:5]
        order = top + [i for i in order if i not in top]

    def class_label(index: int) -> str:
        if index == PREDICTED:
            return "Predicted class"
        if probs is not None and index in order[:5]:
            return f"{classes[index]} — {probs[index]:.1%}"
        return classes[index]

    target = st.selectbox("Target class", [PREDICTED, *order], format_func=class_label, key="target",
                          help="Top-5 of the last run come first, with their probabilities; type to search.")

    def versus_label(value: int | str) -> str:
        if value == NO_VERSUS:
            return "— (no contrast)"
        if value == SIMILAR:
            return "its 3 most similar classes (FinerCAM)"
        return class_label(int(value))

    st.selectbox("versus", [NO_VERSUS, SIMILAR, *order], format_func=versus_label, key="versus",
                 help="Why the target rather than this class: the map of score(target) − score(versus), "
                      "the logit difference (shared evidence cancels).")
    return target
