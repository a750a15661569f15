"""core.heatmap_files.read_result and core.compare on files written by core.vis_cam (tiny real model, demo.mp4):
our files come back with their sidecar, npz and the model's window of the source frames; legacy printed
files come back as frames alone; two results pair frame by frame with differences and correlations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from heatmap_data import copy_result, make_heatmap_files

import core
from core.compare import compare_results, pearson
from core.errors import CamError
from core.formats.npz import read_npz
from core.formats.txt import write_heatmap_txt
from core.heatmap_files import read_result
from core.overlay import frame_label, resize_frames, write_video


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    return make_heatmap_files(tmp_path_factory)


@pytest.fixture(scope="module")
def explained(files) -> core.ExplainResult:
    """The same explanation in memory: its frames are the model's input frames."""
    handle = core.load_model(files["config"], files["checkpoint"], "cpu")
    return core.explain(handle, str(files["video"]), target=2)


def _frame_error(frames: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(frames.astype(np.int64) - expected.astype(np.int64)).mean())


def test_ours_with_sidecar_npz_and_source_frames(files, explained):
    opened = read_result(files["layer4"])
    view, meta = opened, json.loads(files["layer4"].with_suffix(".json").read_text())
    assert not opened.legacy and opened.file_notes == []
    assert view.heatmaps.shape == tuple(meta["shape"]) == explained.heatmaps.shape
    npz = read_npz(files["layer4"].with_suffix(".npz"))
    assert np.array_equal(view.heatmaps, npz["heatmaps"])  # full precision from the npz, not the txt's 6 decimals
    assert np.array_equal(view.frame_indices, explained.frame_indices)
    assert view.fps == pytest.approx(explained.fps) and view.target_class == 2
    assert view.classes == list("abcde") and np.allclose(view.probs, explained.probs)
    assert view.pixel_aspect == pytest.approx(1.0)
    # the window the model saw, cut from the decoded source frames, matches the model's input frames
    assert view.frames.shape == explained.frames.shape
    assert _frame_error(view.frames, explained.frames) < 6
    # ...which the whole frame squeezed into the heatmap does not
    side = json.loads(files["layer4"].with_suffix(".json").read_text())
    side["crop_box"] = [0, 0, *side["source_size"]]
    side["view_boxes"] = [side["crop_box"]] * len(side["view_boxes"])
    moved = copy_result(files["layer4"], files["folder"] / "whole", "layer4")
    moved.with_suffix(".json").write_text(json.dumps(side))
    assert _frame_error(read_result(moved).frames, explained.frames) > 20


def test_all_views_file_overlays_each_views_own_window(files, tmp_path):
    """ThreeCrop x 2 clips: each view's frames are cut from the source through that view's window."""
    from core.vis_cam import main

    txt = tmp_path / "views.txt"
    assert main([str(files["config"]), str(files["checkpoint"]), str(files["video"]), "--device", "cpu",
                 "--all-views", "--target-class", "c", "--file-url", str(txt)]) == 0
    handle = core.load_model(files["config"], files["checkpoint"], "cpu")
    explained = core.explain(handle, str(files["video"]), target=2, views="all")
    opened = read_result(txt)
    assert opened.file_notes == [] and opened.frames.shape == explained.frames.shape == (6, 8, 64, 64, 3)
    assert _frame_error(opened.frames, explained.frames) < 6
    assert opened.pixel_aspect == pytest.approx(1.0)  # a 64x64 crop of a square window
    assert _frame_error(opened.frames[0], explained.frames[4]) > 20  # left and right crops differ
    side = json.loads(txt.with_suffix(".json").read_text())
    x0, y0, x1, y1 = side["crop_box"]  # the three windows together span the frame (ThreeCrop's step is whole
    assert (x0, y0, y1) == (0, 0, 256) and 330 < x1 <= 340  # pixels of the 85x64 image, so it may leave a few)
    del side["view_boxes"], side["view_flips"]  # as written before views had windows of their own
    txt.with_suffix(".json").write_text(json.dumps(side))
    older = read_result(txt)
    assert older.frames is None and "predates per-view windows" in older.file_notes[0]


