"""A point in a chart's frame with what every metric ansatz needs: :class:`Local`.

:func:`local` puts a point of X into a chart (its affine coordinates set to 1) with the
pullback P = dZ/du and the Fubini–Study metric there; :func:`lift` moves it along the chart
coordinates (Newton on the dependent ones), which is how derivatives of a metric in the
chart coordinates are taken (Kählerity, curvature); :func:`wirtinger` turns a real Hessian
into d dbar.  Single point, jit/vmap-friendly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from cygen.geometry import runtime as rt

__all__ = ["LIFT_NEWTON", "Local", "lift", "local", "local_at", "wirtinger"]

LIFT_NEWTON = 2  # Newton steps of the implicit function in :func:`lift` (exact to 3rd order)


class Local(NamedTuple):
    """A point in a chart's affine frame with the geometry every model uses (single point)."""

    zc: jax.Array  # (N,) the point with the chart's affine coordinates set to 1
    chart: jax.Array  # () int
    pullback: jax.Array  # (dim, N) dZ/du
    g_fs: jax.Array  # (dim, dim) the Fubini-Study metric in the chart



def local_at(geo: rt.Geometry, zc: jax.Array, chart) -> Local:
    """:class:`Local` for a point ``zc`` already in the chart's frame (affine coordinates 1)."""
    f = rt.frame_at(geo, zc, geo.jacobian(zc), chart)
    g = f.pullback @ geo.fs_ambient(zc) @ f.pullback.conj().T
    return Local(zc, jnp.asarray(chart), f.pullback, g)


def local(geo: rt.Geometry, z: jax.Array, chart) -> Local:
    """:class:`Local` of a point ``z`` (any scaling) in chart ``chart``."""
    return local_at(geo, rt.chart_point(geo, z, chart), chart)


def lift(geo: rt.Geometry, zc: jax.Array, chart, t: jax.Array) -> Local:
    """:class:`Local` at the chart coordinates u(zc) + t[:dim] + i t[dim:] (t real, (2 dim,)).

    The dependent coordinates follow from ``LIFT_NEWTON`` Newton steps started at ``zc``
    (which is on X): exact at t = 0 and, since the error squares at every step, with exact
    derivatives in t up to third order.  This is how derivatives of a metric with respect
    to the chart coordinates (Kählerity, curvature) are taken.
    """
    dim = t.shape[0] // 2
    free = jnp.asarray(geo.free)[chart]
    dep = jnp.asarray(geo.dependent)[chart]
    z = jnp.asarray(zc).at[free].add(t[:dim] + 1j * t[dim:])
    for _ in range(LIFT_NEWTON):
        step = rt.solve_small(geo.jacobian(z)[:, dep], geo.equations(z)[:, None])[:, 0]
        z = z.at[dep].add(-step)
    return local_at(geo, z, chart)


def wirtinger(hess: jax.Array, dim: int) -> jax.Array:
    """d_i dbar_j f (..., dim, dim) from the real Hessian (..., 2 dim, 2 dim) in (Re w, Im w)."""
    a = hess[..., :dim, :dim]
    b = hess[..., :dim, dim:]
    d = hess[..., dim:, dim:]
    return 0.25 * (a + d + 1j * (b - jnp.swapaxes(b, -1, -2)))
