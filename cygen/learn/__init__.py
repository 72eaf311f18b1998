"""Layer 4, learning a metric: models, losses, the trainer, run directories, balanced metrics.

* :mod:`~cygen.learn.networks` — the MLP and activations; :mod:`~cygen.learn.jets` — the
  φ jet engine (derivatives of a network potential through the MLP);
* :mod:`~cygen.learn.potentials` — Kähler potentials from sections (balanced bases);
* :mod:`~cygen.learn.models` — the ansätze ``phi``, ``ldl``, ``add``, ``mult``, ``donaldson``;
* :mod:`~cygen.learn.losses` — σ, κ, μ, the Kähler class and the Ricci scalar, per point;
* :mod:`~cygen.learn.config`, :mod:`~cygen.learn.checkpoint`, :mod:`~cygen.learn.runs`,
  :mod:`~cygen.learn.data` — a run's configuration, checkpoints, directory and points;
* :mod:`~cygen.learn.optim`, :mod:`~cygen.learn.step`, :mod:`~cygen.learn.evaluation`,
  :mod:`~cygen.learn.trainer` — the optimiser, the compiled step, validation, the loop;
* :mod:`~cygen.learn.donaldson` — Donaldson's balanced metrics (the T-operator);
* :mod:`~cygen.learn.symmetry_measure` — Δ_sym, how symmetric a learned metric is.
"""

from cygen.learn.config import CONFIG_DEFAULTS, read_config, resolve_config
from cygen.learn.donaldson import Balanced, balanced
from cygen.learn.models import MODEL_DEFAULTS, Model, make_model
from cygen.learn.runs import Run, Target, load_run, resolve
from cygen.learn.trainer import progress_callback, train

__all__ = ["CONFIG_DEFAULTS", "MODEL_DEFAULTS", "Balanced", "Model", "Run", "Target",
           "balanced", "load_run", "make_model", "progress_callback", "read_config", "resolve",
           "resolve_config", "train"]