def test_video_of_another_resolution_scales_the_window(files, explained, tmp_path):
    import decord

    reader = decord.VideoReader(str(files["video"]))
    frames = reader.get_batch(list(range(int(explained.frame_indices.max()) + 1))).asnumpy()
    height, width = frames.shape[1:3]
    small = write_video(resize_frames(frames, (width // 2, height // 2)), tmp_path / "small.mp4", fps=explained.fps)
    opened = read_result(files["layer4"], video=small)
    assert any("the window was scaled" in note for note in opened.file_notes)
    assert _frame_error(opened.frames, explained.frames) < 10


def test_missing_sidecar_video_is_a_note_until_given(files, tmp_path):
    txt = copy_result(files["layer4"], tmp_path, "moved")
    meta = json.loads(txt.with_suffix(".json").read_text())
    meta["video"] = str(tmp_path / "elsewhere" / "demo.mp4")
    txt.with_suffix(".json").write_text(json.dumps(meta))
    opened = read_result(txt)
    assert opened.frames is None and "is not here" in opened.file_notes[0]
    assert read_result(txt, video=files["video"]).frames is not None
    with pytest.raises(CamError, match="does not exist"):
        read_result(txt, video=tmp_path / "nope.mp4")


def test_legacy_printed_file_is_frames_alone(files):
    text = files["legacy"].read_text()
    assert "tensor([[" in text and "array([[" in text and "Frame 15 - Heatmap values:" in text
    opened = read_result(files["legacy"], video=files["video"])
    assert opened.legacy and opened.frames is None and "has no sidecar" in opened.file_notes[0]
    expected = core.read_heatmap_txt(files["layer4"])
    assert opened.heatmaps.shape == (1, *expected.shape)
    assert np.abs(opened.heatmaps[0] - expected).max() < 1e-6
    assert opened.fps is None and opened.probs is None and opened.extra == {} and opened.video == ""
    assert read_result(files["legacy"], frames=False).windows is None


def test_npz_of_other_heatmaps_is_left_out(files, tmp_path):
    txt = copy_result(files["layer4"], tmp_path, "mixed", (".txt", ".json"))
    (tmp_path / "mixed.npz").write_bytes(files["layer4"].with_suffix(".npz").read_bytes())
    assert read_result(txt).probs is not None
    write_heatmap_txt(txt, core.read_heatmap_txt(files["layer3"]))  # same shape, other heatmaps
    opened = read_result(txt)
    assert "holds other heatmaps" in opened.file_notes[0] and opened.probs is None
    assert np.array_equal(opened.heatmaps.reshape(-1, 64, 64), core.read_heatmap_txt(files["layer3"]))


def test_sidecar_of_another_file_is_refused(files, tmp_path):
    txt = copy_result(files["layer4"], tmp_path, "cut", (".json",))
    write_heatmap_txt(txt, core.read_heatmap_txt(files["layer4"])[:5])
    with pytest.raises(CamError, match="do not belong together"):
        read_result(txt)


def test_two_layers_compared_frame_by_frame(files):
    a, b = read_result(files["layer4"]), read_result(files["layer3"])
    cmp = compare_results(a, b)
    assert cmp.notes == [] and len(cmp.labels) == a.num_frames == 16
    assert np.array_equal(cmp.difference, a.flat_heatmaps() - b.flat_heatmaps())
    expected = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a.flat_heatmaps(), b.flat_heatmaps(),
                                                                       strict=True)]
    assert cmp.correlation == pytest.approx(expected, abs=1e-6, nan_ok=True)
    assert cmp.saliency_correlation == pytest.approx(np.corrcoef(a.saliency().ravel(), b.saliency().ravel())[0, 1],
                                                     abs=1e-6)
    assert cmp.mean_abs_difference == pytest.approx(np.abs(cmp.difference).mean(axis=(1, 2)))
    assert cmp.labels[9] == frame_label(a, 9) and "view 2" in cmp.labels[9]
    same = compare_results(a, a)
    assert not same.difference.any() and np.nanmin(same.correlation) == pytest.approx(1.0)


def test_legacy_pairs_in_file_order_and_smaller_maps_are_resized(files, tmp_path):
    ours = read_result(files["layer4"])
    legacy = read_result(files["legacy"])
    cmp = compare_results(legacy, ours)
    assert "no sidecar" in cmp.notes[0] and cmp.mean_abs_difference.max() < 1e-5
    small = tmp_path / "small.txt"
    write_heatmap_txt(small, resize_frames((core.read_heatmap_txt(files["layer3"])[..., None] * 255)
                                           .astype(np.uint8).repeat(3, -1), (32, 32))[..., 0] / 255)
    cmp = compare_results(ours, read_result(small))
    assert cmp.b.shape == cmp.a.shape == (16, 64, 64) and any("resized" in n for n in cmp.notes)
    assert np.nanmean(cmp.correlation) > 0.9 * np.nanmean(compare_results(ours, read_result(files["layer3"]))
                                                          .correlation)
    write_heatmap_txt(small, core.read_heatmap_txt(files["layer3"])[:10])
    with pytest.raises(CamError, match="cannot be compared frame by frame"):
        compare_results(ours, read_result(small))


def test_results_sampling_different_frames_pair_on_common_ones(files, tmp_path):
    meta = json.loads(files["layer4"].with_suffix(".json").read_text())
    maps = core.read_heatmap_txt(files["layer4"])
    stems = {}
    for name, frames in (("first", slice(0, 8)), ("later", slice(2, 8))):
        txt = tmp_path / f"{name}.txt"
        write_heatmap_txt(txt, maps[frames])
        indices = meta["frame_indices"][0][frames]
        txt.with_suffix(".json").write_text(json.dumps({**meta, "shape": [1, len(indices), 64, 64],
                                                        "frame_indices": [indices], "views": "center",
                                                        "view_boxes": meta["view_boxes"][:1],
                                                        "view_flips": meta["view_flips"][:1]}))
        stems[name] = (read_result(txt), indices)
    (first, first_idx), (later, later_idx) = stems["first"], stems["later"]
    cmp = compare_results(first, later)
    assert len(cmp.labels) == 6 and "6 source frames" in cmp.notes[0]
    assert cmp.a_index.tolist() == [first_idx.index(i) for i in later_idx]
    assert not cmp.difference.any()  # the same maps, once aligned
    far = {**meta, "shape": [1, 1, 64, 64], "frame_indices": [[9999]], "view_boxes": meta["view_boxes"][:1],
           "view_flips": meta["view_flips"][:1]}
    write_heatmap_txt(tmp_path / "far.txt", maps[:1])
    (tmp_path / "far.json").write_text(json.dumps(far))
    far_file = read_result(tmp_path / "far.txt")  # the sidecar's video lacks frame 9999: no overlay, a note
    assert far_file.frames is None and "not the video they were made from" in far_file.file_notes[0]
    with pytest.raises(CamError, match="share no source frame"):
        compare_results(first, far_file)


def test_tsn_segments_against_i3d_clips_compare_on_the_shared_source_frames():
    """TSN's 8 segments (one view) against I3D's 2 clips of 16 frames (two views) of one 64-frame video share 7
    source frames: they are compared there, and the note says how many (it refused, naming the same file twice)."""
    from core.result import ExplainResult

    rng = np.random.default_rng(0)

    def result(indices: list[list[int]]) -> ExplainResult:
        maps = rng.random((len(indices), len(indices[0]), 7, 7)).astype(np.float32)
        return ExplainResult(heatmaps=maps, frames=None, frame_indices=np.array(indices), scores=None, probs=None,
                             target_class=0, target_label="a", layer="backbone", method="gradcam", classes=["a"],
                             video="/videos/clip.mp4", config="cfg.py", checkpoint=None, name="clip")

    tsn = result([[4, 12, 20, 28, 36, 44, 52, 61]])
    i3d = result([list(range(0, 32, 2)), list(range(32, 64, 2))])
    shared = sorted(set(tsn.source_frames().tolist()) & set(i3d.source_frames().tolist()))
    assert len(shared) == 7
    cmp = compare_results(tsn, i3d)
    assert tsn.source_frames()[cmp.a_index].tolist() == shared == i3d.source_frames()[cmp.b_index].tolist()
    assert "(8 and 32 heatmap frames); the 7 source frames both show are compared" in cmp.notes[-1]
    with pytest.raises(CamError, match=r"result A \(clip\) and result B \(clip\) share no source frame"):
        compare_results(tsn, result([[1, 3]]))


def test_pearson_of_constant_maps_is_nan():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 5, 7))
    assert pearson(maps, maps * 2 + 1) == pytest.approx(np.ones(3))
    assert np.isnan(pearson(np.zeros((5, 7)), maps[0]))


