"""Explain many videos with one loaded model, resumably, on one machine or a Ray cluster.

>>> from core.batch import BatchOptions, collect_tasks, run_batch
>>> tasks = collect_tasks(["videos/"])                       # files, folders, list or annotation files
>>> report = run_batch(handle, tasks, "cams/", BatchOptions(overlay=True))
>>> report.ok, report.failed, report.exit_code

One driver (:func:`drive`) runs every batch; an executor explains the videos: :class:`LocalExecutor` in
this process, :class:`~core.batch.cluster.RayExecutor` on Ray actors. Modules: ``tasks`` (what to explain),
``spec`` (options, resolved settings, outcomes), ``store`` (files, batch keys, summary.csv, the folder
lock), ``writer`` (the driver's side of a run), ``run`` (the driver, the local executor), ``cluster``
(Ray), ``job`` (requests, ``.batch.json``, background jobs), ``cli``.

Command line: ``python -m core.batch CONFIG CHECKPOINT INPUT... --out DIR`` (see :mod:`core.batch.cli`).
"""

from core.batch.run import Executor, LocalExecutor, drive, run_batch
from core.batch.spec import BatchOptions, BatchSpec, Explained, Failed, ModelFiles, Outcome, resolve_spec
from core.batch.store import SUMMARY_FIELDS, SUMMARY_NAME, done_sidecar, output_paths, read_summary
from core.batch.tasks import BatchTask, collect_tasks
from core.batch.writer import BatchReport, BatchWriter

__all__ = [
    "SUMMARY_FIELDS", "SUMMARY_NAME", "BatchOptions", "BatchReport", "BatchSpec", "BatchTask", "BatchWriter",
    "Executor", "Explained", "Failed", "LocalExecutor", "ModelFiles", "Outcome", "collect_tasks", "done_sidecar",
    "drive", "output_paths", "read_summary", "resolve_spec", "run_batch",
]
