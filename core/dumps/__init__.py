"""Test dumps: read the predictions MMAction2's ``tools/test.py`` writes, safely, and score them.

Two formats are understood:

* 1.x ``--dump``: a list with one dict per test sample (``pred_score`` tensor over classes,
  ``pred_label``, ``gt_label`` and a few meta keys such as ``img_shape``, ``num_classes``).
* 0.x ``--out``: a list of score arrays; the labels then come from the annotation file.

Three modules: :mod:`core.dumps.load` reads the pickle (through :mod:`core.unpickle`, never ``pickle.load``),
:mod:`core.dumps.report` pairs it with the test set and scores it, :mod:`core.dumps.cli` is
``python -m core.dumps``. Their public names are re-exported here.
"""

from core.dumps.cli import (
    format_report,
    main,
)
from core.dumps.load import (
    DEFAULT_DUMP_LIMIT,
    DUMP_LIMIT_ENV,
    dump_limit,
    load_dump,
)
from core.dumps.report import (
    CONFUSION_LIMIT,
    SAMPLE_LIST,
    SOURCE_SUFFIX,
    Annotation,
    ClassAccuracy,
    ConfusedPair,
    DumpReport,
    DumpSource,
    ExplainTarget,
    Order,
    Sample,
    TestSet,
    confusion_matrix,
    explain_target,
    filter_samples,
    mean_class_accuracy,
    open_dump,
    read_annotations,
    read_dump,
    read_source,
    read_test_set,
    record_source,
    report_dict,
    sample_root,
    softmax,
    source_file,
    top_k_accuracy,
    write_sample_list,
)
from core.unpickle import DumpUnpickler

__all__ = [
    "CONFUSION_LIMIT", "DEFAULT_DUMP_LIMIT", "DUMP_LIMIT_ENV", "SAMPLE_LIST", "SOURCE_SUFFIX",
    "Annotation", "ClassAccuracy", "ConfusedPair", "DumpReport", "DumpSource", "DumpUnpickler", "ExplainTarget",
    "Order", "Sample", "TestSet", "confusion_matrix", "dump_limit", "explain_target",
    "filter_samples", "format_report", "load_dump", "main", "mean_class_accuracy", "open_dump", "read_annotations",
    "read_dump", "read_source", "read_test_set", "record_source", "report_dict", "sample_root", "softmax",
    "source_file", "top_k_accuracy", "write_sample_list",
]
