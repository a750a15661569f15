"""Developer tools beside the library: the benchmark (``python -m tools.bench``), the support table of
docs/architectures.md (``python -m tools.support_table``) and the demo model's training and evaluation
(``python -m tools.demo``).

They use ``core`` like any user would; ``core`` never imports them.
"""
