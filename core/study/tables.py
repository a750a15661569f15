"""A study's clip scores as a LaTeX table a thesis can ``\\input``: booktabs rules, run × metric, mean ± std,
the best per metric in bold, significance marks against it, the protocol in the caption.

Needs ``\\usepackage{booktabs}`` in the preamble (and nothing else: ± and arrows are math-mode symbols).
Baselines follow the runs below a ``\\midrule``; the human bound, a ceiling rather than a competitor, is never
the best (:meth:`core.study.result.StudyResult.best`).
"""

from __future__ import annotations

import math

from core.gaze.scores import PROTOCOL_TEXT
from core.study.result import MARKS, StudyResult

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_ARROWS = {"higher": r"$\uparrow$", "lower": r"$\downarrow$"}


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_SPECIAL.get(char, char) for char in str(text))


def _cell(result: StudyResult, run: str, metric: str, digits: int) -> str:
    stat = result.stat(run, metric)
    if not math.isfinite(stat["mean"]):
        return "--"
    std = f" $\\pm$ {stat['std']:.{digits}f}" if math.isfinite(stat["std"]) else ""
    text = f"{stat['mean']:.{digits}f}{std}"
    if result.best(metric) == run:
        text = f"\\textbf{{{text}}}"
    mark = result.mark(run, metric)
    return text + (f"$^{{{mark}}}$" if mark else "")


def latex_table(result: StudyResult, *, digits: int = 3, label: str = "tab:saliency-study") -> str:
    """The table (see the module docstring) as LaTeX source."""
    metrics = result.metrics
    marks = ", ".join(f"$^{{{mark}}}$~$p<{limit:g}$" for limit, mark in reversed(MARKS))
    caption = (f"Clip scores against human gaze, mean $\\pm$ std over videos (protocol \\texttt{{{result.protocol}}}: "
               f"{escape(PROTOCOL_TEXT[result.protocol])}). Bold: best per metric; {marks}: differs from the best "
               "(two-sided Wilcoxon signed-rank over the videos both have, Holm-corrected). "
               f"{_ARROWS['higher']} higher is better, {_ARROWS['lower']} lower is better.")
    lines = [r"\begin{table}[t]", r"\centering", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             f"\\begin{{tabular}}{{lr{'c' * len(metrics)}}}", r"\toprule",
             " & ".join(["Run", "$n$", *(f"{escape(m)} {_ARROWS[result.stat(result.runs[0], m)['better']]}"
                                        for m in metrics)]) + r" \\", r"\midrule"]
    runs = [run for run in result.runs if run not in result.scores.baselines]
    for group in (runs, result.scores.baselines):
        if group is result.scores.baselines and group:
            lines.append(r"\midrule")
        for run in group:
            name = escape(run) + (" (baseline)" if run in result.scores.baselines else "")
            n = str(result.stat(run, metrics[0])["n"]) if metrics else "0"
            lines.append(" & ".join([name, n, *(_cell(result, run, m, digits) for m in metrics)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
