"""Checkpoints in every layout users have load safely; hostile or mismatched ones are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import sample_file
from tiny_model import train_with_runner, write_tiny_config

import core
from core.checkpoint import read_checkpoint


class Payload:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def runner_run(tmp_path_factory, demo_mp4_path):
    folder = tmp_path_factory.mktemp("run")
    config = write_tiny_config(folder, [demo_mp4_path, sample_file("test.mp4")])
    return config, train_with_runner(config, folder / "work_dirs" / "tiny")


@pytest.fixture(scope="module")
def demo_mp4_path():
    return sample_file("demo.mp4")


def test_runner_checkpoint_loads_without_full_pickle(runner_run):
    config, ckpt_path = runner_run
    raw = read_checkpoint(ckpt_path)
    assert {"meta", "state_dict", "message_hub", "optimizer"} <= set(raw)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(ckpt_path, weights_only=True)  # what MMEngine's own loader hits on torch>=2.6
    handle = core.load_model(config, ckpt_path, device="cpu")
    for key, value in handle.model.state_dict().items():
        assert torch.equal(value, raw["state_dict"][key])


@pytest.mark.parametrize("layout", ["bare", "module_prefixed", "model_key"])
def test_other_layouts(layout, runner_run, tmp_path):
    config, ckpt_path = runner_run
    weights = read_checkpoint(ckpt_path)["state_dict"]
    payload = {"bare": weights, "module_prefixed": {f"module.{k}": v for k, v in weights.items()},
               "model_key": {"model": weights, "epoch": 3}}[layout]
    torch.save(payload, tmp_path / "ckpt.pth")
    handle = core.load_model(config, tmp_path / "ckpt.pth", device="cpu")
    assert all(torch.equal(v, weights[k]) for k, v in handle.model.state_dict().items())


def test_class_names_from_meta_and_label_map(runner_run, tmp_path):
    config, ckpt_path = runner_run
    ckpt = read_checkpoint(ckpt_path)
    ckpt["meta"]["dataset_meta"] = {"classes": ["a", "b", "c", "d", "e"]}
    torch.save(ckpt, tmp_path / "named.pth")
    assert core.load_model(config, tmp_path / "named.pth", device="cpu").classes == list("abcde")
    (tmp_path / "labels.txt").write_text("v\nw\nx\ny\nz\n")
    handle = core.load_model(config, tmp_path / "named.pth", device="cpu", label_map=tmp_path / "labels.txt")
    assert handle.classes == list("vwxyz")
    (tmp_path / "short.txt").write_text("v\nw\n")
    with pytest.raises(core.CamError, match="5 classes but the class names list 2"):
        core.load_model(config, tmp_path / "named.pth", device="cpu", label_map=tmp_path / "short.txt")


def test_malicious_pickle_is_refused_without_running(runner_run, tmp_path):
    config, ckpt_path = runner_run
    marker = tmp_path / "pwned"
    ckpt = read_checkpoint(ckpt_path)
    ckpt["meta"]["evil"] = Payload(marker)
    torch.save(ckpt, tmp_path / "evil.pth")
    with pytest.raises(core.CamError, match=r"refused: it needs `posix.system`.*--trust-checkpoint"):
        core.load_model(config, tmp_path / "evil.pth", device="cpu")
    assert not marker.exists()
    core.load_model(config, tmp_path / "evil.pth", device="cpu", trust_checkpoint=True)
    assert marker.exists()  # the explicit opt-in really is a full unpickle


def test_checkpoint_of_another_model_names_keys(runner_run, tmp_path):
    config, ckpt_path = runner_run
    weights = read_checkpoint(ckpt_path)["state_dict"]
    weights["cls_head.fc_cls.weight"] = torch.zeros(7, 64)
    del weights["backbone.layer1.0.conv1.conv.weight"]
    torch.save({"state_dict": weights}, tmp_path / "other.pth")
    with pytest.raises(core.CamError, match=r"does not fit.*cls_head.fc_cls.weight \(7, 64\).*"
                                            r"backbone.layer1.0.conv1.conv.weight"):
        core.load_model(config, tmp_path / "other.pth", device="cpu")


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"not a checkpoint at all", "could not be read"),
                                              (None, "does not exist")])
def test_unreadable_files(content, message, runner_run, tmp_path):
    config, _ = runner_run
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(core.CamError, match=message):
        core.load_model(config, path, device="cpu")


def test_random_weights_are_deterministic_and_pretrained_never_fetched(runner_run, monkeypatch):
    import mmengine.runner.checkpoint as mm_checkpoint
    from real_configs import TSN

    config, _ = runner_run
    a, b = core.load_model(config, device="cpu"), core.load_model(config, device="cpu", seed=0)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert core.load_config(TSN).model.backbone.pretrained.startswith("https://")  # the config names weights…

    def no_download(*args, **kwargs):
        raise AssertionError(f"tried to download {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(mm_checkpoint, "load_from_http", no_download)
    core.load_model(TSN, device="cpu")  # …and building never fetches them
