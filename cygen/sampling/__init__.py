"""Layer 3, sampling: exact points of any CICY with Monte-Carlo weights.

* :mod:`~cygen.sampling.sampler` — random slices, all their intersection points, the weights
  (:func:`sample`, :func:`draw`);
* :mod:`~cygen.sampling.roots` — univariate roots (Aberth–Ehrlich);
* :mod:`~cygen.sampling.homotopy` — multihomogeneous homotopy continuation;
* :mod:`~cygen.sampling.dataset` — point sets in memory and on disk (``.npz``).
"""

from cygen.sampling.dataset import Dataset, NpzWriter, Rows, fingerprints, recorded_identity
from cygen.sampling.sampler import draw, metadata, sample

__all__ = ["Dataset", "NpzWriter", "Rows", "draw", "fingerprints", "metadata", "recorded_identity",
           "sample"]
