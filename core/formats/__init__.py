"""The files a result is written to, one module per format, each with its writer beside its (checked, size-capped)
reader: :mod:`core.formats.txt` (the ``Frame N - Heatmap values:`` txt), :mod:`core.formats.npz` (the arrays)
and :mod:`core.formats.sidecar` (the JSON sidecar). :mod:`core.heatmap_files` writes and reads a result's
files together."""
