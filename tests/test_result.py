"""core.result, core.overlay and core.downloads on a real explanation (tiny ResNet3d, real video): what the
viewer draws (pages.ui.viewer's timeline too) and every downloaded file, read back with independent readers
(core's txt reader, json, numpy, PyAV, PIL)."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import av
import numpy as np
import pytest
from conftest import sample_file
from PIL import Image
from tiny_model import write_tiny_config

import core
from core.downloads import file_stem, frame_png, npz_bytes, overlay_mp4, result_files
from core.errors import CamError
from core.formats.sidecar import to_sidecar
from core.geometry import Windows
from core.overlay import display_overlays, display_size, frame_label, playback_fps, result_overlays
from core.result import ExplainResult, topk
from pages.ui.viewer import timeline


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    video = sample_file("demo.mp4")
    config = write_tiny_config(tmp_path_factory.mktemp("tiny"), [video])
    handle = core.load_model(config, None, "cpu")
    return core.explain(handle, video)  # 2 clips of 8 frames (center crop): V=2, T=8


def test_view_from_result_matches_the_result(result):
    view = replace(result, name="clip")
    num_views, num_frames = result.heatmaps.shape[:2]
    assert num_views == 2 and view.num_frames == num_views * num_frames
    assert np.array_equal(view.source_frames(), result.frame_indices.reshape(-1))
    assert np.allclose(view.times(), result.frame_indices.reshape(-1) / result.fps)
    curves = timeline(view)
    for i, (v, t) in enumerate(np.ndindex(num_views, num_frames)):
        assert curves["max"][i] == result.heatmaps[v, t].max()
        assert curves["mean"][i] == pytest.approx(result.heatmaps[v, t].mean(), rel=1e-5)
    assert np.allclose(view.saliency(), result.saliency())
    assert topk(view, 3) == topk(result, 3)
    label = frame_label(view, num_frames + 1)  # second frame of the second view
    assert label.startswith("view 2 · source frame ") and label.endswith(" s")
    assert int(label.split("source frame ")[1].split(" ")[0]) == result.frame_indices[1, 1]
    overlays = result_overlays(view, 0.4, "jet")
    assert overlays.shape == (view.num_frames, *result.frames.shape[2:]) and overlays.dtype == np.uint8
    # the pace of the sampled stretch: T frames spanning (last - first + step) source frames
    indices = result.frame_indices[0]
    step = np.median(np.diff(indices))
    assert playback_fps(view) == pytest.approx(len(indices) * result.fps / (indices[-1] - indices[0] + step))


def test_downloads_read_back(result, tmp_path):
    name = file_stem(result.video, result.checkpoint, result.layer, result.target_label)
    view = replace(result, name=name)
    files = {f.file_name: f for f in result_files(view, alpha=0.5, colormap="viridis")}
    assert sorted(files) == sorted(f"{name}{ext}" for ext in (".txt", ".json", ".npz", "_overlay.mp4"))
    txt = tmp_path / "heatmaps.txt"
    txt.write_bytes(files[f"{name}.txt"].data)
    assert files[f"{name}.txt"].data.decode().count("Heatmap values:") == view.num_frames
    assert np.allclose(core.read_heatmap_txt(txt), view.flat_heatmaps(), atol=5e-7)
    assert json.loads(files[f"{name}.json"].data) == json.loads(json.dumps(to_sidecar(result)))
    arrays = np.load(io.BytesIO(files[f"{name}.npz"].data))
    assert np.array_equal(arrays["heatmaps"], result.heatmaps)
    assert np.array_equal(arrays["frame_indices"], result.frame_indices)
    assert np.array_equal(arrays["probs"], result.probs) and int(arrays["target_class"]) == result.target_class
    with av.open(io.BytesIO(files[f"{name}_overlay.mp4"].data)) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.codec_context.name == "h264"
    assert len(decoded) == view.num_frames
    width, height = display_size(view)
    assert decoded[0].shape[:2] == (height // 2 * 2, width // 2 * 2)
    blended = display_overlays(view, 0.5, "viridis")
    assert np.abs(decoded[3].astype(int) - blended[3, :height // 2 * 2, :width // 2 * 2]).mean() < 8  # lossy codec


def test_frame_png_shows_heatmap_and_overlay(result):
    view = result
    image = Image.open(io.BytesIO(frame_png(view, 5, min_height=200)))
    width, height = display_size(view)
    scale = int(np.ceil(200 / height))
    assert image.format == "PNG" and image.size == (2 * width * scale + 8, height * scale + 24)
    with pytest.raises(ValueError):
        frame_png(view, view.num_frames)


def test_pixel_aspect_follows_the_crop_box(result):
    view = result
    x0, y0, x1, y1 = result.crop_box
    height, width = result.heatmaps.shape[-2:]
    assert view.pixel_aspect == pytest.approx(((x1 - x0) / width) / ((y1 - y0) / height))
    wide = ExplainResult(np.zeros((4, 10, 20), np.float32), windows=Windows.single((60, 20), (0, 0, 60, 20)))
    tall = ExplainResult(np.zeros((4, 10, 20), np.float32), windows=Windows.single((20, 20), (0, 0, 20, 20)))
    assert wide.pixel_aspect == pytest.approx(1.5) and tall.pixel_aspect == pytest.approx(0.5)
    assert display_size(wide) == (30, 10) and display_size(tall) == (20, 20)


def test_view_of_a_heatmap_file_without_frames(result, tmp_path):
    path = core.write_heatmap_txt(tmp_path / "old.txt", result.heatmaps)
    view = ExplainResult(core.read_heatmap_txt(path), name="old", legacy=True)
    assert view.heatmaps.shape == (1, result.heatmaps.shape[0] * result.heatmaps.shape[1], *result.heatmaps.shape[2:])
    assert view.frames is None and result_overlays(view) is None and overlay_mp4(view) is None
    assert view.times() is None and topk(view) == [] and frame_label(view, 3) == "position 3 in the file"
    assert [f.file_name for f in result_files(view)] == ["old.txt", "old.npz"]  # no sidecar: its frames are unknown
    assert set(np.load(io.BytesIO(npz_bytes(view)))) == {"heatmaps", "frame_indices"}
    assert Image.open(io.BytesIO(frame_png(view, 0))).size[1] > view.heatmaps.shape[2]
    with pytest.raises(CamError, match="do not match"):
        ExplainResult(result.heatmaps, frames=result.frames[:, :3])


def test_file_stem():
    assert file_stem("/v/My Clip.mp4", "/w/best_acc_epoch_9.pth", "backbone/layer4/1/relu", "abseiling") == \
        "My_Clip_best_acc_epoch_9_backbone.layer4.1.relu_abseiling"
    assert file_stem("a.mp4", None, "backbone/layer3", "moving left", "gradcampp") == \
        "a_random_backbone.layer3_moving_left_gradcampp"
