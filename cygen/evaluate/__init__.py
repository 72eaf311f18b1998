"""Layer 5, evaluating metrics: χ and curvature by integration, fresh-point evaluation of
runs, Donaldson tables, figures, the HTML report and surveys of the CICY list.

* :mod:`~cygen.evaluate.integrals` — χ = ∫c_n and curvature summaries of any metric;
* :mod:`~cygen.evaluate.runs` — ``cygen eval``: a run's measures on fresh points;
* :mod:`~cygen.evaluate.donaldson` — σ_k (and the Ricci measure) of balanced metrics;
* :mod:`~cygen.evaluate.plots`, :mod:`~cygen.evaluate.report` — figures and the report;
* :mod:`~cygen.evaluate.survey` — σ_FS and χ over many configuration matrices.
"""

from cygen.evaluate.integrals import curvature_summary, euler
from cygen.evaluate.runs import evaluate_run

__all__ = ["curvature_summary", "euler", "evaluate_run"]
