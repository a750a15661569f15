"""Batch requests that explain samples of an MMAction2 test dump (the Test results page's **Explain all
mistakes**): the dump's side (:mod:`core.dumps`) picks the samples; this module turns them into
:class:`~core.batch.job.BatchRequest` values, so the dump reader never depends on the batch package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from core.batch.job import BatchRequest
from core.batch.spec import BatchOptions
from core.dumps import SAMPLE_LIST, DumpReport, Sample, sample_root, write_sample_list
from core.errors import CamError
from core.geometry import Views
from core.target import Contrast, Target

TARGET_FOLDERS = {"gt": "ground_truth", "predicted": "prediction"}  # subfolders when both are explained


def batch_requests(report: DumpReport, samples: list[Sample], out: str | os.PathLike, targets: list[Target], *,
                   config: str, checkpoint: str | None, device: str = "auto", label_map: str | None = None,
                   trust_checkpoint: bool = False, views: Views = Views.CENTER) -> list[BatchRequest]:
    """``core.batch`` requests that explain ``samples`` (e.g. the misclassified ones): their annotation list is
    written to ``out/samples.txt``; one request per target (:data:`~core.target.GROUND_TRUTH`, the dump's
    ground truth; :data:`~core.target.PREDICTED`, the model's prediction), into ``out`` itself for one target or
    ``out/ground_truth`` and ``out/prediction`` for both; or one :class:`~core.target.Contrast` (e.g. why the
    prediction rather than the ground truth) into ``out``. Start them with :func:`core.batch.job.start_job`."""
    chosen = list({str(t.key): t for t in targets}.items())
    if any(isinstance(t, Contrast) for _, t in chosen) and len(chosen) > 1:
        raise CamError("explain one contrast at a time")
    if not chosen or any(key not in TARGET_FOLDERS for key, t in chosen if not isinstance(t, Contrast)):
        raise CamError("explain the ground truth, the prediction, or both (or one contrast)")
    out = Path(out).expanduser().absolute()
    out.mkdir(parents=True, exist_ok=True)
    listed = write_sample_list(report, samples, out / SAMPLE_LIST)
    use_frames = any(Path(report.videos[s.index]).is_dir() for s in samples) if report.videos else False
    return [BatchRequest(config=config, checkpoint=checkpoint, inputs=[str(listed)],
                         out=str(out / TARGET_FOLDERS[key] if len(chosen) > 1 else out),
                         options=BatchOptions(target=cast(Any, target), views=views),  # typed since batch 15.3
                         device=device, label_map=label_map,
                         trust_checkpoint=trust_checkpoint, use_frames=use_frames,
                         video_root=str(sample_root(report, samples)))
            for key, target in chosen]
