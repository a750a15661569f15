"""Issue 22.2 and 22.3: a config's ``type`` is a name, never an import; a results folder never decides what runs.

MMEngine's ``Registry.get`` imports a dotted ``type`` it does not know and calls it with the other keys as
arguments: ``dict(type='os.system', command='touch X')`` in a test pipeline ran a command, whether it came
from a JSON config, ``--cfg-options`` or the options a results folder's ``.batch.json`` recorded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mmaction
import pytest
from conftest import sample_file
from mmengine.config import Config
from test_access import _marker_module
from tiny_model import make_model

from core import access, explain
from core.access import TrustRequired
from core.batch.job import BatchRequest, read_manifest, resume_request
from core.batch.spec import BatchOptions, ModelFiles
from core.batch.store import MANIFEST_NAME
from core.checkpoint import read_checkpoint
from core.errors import CamError
from core.model import load_config, load_model
from core.vis_cam import main as vis_cam
from pages.ui.text import for_page

RECOGNITION = Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("tiny"))


def test_a_json_config_naming_a_function_runs_nothing(tiny, tmp_path):
    config, checkpoint = tiny
    marker = tmp_path / "pwned"
    cfg = Config.fromfile(str(config)).to_dict()
    cfg["test_pipeline"][0] = {"type": "os.system", "command": f"touch {marker}"}
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps(cfg))
    with pytest.raises(CamError, match=r"sets test_pipeline.0.type to 'os.system', which is not a registered "
                                       r"MMAction2 type") as error:
        handle = load_model(evil, checkpoint, device="cpu")
        explain(handle, sample_file("demo.mp4"))  # (what ran the command: building the test pipeline)
    assert "\n" not in str(error.value) and not marker.exists()


def test_cfg_options_naming_a_function_run_nothing(tiny, tmp_path, capsys):
    config, checkpoint = tiny
    marker = tmp_path / "pwned"
    code = vis_cam([str(config), str(checkpoint), str(sample_file("demo.mp4")), "--device", "cpu",
                    "--out-filename", str(tmp_path / "out.mp4"), "--cfg-options", "test_pipeline.3.type=os.system",
                    f"test_pipeline.3.command=touch {marker}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not marker.exists()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and "sets test_pipeline.3.type to 'os.system'" in errors[0], err


@pytest.mark.parametrize("value", ["posix.system", "builtins.eval", "subprocess.getoutput", "antigravity",
                                   "mmaction.os.system", "os"])
def test_held_out_types_are_refused(tiny, value):
    config, _ = tiny
    with pytest.raises(CamError, match=r"sets model.cls_head.type to"):
        load_config(config, {"model.cls_head.type": value})


def test_custom_imports_given_as_cfg_options_are_checked_like_a_files(tiny, tmp_path, monkeypatch):
    config, _ = tiny
    marker = _marker_module(tmp_path, monkeypatch)
    with pytest.raises(TrustRequired, match=r"imports mmcam_marker_mod through custom_imports"):
        load_config(config, {"custom_imports.imports": ["mmcam_marker_mod"]})
    assert not marker.exists()
    load_config(config, {"custom_imports.imports": ["mmcam_marker_mod"]}, trust=True)  # the operator decides
    assert marker.exists()


@pytest.mark.parametrize("config", [
    "tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py",  # consensus.type='AvgConsensus'
    "slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py",  # slow_pathway.type='resnet3d' (a parameter)
    "omnisource/slowonly_r50_8xb16-8x8x1-256e_imagenet-kinetics400-rgb.py",  # mmcls.* transforms
    "tsn/custom_backbones/tsn_imagenet-pretrained-swin-transformer_8xb32-1x1x3-100e_kinetics400-rgb.py",  # timm.*
])
def test_mmaction_configs_pass_the_type_check(config):
    load_config(RECOGNITION / config)


@pytest.mark.slow
def test_every_recognition_config_passes_the_type_check(slow_only):
    refused = []
    for path in sorted(RECOGNITION.rglob("*.py")):
        if "_base_" not in path.parts:
            try:
                load_config(path)
            except CamError as error:
                refused.append(f"{path.name}: {error}")
    assert not refused


# --------------------------------------------------------------------------- a results folder (22.3)


def _manifest(folder: Path, **changes) -> Path:
    request = BatchRequest(config="/a/cfg.py", checkpoint="/a/w.pth", inputs=["/v"], out=str(folder))
    payload = {"request": {**request.to_json(), **changes}, "videos": 3, "started": 0.0, "command": ""}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).write_text(json.dumps(payload))
    return folder


@pytest.mark.parametrize("changes", [
    {"options": {"steps": -5, "evaluate": True}}, {"options": {"steps": 2.5}}, {"options": {"alpha": 7}},
    {"options": {"alpha": "0.5"}}, {"options": {"blur_sigma": 0}}, {"options": {"fps": -1}},
    {"options": {"method": "os.system"}}, {"options": {"views": "every"}}, {"workers": 0}, {"workers": "8"},
    {"options": {"method": 5}}, {"options": {"baseline": ["zeros"]}}, {"options": {"views": None}},
    {"cfg_options": ["test_pipeline.0.type=os.system"]}, {"inputs": "/v"}, {"options": {"overlay": "yes"}},
])
def test_batch_json_options_are_validated_like_the_command_line(tmp_path, changes):
    with pytest.raises(CamError):
        BatchRequest.from_json(json.loads((_manifest(tmp_path, **changes) / MANIFEST_NAME).read_text())["request"])
    assert read_manifest(tmp_path) is None  # not offered for resuming


def test_resume_lists_cfg_options_and_settings_that_differ(tmp_path):
    folder = _manifest(tmp_path / "out", cfg_options={"test_pipeline.0.type": "os.system"},
                       options={"method": "gradcampp", "alpha": 0.3})
    recorded = read_manifest(folder)["request"]
    mine = ModelFiles("/a/cfg.py", "/a/w.pth")
    request, differences = resume_request(recorded, mine, str(folder), options=BatchOptions())
    assert any(d.startswith("cfg-options: recorded test_pipeline.0.type=os.system") for d in differences)
    assert "method: recorded gradcampp (used), chosen gradcam" in differences
    assert "alpha: recorded 0.3 (used), chosen 0.5" in differences
    with pytest.raises(CamError, match=r"sets test_pipeline.0.type to 'os.system'"):  # confirmed, still a name
        load_config(RECOGNITION / "tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py",
                    request.cfg_options)


def test_uploads_are_never_configs_or_checkpoints(tiny, tmp_path, monkeypatch):
    """An uploaded sidecar .json or results .pkl typed as the model's config or checkpoint is refused, without
    the upload folder's name (one session could otherwise learn where the others' uploads are)."""
    config, checkpoint = tiny
    uploads = tmp_path / "secret-uploads-name"
    monkeypatch.setenv("MMCAM_UPLOADS", str(uploads))
    session = uploads / "session"
    session.mkdir(parents=True)
    shutil.copy(config, session / "sidecar.py")
    shutil.copy(checkpoint, session / "results.pth")
    with access.limited(access.Roots.of([tmp_path, config.parent])):
        for action in (lambda: load_config(session / "sidecar.py"), lambda: read_checkpoint(session / "results.pth")):
            with pytest.raises(CamError, match="is an uploaded file, and uploads are data") as error:
                action()
            assert "secret-uploads-name" not in str(error.value)
        load_config(config)  # the same files elsewhere are fine
        read_checkpoint(checkpoint)


def test_no_sentence_on_a_page_names_the_upload_folder(tmp_path, monkeypatch):
    uploads = tmp_path / "secret-uploads-name"
    monkeypatch.setenv("MMCAM_UPLOADS", str(uploads))
    said = [f"{uploads}/k3j9x2/results.pkl is not a readable results pickle (truncated).",
            f"Checkpoint {uploads.resolve()}/k3j9x2/evil.pth was refused: it needs `posix.system`.",
            f"the folder {uploads} is full"]
    shown = [for_page(sentence) for sentence in said]
    assert shown[:2] == ["results.pkl is not a readable results pickle (truncated).",
                         "Checkpoint evil.pth was refused: it needs `posix.system`."]
    assert all("secret-uploads-name" not in text and "k3j9x2" not in text for text in shown), shown
