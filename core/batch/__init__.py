"""Explain many videos with one loaded model, resumably, on one machine or a Ray cluster.

>>> from core.batch import BatchOptions, collect_tasks, run_batch
>>> tasks = collect_tasks(["videos/"])                       # files, folders, list or annotation files
>>> report = run_batch(handle, tasks, "cams/", BatchOptions(overlay=True))
>>> report.ok, report.failed, report.exit_code

Command line: ``python -m core.batch CONFIG CHECKPOINT INPUT... --out DIR`` (see :mod:`core.batch.cli`).
"""

from core.batch.run import BatchOptions, BatchReport, BatchSpec, BatchWriter, resolve_spec, run_batch
from core.batch.store import SUMMARY_FIELDS, SUMMARY_NAME, done_sidecar, output_paths, read_summary
from core.batch.tasks import BatchTask, collect_tasks

__all__ = [
    "SUMMARY_FIELDS", "SUMMARY_NAME", "BatchOptions", "BatchReport", "BatchSpec", "BatchTask", "BatchWriter",
    "collect_tasks", "done_sidecar", "output_paths", "read_summary", "resolve_spec", "run_batch",
]