def _with_sidecar(files: dict, folder, name: str, source: str = "layer4", **changes) -> core.ExplainResult:
    """A copy of a result whose sidecar fields are changed."""
    txt = copy_result(files[source], folder, name)
    meta = json.loads(txt.with_suffix(".json").read_text())
    txt.with_suffix(".json").write_text(json.dumps({**meta, **changes}))
    return read_result(txt, frames=False)


def test_results_of_different_videos_are_refused_unless_asked(files, tmp_path):
    """Two files of different videos (another name, or the same name at another size or rate) are not compared
    frame by frame unless asked, and then say so first; the same name in another folder is the same video."""
    from core.compare import OtherVideos, same_video

    ours, layer3 = read_result(files["layer4"]), read_result(files["layer3"])
    assert same_video(ours, layer3).verdict == "same" and compare_results(ours, layer3).notes == []
    other = _with_sidecar(files, tmp_path, "other", "layer3", video="/elsewhere/test.mp4")
    with pytest.raises(OtherVideos, match=r"layer4 explains demo.mp4 and other explains test.mp4"):
        compare_results(ours, other)
    anyway = compare_results(ours, other, other_videos=True)
    assert anyway.video.verdict == "different" and "two different clips" in anyway.notes[0]
    assert np.array_equal(anyway.difference, compare_results(ours, layer3).difference)
    moved = _with_sidecar(files, tmp_path, "moved", "layer3", video="/elsewhere/demo.mp4")
    assert same_video(ours, moved).verdict == "same" and "different folders" in compare_results(ours, moved).notes[0]
    meta = json.loads(files["layer4"].with_suffix(".json").read_text())
    bigger = _with_sidecar(files, tmp_path, "bigger", "layer3", video="/elsewhere/demo.mp4", source_size=[680, 512],
                           crop_box=[80, 0, 592, 512], view_boxes=[[80, 0, 592, 512]] * 2)
    assert "340×256 and the other 680×512" in same_video(ours, bigger).reason
    faster = _with_sidecar(files, tmp_path, "faster", "layer3", fps=meta["fps"] * 2)
    with pytest.raises(OtherVideos, match="frames per second"):
        compare_results(ours, faster)
    legacy = compare_results(ours, read_result(files["legacy"]))
    assert legacy.video.verdict == "unknown" and legacy.notes == [
        "legacy has no sidecar, so whether both show the same video cannot be checked. Heatmap frames are "
        "paired in file order."]


