"""cygen: compile Calabi-Yau equations (.cy) into JAX modules, sample, train metrics."""

import jax as _jax

_jax.config.update("jax_enable_x64", True)  # geometry is float64 by default

__version__ = "0.1.0"

from cygen.compiler import CompileResult, compile_file, compile_source, load  # noqa: E402
from cygen.dataset import Dataset  # noqa: E402
from cygen.sampling import sample  # noqa: E402


def load_run(run_dir):
    """A trained run (see :func:`cygen.runs.load_run`): ``.metric(z)``, ``.chart(z)``."""
    from cygen.runs import load_run as _load_run

    return _load_run(run_dir)


__all__ = ["CompileResult", "Dataset", "compile_file", "compile_source", "load", "load_run",
           "sample", "__version__"]
