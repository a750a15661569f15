"""The Grad-CAM explorer: ``streamlit run explorer.py``.

Pick a model and a video in the sidebar, press **Run Grad-CAM**, then scrub through the heatmaps.
This page only wires widgets to ``core`` (through the cached calls in ``pages.ui.cache``).
"""

from __future__ import annotations

import time
from dataclasses import replace

import streamlit as st
from starlette.middleware import Middleware

import core  # (applies the mmaction2 compatibility shim first)
from core.downloads import file_stem
from pages.ui import cache, pickers
from pages.ui.errors import shown_as_error
from pages.ui.evaluate import show_evaluate
from pages.ui.gate import Gate
from pages.ui.page import setup_page
from pages.ui.viewer import render, show_view
from pages.ui.whole_video import SEEK, show_whole_video


def _sidebar() -> tuple[cache.ModelSpec | None, cache.VideoRef | None, pickers.Settings | None]:
    """Model, video and explanation settings (each None until it can be used)."""
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
            probs = st.session_state.get("last_probs", {}).get((spec, video))
            settings = pickers.pick_explanation(layers, default_layer, handle.classes, probs)
    return spec, video, settings


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


def _run(key: cache.RunKey) -> None:
    """Explain with progress; remember the run (the result itself lives in the cache)."""
    started = time.perf_counter()
    with st.status("Explaining…", expanded=True) as status:
        with shown_as_error() as box:
            st.write("Loading the model…")
            handle = cache.model(key.model)
            st.write(f"Decoding the video and running {key.method} on {handle.device}…")
            result = cache.explain(key)
            st.write("Rendering the overlay video and the figures…")
            alpha, colormap = _look()
            render(_view_of(key, result), _view_key(key), alpha=alpha, colormap=colormap)
        if box.failed:
            status.update(label="Failed", state="error", expanded=True)
            return
    st.session_state["run_key"], st.session_state["run_whole"] = key, False
    st.session_state["run_note"] = f"Done in {time.perf_counter() - started:.1f} s"
    if result.probs is not None:  # always, for a result made here (only read-back results may lack them)
        st.session_state.setdefault("last_probs", {})[(key.model, key.video)] = result.probs.tolist()
    st.rerun()  # redraw the sidebar too: the target picker lists this run's top-5 first


def _run_whole(key: cache.RunKey) -> None:
    """Explain every frame of the video (the model's windows over its whole length)."""
    started = time.perf_counter()
    with st.status("Explaining the whole video…", expanded=True) as status:
        with shown_as_error() as box:
            st.write(f"Sliding the model's clip sampling over {key.video.name} and explaining every window…")
            cache.whole_video(key)
        if box.failed:
            status.update(label="Failed", state="error", expanded=True)
            return
    st.session_state["run_key"], st.session_state["run_whole"] = key, True
    st.session_state[SEEK] = 0.0
    st.session_state["run_note"] = f"Done in {time.perf_counter() - started:.1f} s"
    st.rerun()


def _view_of(key: cache.RunKey, result: core.ExplainResult) -> core.ExplainResult:
    """The result named for its downloads (the cached result itself is left as it is)."""
    name = file_stem(key.video.name, result.checkpoint, result.layer, result.target_label, result.method)
    return replace(result, name=name)


def _view_key(key: cache.RunKey) -> str:
    """Identifies a result's content for the rendering cache and the viewer's widgets."""
    return f"run{abs(hash(key))}"


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
               f"{core.METHODS[result.method].label or result.method} · views: {result.views}"
               + ("".join(f" · note: {n}" for n in result.notes)))
    if warning := pickers.expected_prediction_warning(key.model, key.video.path, result.predicted_class, predicted,
                                                      result.views):
        st.warning(warning, icon=":material/warning:")
    alpha, colormap = _look()
    view = _view_of(key, result)
    show_view(view, _view_key(key), alpha=alpha, colormap=colormap)
    show_evaluate(key, view, colormap=colormap)


def main() -> None:
    setup_page("Grad-CAM explorer", "🔥", controls=pickers.EXPLORER_CONTROLS)  # first: password, allowed folders
    st.title("Grad-CAM explorer")
    explain_now = pickers.take_handoff()  # another page (e.g. Test results) may open a sample here
    spec, video, settings = _sidebar()
    if video is None:
        st.info("Choose a video in the sidebar.")
        return
    readable = _video_facts(spec, video)
    if settings is not None:
        st.session_state["look"] = (settings.alpha, settings.colormap)
    key = None
    if spec is not None and settings is not None:
        key = cache.RunKey(spec, video, settings.layer, settings.explained, settings.method,
                           "center" if settings.whole_video else settings.views)
    whole = settings is not None and settings.whole_video
    clicked = st.button("Run Grad-CAM", type="primary", key="run_gradcam", disabled=key is None or not readable,
                        icon=":material/play_arrow:")
    if key is not None and (clicked or (explain_now and readable)):
        if whole:
            _run_whole(key)
        else:
            _run(key)
    if note := st.session_state.pop("run_note", None):
        st.status(note, state="complete")
    shown = st.session_state.get("run_key")
    if shown is None:
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
