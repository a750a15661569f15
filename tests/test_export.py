"""The heatmap txt format, its sidecar and npz, and browser-playable overlay videos."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

import core
from core.formats.txt import heatmap_block, heatmap_text, read_heatmap_txt, write_heatmap_txt
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


def former_unit_text(block: np.ndarray) -> bytes:
    """The [0, 1] formatter this file format was written with before the table-lookup one (one array pass per
    digit), kept as a second oracle: the new one must write the same bytes."""
    q = np.rint(block.astype(np.float64) * 1e6).astype(np.int64)
    digits = np.empty((*q.shape, 9), np.uint8)
    digits[..., 0] = 48 + q // 1_000_000
    digits[..., 1] = ord(".")
    rest = q % 1_000_000
    for pos in range(8, 2, -1):
        digits[..., pos - 1] = 48 + rest % 10
        rest //= 10
    digits[..., 8] = ord(" ")
    digits[..., -1, 8] = ord("\n")
    return digits.tobytes()


def unit_edge_values() -> np.ndarray:
    """float32 values in [0, 1] where %.6f is easiest to get wrong: exact halves of a millionth (j/128 for odd j:
    printf rounds them to even), the float32 neighbours of many halves and of thousand boundaries, 0, 1 and
    the values next to them, subnormals."""
    rng = np.random.default_rng(1)
    halves = (rng.integers(0, 1_000_000, 4000) + 0.5) / 1e6
    thousands = rng.integers(0, 1001, 2000) / 1000 - 5e-7
    near = np.concatenate([halves, thousands, [0.9999995, 5e-7, 0.0009995, 0.0005]]).astype(np.float32)
    neighbours = np.concatenate([near, np.nextafter(near, np.float32(0)), np.nextafter(near, np.float32(1))])
    exact = np.arange(1, 128, 2, dtype=np.float32) / 128
    ends = np.array([0.0, 1.0, np.nextafter(np.float32(1), np.float32(0)), np.float32(1e-45), np.float32(1e-38),
                     np.float32(4.9999997e-7), np.float32(5.0000004e-7)], np.float32)
    return np.clip(np.concatenate([neighbours, exact, ends]), 0, 1).astype(np.float32)


@pytest.mark.parametrize("shape", [(37, 61), (1, 7), (9, 1), (112, 112)])
def test_unit_formatter_matches_printf_and_the_former_writer(shape):
    rng = np.random.default_rng(sum(shape))
    edges = unit_edge_values()
    size = shape[0] * shape[1]
    frames = [rng.random(shape, dtype=np.float32)]  # random maps, then every edge value in maps of this shape
    frames += [np.resize(edges[i:i + size], shape) for i in range(0, edges.size, size)]
    for number, frame in enumerate(frames):
        text = heatmap_block(number, frame)
        assert text == heatmap_block(number, frame, fast=False)  # the printf path
        assert text.split(b"\n", 1)[1] == former_unit_text(frame)
    assert heatmap_text(np.stack(frames)).decode() == reference_text(np.stack(frames))
    special = np.resize(np.array([0.5, np.nan, np.inf, -np.inf, 1.0000001, -0.0], np.float32), shape)
    assert heatmap_block(0, special) == heatmap_block(0, special, fast=False)  # the printf path takes them


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
