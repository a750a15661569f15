"""``python -m core.batch --evaluate``: each map's faithfulness in summary.csv, equal to ``core.faithfulness`` on
the same model and video, kept in the sidecars so that resuming, rebuilding the summary and later runs without
``--evaluate`` keep the columns; a change of the evaluation's settings measures again."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from batch_support import batch_fixtures

import core
from core.batch import read_summary
from core.batch.cli import main
from core.batch.job import BatchRequest, read_manifest
from core.batch.spec import BatchOptions, Evaluation
from core.batch.store import EVALUATION_FIELDS, SUMMARY_FIELDS, result_row
from core.batch.tasks import BatchTask

model, clips, handle = batch_fixtures(2)

STEPS, BASELINE = 5, "static"


def _run(capsys, model, clips, out, *extra) -> tuple[int, str]:
    code = main([str(a) for a in (*model, clips, "--out", out, "--quiet", *extra)])
    return code, capsys.readouterr().err


def _sidecars(out) -> dict[str, dict]:
    return {p.relative_to(out).with_suffix("").as_posix(): json.loads(p.read_text())
            for p in sorted(out.rglob("*.json")) if not p.name.startswith(".")}


def test_evaluate_columns_equal_core_faithfulness_and_survive_resume(handle, model, clips, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _run(capsys, model, clips, out, "--evaluate", "--steps", STEPS, "--baseline", BASELINE)
    assert code == 3, err  # broken.mp4 fails; the clips are explained and evaluated
    rows = {row["name"]: row for row in read_summary(out)}
    assert list(next(iter(rows.values()))) == [*SUMMARY_FIELDS[:-1], *EVALUATION_FIELDS, "error"]
    assert rows["broken"]["status"] == "failed" and all(rows["broken"][c] == "" for c in EVALUATION_FIELDS)
    sidecars = _sidecars(out)
    assert set(sidecars) == {"clip0", "sub/clip1"}
    for name, payload in sidecars.items():
        expected = core.faithfulness(handle, core.explain(handle, clips / f"{name}.mp4"), steps=STEPS,
                                     baseline=BASELINE)
        recorded = payload["evaluation"]
        assert {k: recorded[k] for k in ("steps", "baseline", "blur_sigma", "seed")} == \
            {"steps": STEPS, "baseline": BASELINE, "blur_sigma": None, "seed": 0}
        for column in EVALUATION_FIELDS:
            assert recorded[column] == pytest.approx(getattr(expected, column), abs=1e-6), column
            assert float(rows[name][column]) == pytest.approx(getattr(expected, column), abs=2e-6), column
        assert rows[name]["error"] == ""
    assert expected.random_insertion_auc != expected.insertion_auc  # the columns are not one number repeated

    # resuming: done videos are skipped (sidecars untouched), an unfinished one is explained and evaluated again,
    # and the summary, rebuilt from the sidecars, keeps every value
    before = {name: (out / f"{name}.json").stat().st_mtime_ns for name in sidecars}
    (out / "sub/clip1.json").unlink()  # as if the run had been killed while writing it
    (out / "summary.csv").unlink()
    code, err = _run(capsys, model, clips, out, "--evaluate", "--steps", STEPS, "--baseline", BASELINE)
    assert code == 3, err
    assert (out / "clip0.json").stat().st_mtime_ns == before["clip0"]
    again = {row["name"]: row for row in read_summary(out)}
    remeasured = _sidecars(out)["sub/clip1"]["evaluation"]
    assert {k: v for k, v in remeasured.items() if k != "seconds"} == \
        {k: v for k, v in sidecars["sub/clip1"]["evaluation"].items() if k != "seconds"}
    for name in sidecars:
        assert {c: again[name][c] for c in EVALUATION_FIELDS} == {c: rows[name][c] for c in EVALUATION_FIELDS}

    # a run without --evaluate skips the evaluated videos and keeps their columns
    before = {name: (out / f"{name}.json").stat().st_mtime_ns for name in sidecars}
    code, _ = _run(capsys, model, clips, out)
    assert code == 3
    kept = {row["name"]: row for row in read_summary(out)}
    assert all(kept[name][c] == rows[name][c] for name in sidecars for c in EVALUATION_FIELDS)
    assert {name: (out / f"{name}.json").stat().st_mtime_ns for name in sidecars} == before

    # other settings are another evaluation: the videos are measured again with them
    code, _ = _run(capsys, model, clips, out, "--evaluate", "--steps", 3)
    assert code == 3
    assert {p["evaluation"]["steps"] for p in _sidecars(out).values()} == {3}
    expected = core.faithfulness(handle, core.explain(handle, clips / "clip0.mp4"), steps=3)
    assert _sidecars(out)["clip0"]["evaluation"]["deletion_auc"] == pytest.approx(expected.deletion_auc, abs=1e-6)

    manifest = read_manifest(out)
    assert manifest is not None and manifest["request"].options.evaluate
    assert " --evaluate " in manifest["command"] and " --steps 3" in manifest["command"]


def test_a_map_that_cannot_be_measured_keeps_its_video_explained(handle, clips):
    result = core.explain(handle, clips / "clip0.mp4")
    flat = replace(result, heatmaps=np.zeros_like(result.heatmaps))
    recorded = Evaluation(steps=4).measure(handle, flat)
    assert recorded == {"steps": 4, "baseline": "zeros", "blur_sigma": None, "seed": 0,
                        "error": recorded["error"]} and "no map" in recorded["error"]
    payload = {**core.to_sidecar(result), "evaluation": recorded}
    row = result_row(BatchTask("clip0.mp4", "clip0"), payload)
    assert row["status"] == "ok" and row["error"].startswith("evaluate: View 1 has no map")
    assert all(row[c] is None for c in EVALUATION_FIELDS)
    assert Evaluation(steps=4).matches(recorded) and not Evaluation(steps=5).matches(recorded)


def test_bad_evaluate_options_are_one_error_line(model, clips, tmp_path, capsys):
    for extra, words in ((("--steps", "0"), "steps must be a positive"), (("--baseline", "noise"), "Unknown baseline"),
                         (("--baseline", "blur", "--blur-sigma", "-2"), "blur sigma")):
        code, err = _run(capsys, model, clips, tmp_path / "out", "--evaluate", *extra)
        assert code == 2 and err.startswith("error: ") and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_request_command_and_json_carry_the_evaluation(tmp_path):
    options = BatchOptions(evaluate=True, steps=7, baseline="blur", blur_sigma=2.5)
    request = BatchRequest(config="c.py", checkpoint=None, inputs=["v"], out=str(tmp_path), options=options)
    assert "--evaluate --steps 7 --baseline blur --blur-sigma 2.5" in request.command()
    assert BatchRequest.from_json(json.loads(json.dumps(request.to_json()))).options == options
    plain = BatchRequest(config="c.py", checkpoint=None, inputs=["v"], out=str(tmp_path),
                         options=BatchOptions(steps=7))
    assert "--evaluate" not in plain.command() and "--steps" not in plain.command()


def test_batch_page_evaluates_and_shows_the_columns(model, clips, tmp_path):
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    from core.batch.job import job_for

    out = tmp_path / "out"
    app = AppTest.from_file(str(ROOT / "pages" / "2_Batch.py"), default_timeout=60)
    app.run()
    app.radio(key="model_source").set_value("paths").run()
    app.text_input(key="config_path").input(str(model[0]))
    app.text_input(key="checkpoint_path").input(str(model[1])).run()
    app.radio(key="device").set_value("cpu")
    app.text_input(key="batch_input").input(str(clips / "clip0.mp4"))
    app.text_input(key="batch_out").input(str(out)).run()
    assert app.number_input(key="batch_steps").disabled
    app.checkbox(key="batch_evaluate").check().run()
    app.number_input(key="batch_steps").set_value(4).run()
    assert " --evaluate " in app.code[0].value and app.code[0].value.endswith(" --steps 4")
    app.button(key="batch_start").click().run()
    job = job_for(str(out))
    assert job is not None
    job.join(120)
    app.run()
    assert not [e.value for e in app.error if "built-in demo is not part" not in e.value]
    [row] = read_summary(out)
    assert row["status"] == "ok" and row["deletion_auc"] != ""
    assert set(EVALUATION_FIELDS) <= set(app.dataframe[0].value.columns)
    assert float(app.dataframe[0].value["insertion_auc"][0]) == pytest.approx(float(row["insertion_auc"]))


def test_ray_actors_evaluate_as_the_local_run(handle, model, clips, tmp_path):
    """The Ray executor goes through the same explain_clip: its columns equal core.faithfulness up to the
    one-thread summation order of the actors (BRIEF: ~1e-4)."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        code = main([*map(str, model), str(clips / "clip0.mp4"), "--out", str(tmp_path / "ray"), "--ray",
                     "--workers", "1", "--device", "cpu", "--quiet", "--evaluate", "--steps", "3"])
    finally:
        if started:
            ray.shutdown()
    assert code == 0
    [row] = read_summary(tmp_path / "ray")
    expected = core.faithfulness(handle, core.explain(handle, clips / "clip0.mp4"), steps=3)
    for column in EVALUATION_FIELDS:
        assert float(row[column]) == pytest.approx(getattr(expected, column), abs=1e-3), column
