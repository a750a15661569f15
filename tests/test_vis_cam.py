"""`python -m core.vis_cam`: vis_cam.py's arguments, our outputs, one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import av
import pytest
import torch
from conftest import ROOT
from tiny_model import make_model

import core
from core.vis_cam import main


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model"))


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_writes_txt_sidecar_and_h264(model_files, demo_mp4, tmp_path, capsys):
    config, ckpt = model_files
    code, err = run_cli(capsys, config, ckpt, demo_mp4, "--device", "cpu", "--file-url", tmp_path / "cam.txt",
                        "--out-filename", tmp_path / "cam.mp4", "--target-class", "c", "--fps", "8", "--all-views")
    assert code == 0, err
    meta = json.loads((tmp_path / "cam.json").read_text())
    assert meta["target_class"] == 2 and meta["target_label"] == "c" and meta["shape"] == [6, 8, 64, 64]
    maps = core.read_heatmap_txt(tmp_path / "cam.txt")
    assert maps.shape == (48, 64, 64) and 0 <= maps.min() and maps.max() <= 1
    with av.open(str(tmp_path / "cam.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.json", "cam.mp4", "cam.txt"]


def test_gif_with_target_resolution(model_files, rawframes_dir, tmp_path, capsys):
    config, ckpt = model_files
    code, err = run_cli(capsys, config, ckpt, rawframes_dir, "--use-frames", "--device", "cpu",
                        "--out-filename", tmp_path / "cam.gif", "--target-resolution", "100", "-1")
    assert code == 0, err
    from PIL import Image

    gif = Image.open(tmp_path / "cam.gif")
    assert gif.size == (100, 100) and gif.n_frames == 16


def test_outputs_never_overwrite_an_input(model_files, demo_mp4, tmp_path, capsys, monkeypatch):
    config, ckpt = model_files
    video = tmp_path / "a.mp4"
    video.write_bytes(demo_mp4.read_bytes())
    (tmp_path / "labels.txt").write_text("\n".join("abcde") + "\n")
    (tmp_path / "link.mp4").symlink_to(video)
    original = video.read_bytes()
    monkeypatch.chdir(tmp_path)
    cases = [  # (extra arguments, the output that would overwrite an input)
        (["--out-filename", video], video),
        (["--out-filename", "./sub/../a.mp4"], "./sub/../a.mp4"),  # another spelling of the same file
        (["--out-filename", tmp_path / "link.mp4"], tmp_path / "link.mp4"),  # a link to it
        (["--file-url", tmp_path / "labels.txt", "--label-map", tmp_path / "labels.txt"], tmp_path / "labels.txt"),
    ]
    (tmp_path / "sub").mkdir()
    for extra, output in cases:
        code, err = run_cli(capsys, config, ckpt, video, "--device", "cpu", *extra)
        lines = [line for line in err.splitlines() if not line.startswith("[vis_cam]")]
        assert code == 2 and len(lines) == 1 and "would overwrite an input" in lines[0], err
        assert str(output) in lines[0]
    assert video.read_bytes() == original
    code, err = run_cli(capsys, config, ckpt, tmp_path / "link.mp4", "--device", "cpu", "--file-url",
                        tmp_path / "link.txt")  # a sidecar beside a linked input is fine
    assert code == 0, err


def write_bad_inputs(tmp_path, config, ckpt):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "corrupt.mp4").write_bytes(os.urandom(4096))
    (tmp_path / "notes.txt").write_text("not a video\n")
    (tmp_path / "noframes").mkdir()
    (tmp_path / "noframes" / "readme.md").write_text("x")
    weights = torch.load(ckpt, weights_only=True)["state_dict"]
    weights["cls_head.fc_cls.weight"] = torch.zeros(9, 64)
    weights["cls_head.fc_cls.bias"] = torch.zeros(9)
    torch.save({"state_dict": weights}, tmp_path / "other.pth")

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"state_dict": weights, "x": Payload()}, tmp_path / "evil.pth")


BAD = {
    "missing video": (["{ckpt}", "{tmp}/nope.mp4"], "does not exist"),
    "empty file": (["{ckpt}", "{tmp}/empty.mp4"], "empty file"),
    "corrupt file": (["{ckpt}", "{tmp}/corrupt.mp4"], "could not be (read|decoded)"),
    "not a video": (["{ckpt}", "{tmp}/notes.txt"], "could not be (read|decoded)"),
    "folder without frames": (["{ckpt}", "{tmp}/noframes"], "holds no frames"),
    "video with --use-frames": (["{ckpt}", "{demo}", "--use-frames"], "not a rawframes directory"),
    "checkpoint of another model": (["{tmp}/other.pth", "{demo}"], "does not fit this config"),
    "malicious checkpoint": (["{tmp}/evil.pth", "{demo}"], "refused"),
    "missing checkpoint": (["{tmp}/none.pth", "{demo}"], "does not exist"),
    "unknown layer": (["{ckpt}", "{demo}", "--target-layer-name", "backbone/layer9"], "no layer.*Candidates"),
    "class out of range": (["{ckpt}", "{demo}", "--target-class", "5"], "out of range"),
    "unknown class name": (["{ckpt}", "{demo}", "--target-class", "zebra"], "Unknown class"),
    "unwritable txt": (["{ckpt}", "{demo}", "--file-url", "{tmp}/no/such/dir/cam.txt"], "does not exist"),
    "wrong txt suffix": (["{ckpt}", "{demo}", "--file-url", "{tmp}/cam.csv"], "must end in .txt"),
    "wrong video suffix": (["{ckpt}", "{demo}", "--out-filename", "{tmp}/cam.avi"], "must end in .mp4 or .gif"),
    "bad alpha": (["{ckpt}", "{demo}", "--alpha", "3"], "alpha"),
    "bad colormap": (["{ckpt}", "{demo}", "--colormap", "rainbowz"], "Unknown colormap"),
    "unknown method": (["{ckpt}", "{demo}", "--method", "magic"], "Unknown CAM method"),
    "attention method on a CNN": (["{ckpt}", "{demo}", "--method", "rollout"],
                                  "Attention rollout needs attention layers .* ResNet3dSlowOnly has none"),
    "cuda without gpu": (["{ckpt}", "{demo}", "--device", "cuda:0"], "no CUDA GPU"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_line_and_no_output(case, model_files, demo_mp4, tmp_path, capsys):
    if case == "cuda without gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config, ckpt = model_files
    write_bad_inputs(tmp_path, config, ckpt)
    before = set(tmp_path.rglob("*"))
    args, message = BAD[case]
    argv = [a.format(ckpt=ckpt, tmp=tmp_path, demo=demo_mp4) for a in args]
    extra = [] if "--device" in argv else ["--device", "cpu"]
    code, err = run_cli(capsys, config, *argv, *extra, "--file-url" if "--file-url" not in argv else "--fps",
                        tmp_path / "out.txt" if "--file-url" not in argv else "5")
    assert code == 2
    lines = [line for line in err.splitlines() if not line.startswith("[vis_cam]")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    import re

    assert re.search(message, lines[0]), lines[0]
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even a partial file
    assert not (tmp_path / "pwned").exists()


def test_subprocess_exit_code_and_help(model_files, tmp_path):
    config, ckpt = model_files
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "core.vis_cam", str(config), str(ckpt), str(tmp_path / "x.mp4")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: Video")
    assert "Traceback" not in proc.stderr
    helptext = subprocess.run([sys.executable, "-m", "core.vis_cam", "--help"], capture_output=True, text=True,
                              env=env).stdout
    for option in ("--use-frames", "--target-layer-name", "--out-filename", "--fps", "--cfg-options",
                   "--target-resolution", "--resize-algorithm", "--file-url", "--target-class", "--all-views",
                   "--trust-checkpoint", "--alpha", "--colormap", "--device"):
        assert option in helptext


def test_cfg_options_reach_the_pipeline(model_files, demo_mp4, tmp_path, capsys):
    config, ckpt = model_files
    code, err = run_cli(capsys, config, ckpt, demo_mp4, "--device", "cpu", "--all-views",
                        "--file-url", tmp_path / "cam.txt", "--cfg-options", "test_pipeline.1.num_clips=3")
    assert code == 0, err
    assert json.loads((tmp_path / "cam.json").read_text())["shape"] == [9, 8, 64, 64]  # 3 crops x 3 clips


def test_command_lines_report_errors_and_ctrl_c_in_one_line(capsys):
    from core.errors import CamError, run_command

    def bad() -> int:
        raise CamError("Video x.mp4 does not exist; pass a video file.")

    def stopped() -> int:
        raise KeyboardInterrupt

    assert run_command(lambda: 3) == 3
    assert run_command(bad) == 2
    assert capsys.readouterr().err == "error: Video x.mp4 does not exist; pass a video file.\n"
    assert run_command(stopped, interrupted="interrupted; rerun to finish") == 130
    assert capsys.readouterr().err == "error: interrupted; rerun to finish\n"
    with pytest.raises(ValueError):  # a bug is not a user error: it keeps its traceback
        run_command(lambda: int("x"))
