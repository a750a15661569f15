"""The Grad-CAM explorer: ``streamlit run explorer.py``.

Pick a model and a video in the sidebar, press **Run Grad-CAM**, then scrub through the heatmaps.
This page only wires widgets to ``core`` (through the cached calls in ``pages.ui.cache``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace

import streamlit as st
from starlette.middleware import Middleware

from pages.ui.gate import Gate
from pages.ui.page import setup_page
from pages.ui.text import use_controls


def _first_paint() -> st.delta_generator.DeltaGenerator:
    """What a visitor sees at once: the password (when needed), the title, and on a fresh server a note that
    PyTorch, MMAction2 and the model are loading (seconds); returns that note's place, emptied once the sidebar is
    drawn."""
    setup_page("Grad-CAM explorer", "🔥")  # first: password, allowed folders
    st.title("Grad-CAM explorer")
    loading = st.empty()
    if "torch" not in sys.modules:
        loading.info("Loading PyTorch, MMAction2 and the model…", icon=":material/hourglass_top:")
    return loading


_loading = _first_paint() if __name__ == "__main__" else None  # (the server imports this file too: no page then)

import core  # noqa: E402  (applies the mmaction2 compatibility shim first)
from core.cam import methods_for  # noqa: E402
from core.downloads import file_stem  # noqa: E402
from core.geometry import Views  # noqa: E402
from core.methods import method_label  # noqa: E402
from pages.ui import cache, pickers  # noqa: E402
from pages.ui.errors import shown_as_error  # noqa: E402
from pages.ui.evaluate import show_evaluate  # noqa: E402
from pages.ui.viewer import preload_player, show_view, warm_player  # noqa: E402
from pages.ui.whole_video import SEEK, show_whole_video  # noqa: E402


def _sidebar() -> tuple[cache.ModelSpec | None, cache.VideoRef | None, pickers.Settings | None, Callable]:
    """Model, video and explanation settings (each None until it can be used), and ``draw_target(probs)`` that
    draws the target-class picker once the page knows the probabilities to list the classes by."""
    draw_target: Callable = lambda probs: None  # noqa: E731
    with st.sidebar:
        st.header("Model")
        spec = pickers.pick_model()
        handle = None
        if spec is not None:
            with shown_as_error() as box, st.spinner("Loading the model…"):
                handle = cache.model(spec)
                layers, default_layer = cache.layers(spec), cache.default_layer(spec)
            if box.failed or handle is None:
                spec, handle = None, None
            else:
                st.caption(f"{handle.num_classes} classes · {handle.device} · "
                           f"{type(handle.model).__name__}")
        st.header("Video")
        demo_video = None
        if st.session_state.get("model_source") == "demo" and spec is not None:
            demo_video = pickers.demo_paths()["video"]
        video = pickers.pick_video(demo_video)
        settings = None
        if handle is not None:
            st.header("Explanation")
            settings, draw_target = pickers.pick_explanation(layers, default_layer, handle.classes,
                                                             methods_for(handle))
    return spec, video, settings, draw_target


def _video_facts(spec: cache.ModelSpec | None, video: cache.VideoRef) -> bool:
    """Frames, fps, resolution and duration of the video; False when it cannot be read."""
    with shown_as_error() as box:
        info = cache.probe(video, spec)
    if box.failed:
        return False
    kind = "rawframes folder" if info.is_rawframes else "video"
    st.markdown(f"**{video.name}** · {kind}")
    cols = st.columns(4)
    cols[0].metric("Frames", f"{info.frames}")
    cols[1].metric("FPS", f"{info.fps:.2f}" if info.fps else "—")
    cols[2].metric("Resolution", f"{info.width}×{info.height}")
    cols[3].metric("Duration", f"{info.duration:.2f} s" if info.duration else "—")
    return True


def _run(key: cache.RunKey, whole: bool) -> None:
    """Explain with progress and remember the run (the result itself lives in the cache): one clip, or every
    frame of the video (``whole``: the model's windows over its whole length). The page goes on to draw the result
    in this same run: nothing is drawn twice, and the overlay video is encoded after the player is shown
    (:func:`pages.ui.viewer.show_view`)."""
    started = time.perf_counter()
    result = None
    with st.status("Explaining the whole video…" if whole else "Explaining…", expanded=True) as status:
        with shown_as_error() as box:
            if whole:
                st.write(f"Sliding the model's clip sampling over {key.video.name} and explaining every window…")
                cache.whole_video(key)
            else:
                st.write("Loading the model…")
                handle = cache.model(key.model)
                st.write(f"Decoding the video and running {key.method} on {handle.device}…")
                result = cache.explain(key)
        if box.failed:
            status.update(label="Failed", state="error", expanded=True)
            return
        status.update(label=f"Done in {time.perf_counter() - started:.1f} s", state="complete", expanded=False)
    st.session_state["run_key"], st.session_state["run_whole"] = key, whole
    st.session_state["run_stamps"] = key.model.stamps()
    if whole:
        st.session_state[SEEK] = 0.0
    elif result is not None and result.probs is not None:  # a result made here has them (read-back ones may not)
        st.session_state.setdefault("last_probs", {})[(key.model, key.video)] = result.probs.tolist()


def _view_of(key: cache.RunKey, result: core.ExplainResult) -> core.ExplainResult:
    """The result named for its downloads (the cached result itself is left as it is)."""
    name = file_stem(key.video.name, result.checkpoint, result.layer, result.target_label, result.method)
    return replace(result, name=name)


def _view_key(key: cache.RunKey) -> str:
    """Identifies a result's content for the rendering cache and the viewer's widgets: the run's settings and
    the stamps of its files (a checkpoint rewritten at the same path is another result)."""
    return f"run{abs(hash((key, key.model.stamps())))}"


def _look() -> tuple[float, str]:
    """Overlay opacity and colormap (they change the drawing, not the result)."""
    return st.session_state.get("look", (0.5, "viridis"))


def _show(key: cache.RunKey, result: core.ExplainResult) -> None:
    # a result made here has its scores (only a result read back from files may lack them)
    assert result.predicted_class is not None and result.probs is not None
    predicted = result.classes[result.predicted_class]
    st.subheader(f"Explained: {result.target_label}")
    st.caption(f"Explained class {result.target_class} ({result.target_label}) · predicted: {predicted} "
               f"({result.probs[result.predicted_class]:.1%}) · layer {result.layer} · "
               f"{method_label(result.method)} · views: {result.views}"
               + ("".join(f" · note: {n}" for n in result.notes)))
    if warning := pickers.expected_prediction_warning(key.model, key.video.path, result.predicted_class, predicted,
                                                      result.views):
        st.warning(warning, icon=":material/warning:")
    alpha, colormap = _look()
    view = _view_of(key, result)
    show_view(view, _view_key(key), alpha=alpha, colormap=colormap)
    show_evaluate(key, view, colormap=colormap)


def main() -> None:
    use_controls(pickers.EXPLORER_CONTROLS)
    preload_player()  # the first result's player then appears as soon as it is drawn
    explain_now = pickers.take_handoff()  # another page (e.g. Test results) may open a sample here
    spec, video, settings, draw_target = _sidebar()
    if _loading is not None:
        _loading.empty()
    if video is None:
        draw_target(None)
        st.info("Choose a video in the sidebar.")
        return
    readable = _video_facts(spec, video)
    if settings is not None:
        st.session_state["look"] = (settings.alpha, settings.colormap)
    key = None
    if spec is not None and settings is not None:
        key = cache.RunKey(spec, video, settings.layer, settings.explained, settings.method,
                           Views.CENTER if settings.whole_video else settings.views)
    whole = settings is not None and settings.whole_video
    clicked = st.button("Run Grad-CAM", type="primary", key="run_gradcam", disabled=key is None or not readable,
                        icon=":material/play_arrow:")
    if key is not None and (clicked or (explain_now and readable)):
        _run(key, whole)
    draw_target(st.session_state.get("last_probs", {}).get((spec, video)))  # the top-5 of this run first
    shown = st.session_state.get("run_key")
    if shown is None:
        return
    if st.session_state.get("run_stamps") != shown.model.stamps():
        st.info("The model's files (config, checkpoint or label map) changed on disk since this result: press "
                "**Run Grad-CAM** to explain with them.")
        return
    shown_whole = bool(st.session_state.get("run_whole"))
    if shown != key or shown_whole != whole:
        st.info("The settings changed since this result: press **Run Grad-CAM** to explain them.")
    if shown_whole:
        st.subheader(f"Whole video: {shown.video.name}")
        show_whole_video(cache.whole_video(shown))
        return
    with shown_as_error():
        _show(shown, cache.explain(shown))


if __name__ == "__main__":  # Streamlit runs this file as __main__ for every visitor, on every rerun
    main()
else:  # `streamlit run explorer.py` imports it to find the server to start: Streamlit's, behind the gate
    app = st.App(__file__, middleware=[Middleware(Gate)])
    cache.warm_up(warm_player)  # while the server starts and the browser loads the page (cold start)