@pytest.mark.parametrize("count, total, stride", [(16, 280, None), (8, 280, 2), (8, 10, 2), (5, 3, None),
                                                  (32, 100, 3), (1, 7, None)])
def test_legacy_frames_sampled_as_mmaction2_samples_them(count, total, stride):
    """The assumed frames are MMAction2's own test sampling (SampleFrames, test_mode): segment middles, or one
    clip of frames ``stride`` apart, centred, looping past the end."""
    from mmaction.datasets.transforms import SampleFrames

    from core.heatmap_files import legacy_frame_indices

    sampler = SampleFrames(clip_len=1, num_clips=count, test_mode=True) if stride is None else \
        SampleFrames(clip_len=count, frame_interval=stride, num_clips=1, test_mode=True)
    expected = sampler(dict(total_frames=total, start_index=0))["frame_inds"]
    assert legacy_frame_indices(count, total, stride).tolist() == expected.tolist()


def test_legacy_file_placed_on_its_video(files):
    """A legacy txt placed on a video: its frames are the source frames sampled evenly (or by a stride), cut
    through the centred window of the heatmaps' shape (or the whole frame); it stays legacy, its labels say
    "position i in the file" and "assumed", and a note says what was assumed."""
    from core.heatmap_files import legacy_frame_indices, place_legacy, source_frames

    legacy = read_result(files["legacy"])
    info = core.probe_video(files["video"])
    placed = place_legacy(legacy, files["video"])
    expected = legacy_frame_indices(16, info.frames)
    assert placed.legacy and placed.frame_indices.tolist() == [expected.tolist()]
    assert placed.windows.boxes == ((42.0, 0.0, 298.0, 256.0),) and placed.windows.source_size == (340, 256)
    frames, _ = source_frames(files["video"], expected[None], placed.windows, (64, 64))
    assert np.array_equal(placed.frames, frames) and np.array_equal(placed.heatmaps, legacy.heatmaps)
    assert frame_label(placed, 3) == f"position 3 in the file · source frame {expected[3]} (assumed)"
    assert frame_label(legacy, 3) == "position 3 in the file" and legacy.times() is None
    assert "Placed on demo.mp4 by assumption" in placed.file_notes[-1] and "sampled evenly" in placed.file_notes[-1]
    strided = place_legacy(legacy, files["video"], stride=3, window="frame")
    assert strided.frame_indices[0].tolist() == legacy_frame_indices(16, info.frames, 3).tolist()
    assert strided.windows.boxes == ((0.0, 0.0, 340.0, 256.0),) and "3 apart" in strided.file_notes[-1]
    assert strided.pixel_aspect == pytest.approx((340 / 64) / (256 / 64))
    with pytest.raises(CamError, match="needs no placing"):
        place_legacy(read_result(files["layer4"]), files["video"])
    from core.downloads import result_files

    assert [f.label for f in result_files(placed)] == ["Heatmaps (txt)", "Arrays (npz)", "Overlay video (mp4)"]
