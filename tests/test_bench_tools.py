"""The benchmark's study case builds its inputs with the library's current types and scores them: a small run of
``tools.study_bench`` (the timing itself belongs to ``python -m tools.bench --study``, not to a test)."""

from __future__ import annotations

from tools.study_bench import make_inputs, study_figure


def test_study_case_builds_and_scores_a_small_study_under_both_protocols(tmp_path):
    inputs = make_inputs(tmp_path, runs=2, clips=3, frames=4, size=32, observers=3)
    figure = study_figure(tmp_path, "exact", inputs)
    # every clip of every run scored per frame plus its clip row, against gaze and the two baselines
    assert figure["maps"] > 0 and figure["study_s"] > 0
    assert (tmp_path / "out-exact" / "summary.csv").is_file() and (tmp_path / "out-exact" / "report.md").is_file()
    mit = study_figure(tmp_path, "mit", inputs)  # the same files, as tools.bench --study times them
    assert mit["maps"] == figure["maps"] and mit["metrics"] == figure["metrics"] + 1  # IG
