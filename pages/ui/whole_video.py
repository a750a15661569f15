"""The explorer's whole-video view: the overlay of the whole length, the class-score timeline under it (a click
seeks the player), and the downloads."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from core.whole_video import Timeline, read_timeline
from pages.ui.errors import shown_as_error

SEEK = "whole_video_seek"


def timeline_figure(timeline: Timeline, explained: list[int], top: int = 5) -> go.Figure:
    """Each window's probability of the top classes over time; the explained classes drawn bold."""
    fig = go.Figure()
    x = timeline.centers.tolist()
    shown = timeline.top_classes(top)
    shown += [c for c in explained if c not in shown]
    for index in shown:
        bold = index in explained
        fig.add_trace(go.Scatter(
            x=x, y=timeline.probs[:, index].tolist(), mode="lines+markers", name=timeline.classes[index],
            line=dict(width=4 if bold else 1.5), marker=dict(size=7 if bold else 5),
            hovertemplate="%{x:.2f}: %{y:.1%}<extra>" + timeline.classes[index] + "</extra>"))
    unit = "s" if timeline.fps else "frame"
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), clickmode="event+select", dragmode=False,
                      title_text="Class scores of each window (click to seek)", yaxis=dict(title="probability",
                                                                                        range=[0, 1]),
                      xaxis=dict(title=f"window centre ({unit})"), legend=dict(orientation="h", y=-0.3))
    return fig


def seek_of(points: list[dict]) -> float | None:
    """The time a click on the timeline asks for: the clicked point's x (None without a point)."""
    for point in points:
        try:
            return max(0.0, float(point["x"]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _clicked() -> None:
    points = (st.session_state.get("whole_video_timeline") or {}).get("selection", {}).get("points") or []
    seek = seek_of(points)
    if seek is not None:
        st.session_state[SEEK] = seek


def show_whole_video(txt: Path) -> None:
    """The overlay video of the whole length, the timeline (click to seek), the CSV and the heatmap files."""
    with shown_as_error() as box:
        timeline = read_timeline(txt)
    if box.failed:
        return
    seek = float(st.session_state.get(SEEK, 0.0))
    mp4 = txt.with_suffix(".mp4")
    if mp4.is_file():
        st.video(str(mp4), start_time=int(seek) if timeline.fps else 0)
    explained = sorted({int(t) for t in timeline.targets.tolist()})
    st.plotly_chart(timeline_figure(timeline, explained), key="whole_video_timeline", on_select=_clicked,
                    selection_mode="points", config=dict(displaylogo=False))
    frames = len(timeline.starts)
    st.caption(f"{frames} windows · explained: {', '.join(timeline.classes[c] for c in explained)} · "
               + (f"player at {seek:.1f} s" if timeline.fps else "no frame rate: the player starts at 0"))
    cols = st.columns(2)
    cols[0].download_button("Timeline (csv)", timeline.csv(), file_name=f"{txt.stem}_timeline.csv",
                            mime="text/csv", key="whole_video_csv", icon=":material/download:")
    cols[1].download_button("Sidecar (json)", txt.with_suffix(".json").read_bytes(),
                            file_name=txt.with_suffix(".json").name, mime="application/json",
                            key="whole_video_json", icon=":material/download:")
    st.caption(f"Heatmaps of every frame (txt, npz) and the overlay: `{txt.parent}`")
