"""The heatmap txt format, its sidecar and npz, and browser-playable overlay videos."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

import core
from core.formats.txt import heatmap_text, read_heatmap_txt, write_heatmap_txt
from core.overlay import overlay, write_video


def reference_text(maps: np.ndarray) -> str:
    """The format written the slow, obvious way (as the thesis' patched vis_cam did)."""
    return "".join(f"Frame {i} - Heatmap values:\n" + "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in m)
                   for i, m in enumerate(maps))


def test_txt_matches_printf_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.random((2, 3, 11, 13), dtype=np.float32)
    maps[0, 0, 0, :4] = [0.0, 1.0, 0.5, 0.1234565]
    assert heatmap_text(maps).decode() == reference_text(maps.reshape(-1, 11, 13))
    write_heatmap_txt(tmp_path / "cam.txt", maps)
    back = read_heatmap_txt(tmp_path / "cam.txt")
    assert back.shape == (6, 11, 13)
    np.testing.assert_allclose(back, maps.reshape(6, 11, 13), atol=5e-7)


def test_values_outside_unit_range_use_the_general_path(tmp_path):
    maps = np.array([[[-1.5, 2.25], [1e-7, 3.0]]], np.float32)
    assert heatmap_text(maps).decode() == reference_text(maps)


def test_reader_accepts_numpy_and_torch_printed_blocks(tmp_path):
    import torch

    rng = np.random.default_rng(1)
    maps = rng.random((2, 4, 30))
    printed = "".join(f"Frame {i} - Heatmap values:\n{m}\n\n" for i, m in enumerate(maps))
    (tmp_path / "np.txt").write_text(printed)  # numpy wraps long rows over several lines
    np.testing.assert_allclose(read_heatmap_txt(tmp_path / "np.txt"), maps, atol=1e-7)
    small = maps * 1e-5
    printed = "".join(f"Frame {i} - Heatmap values:\n{torch.tensor(m)}\n" for i, m in enumerate(small))
    (tmp_path / "torch.txt").write_text(printed)  # tensor([[...]]) with scientific notation
    np.testing.assert_allclose(read_heatmap_txt(tmp_path / "torch.txt"), small, rtol=1e-3)
    (tmp_path / "csv.txt").write_text("Frame 0 - Heatmap values:\n0.1, 0.2\n3e-1, 4E-1\n")
    np.testing.assert_allclose(read_heatmap_txt(tmp_path / "csv.txt"), [[[0.1, 0.2], [0.3, 0.4]]])


@pytest.mark.parametrize("text, message", [("hello", "not a heatmap file"),
                                           ("Frame 0 - Heatmap values:\n[0.1 ... 0.3]\n", "summarised"),
                                           ("Frame 0 - Heatmap values:\n0.1 0.2\n0.3\n", "different lengths"),
                                           ("Frame 0 - Heatmap values:\n0.1 abc\n", "not a number")])
def test_reader_errors(text, message, tmp_path):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(core.CamError, match=message):
        read_heatmap_txt(tmp_path / "bad.txt")


@pytest.mark.parametrize("rows", ["0.1 0.2 0.3\n0.4\n", "[[0.1 0.2 0.3]\n [0.4]]\n", "0.1, 0.2, 0.3\n0.4\n"])
def test_ragged_rows_are_refused_with_frame_and_row(rows, tmp_path):
    """One row a value longer and the next one shorter: as many values as a 2x2 frame, never shifted into one."""
    text = f"Frame 0 - Heatmap values:\n0.1 0.2\n0.3 0.4\nFrame 1 - Heatmap values:\n{rows}"
    (tmp_path / "ragged.txt").write_text(text)
    with pytest.raises(core.CamError, match="Frame 1 has rows of different lengths: row 2 has 1 value and row 1 has 3"):
        read_heatmap_txt(tmp_path / "ragged.txt")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(core.CamError, match="does not exist"):
        write_heatmap_txt(tmp_path / "missing" / "cam.txt", np.zeros((1, 2, 2)))
    with pytest.raises(core.CamError):
        write_video(np.zeros((0, 4, 4, 3), np.uint8), tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_overlay_matches_mmaction_blending():
    import matplotlib
    import torch

    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    heat = rng.random((2, 5, 6), dtype=np.float32)
    ours = overlay(frames, heat, alpha=0.3)
    cmap = torch.from_numpy(matplotlib.colormaps["viridis"](heat)[..., :3])  # as GradCAM._alpha_blending
    expected = ((0.3 * cmap + 0.7 * torch.from_numpy(frames).float() / 255) * 255).numpy().astype(np.uint8)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1


def test_h264_mp4_and_gif(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (12, 51, 67, 3), dtype=np.uint8)  # odd sizes are cropped to even
    write_video(frames, tmp_path / "o.mp4", fps=6)
    with av.open(str(tmp_path / "o.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.format.name == "yuv420p"
        assert (stream.width, stream.height) == (66, 50)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(decoded) == 12 and float(stream.duration * stream.time_base) == pytest.approx(2.0)
    write_video(frames, tmp_path / "o.gif", fps=6)
    from PIL import Image

    assert Image.open(tmp_path / "o.gif").n_frames == 12


def test_write_result_sidecar_and_npz(tmp_path, demo_mp4):
    from real_configs import TSN, shrunk

    handle = core.load_model(shrunk(TSN, num_clips=2, size=64), device="cpu")
    result = core.explain(handle, demo_mp4)
    core.write_result(tmp_path / "cam.txt", result, npz=True)
    meta = json.loads((tmp_path / "cam.json").read_text())
    assert meta["target_class"] == result.target_class and meta["layer"] == "backbone/layer4"
    assert meta["frame_indices"] == result.frame_indices.tolist() and meta["shape"] == [1, 2, 64, 64]
    assert len(meta["top5"]) == 5 and meta["source_size"] == [340, 256]
    # Resize(-1, 64): 340x256 -> 85x64; CenterCrop(64) keeps x 10..74, i.e. 40..296 source pixels
    assert meta["crop_box"] == pytest.approx([40, 0, 296, 256], abs=1e-3)
    npz = np.load(tmp_path / "cam.npz")
    np.testing.assert_array_equal(npz["heatmaps"], result.heatmaps)
    np.testing.assert_allclose(read_heatmap_txt(tmp_path / "cam.txt"), result.heatmaps[0], atol=5e-7)
