"""Sentences that said something false or odd (issue 23, part 5): "|ρ| at most 0.50 < 0.5", "4/4 · 0 explained ·
0 failed · finished" for a batch that found everything done, ``cams//summary.csv``."""

from __future__ import annotations

from conftest import sample_file
from tiny_model import make_model

from core.batch.cli import main as batch_main
from core.batch.job import BatchProgress
from core.evaluate.sanity import THRESHOLD, _below


def test_a_value_below_the_threshold_never_reads_as_it():
    assert _below(0.4996, THRESHOLD) == "0.4996" and _below(0.31, THRESHOLD) == "0.31"
    assert float(_below(0.4999999, THRESHOLD)) < THRESHOLD


def test_a_batch_that_found_everything_done_is_already_complete():
    assert BatchProgress("finished", total=4, skipped=4).already_complete
    assert not BatchProgress("finished", total=4, ok=1, skipped=3).already_complete
    assert not BatchProgress("running", total=4, skipped=4).already_complete


def test_the_summary_path_has_one_slash(tmp_path, capsys):
    config, checkpoint = make_model(tmp_path / "tiny")
    out = f"{tmp_path / 'cams'}/"
    assert batch_main([str(config), str(checkpoint), str(sample_file("demo.mp4")), "--out", out,
                       "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"summary: {tmp_path / 'cams' / 'summary.csv'}" in err and "cams//" not in err
