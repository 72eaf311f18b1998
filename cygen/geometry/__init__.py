"""Layer 2, the JAX runtime of a generated module: single-point geometry, vmap outside.

* :mod:`~cygen.geometry.runtime` — charts, frames, |Ω|², pullbacks, the FS metric and
  transitions (imported by generated modules as ``cygen.runtime``);
* :mod:`~cygen.geometry.implicit` — the dependent coordinates as exact implicit functions;
* :mod:`~cygen.geometry.local` — a point in a chart frame (:class:`Local`) and its lifts;
* :mod:`~cygen.geometry.curvature` — curvature and Chern forms of any Hermitian metric;
* :mod:`~cygen.geometry.riemannian` — its Levi-Civita scalar curvature and Laplacian
  (real coordinates; Perelman's entropy);
* :mod:`~cygen.geometry.measure` — the sampled measure, Monte-Carlo weights, σ;
* :mod:`~cygen.geometry.scale` — device meshes and multi-host start-up;
* :mod:`~cygen.geometry.batching` — fixed-shape padded batches for jitted per-point maps.

Importing this package switches JAX to float64 (the geometry is float64 by default).
"""

import jax

jax.config.update("jax_enable_x64", True)

from cygen.geometry import (  # noqa: E402
    batching,
    curvature,
    implicit,
    local,
    measure,
    riemannian,
    runtime,
    scale,
)
from cygen.geometry.runtime import Frame, Geometry  # noqa: E402

__all__ = ["Frame", "Geometry", "batching", "curvature", "implicit", "local", "measure",
           "riemannian", "runtime", "scale"]
