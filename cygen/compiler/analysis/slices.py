"""Stage 2g: which random linear slices the sampler intersects X with.

A slice is L = prod_a L_a with L_a a random projective t_a-plane in P^{n_a}
(sum_a t_a = K).  X meets a generic slice in d(t) = int_X prod_a H_a^(n_a - t_a)
points (:func:`cygen.topology.slice_degree`), distributed (Crofton) as the
measure prod_a omega_a^(n_a - t_a) restricted to X, omega_a the Fubini-Study
form of P^{n_a} in the class H_a.

The compiler keeps every t with d(t) > 0 (at most ``MAX_TYPES``, preferring
triangular slices, then small max_a t_a, then lexicographic order), and the sampler draws the same
number of slices of each type, so the sampled measure is the mixture
sum_t d(t) mu_t / sum_t d(t) -- see docs/sampling.md.  For the seed's Tian-Yau
this is t = (1, 2) and (2, 1), "doubling the points by swapping the factors".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cygen.compiler.analysis.topology import slice_degree
from cygen.compiler.ir import SliceType, Step

MAX_TYPES = 6


def triangular_plan(
    t: Sequence[int], matrix: Sequence[Sequence[int]]
) -> tuple[Step, ...] | None:
    """Order the equations so that each step is univariate or linear in one open factor.

    State: the remaining projective dimension r_a of each factor's slice (initially t_a).
    A remaining equation k whose open support {a : q_ak > 0, r_a > 0} is one factor a can be
    solved as a univariate polynomial of degree q_ak if r_a = 1 (branches x q_ak, r_a -> 0), or
    as a hyperplane if q_ak = 1 (r_a -> r_a - 1).  Returns None if no such order exists or the
    branch count differs from the slice degree.
    """
    remaining = list(range(len(matrix[0])))
    r = list(t)
    steps, branches = [], 1
    while remaining:
        for k in remaining:
            support = [a for a in range(len(r)) if matrix[a][k] > 0 and r[a] > 0]
            if len(support) != 1:
                continue
            a = support[0]
            if r[a] == 1:
                steps.append(Step("univariate", a, k))
                branches *= matrix[a][k]
            elif matrix[a][k] == 1:
                steps.append(Step("linear", a, k))
            else:
                continue
            r[a] -= 1
            remaining.remove(k)
            break
        else:
            return None
    return tuple(steps) if not any(r) and branches > 0 else None


def slice_types(dims: Sequence[int], matrix: Sequence[Sequence[int]]) -> tuple[SliceType, ...]:
    """All useful slice types of the configuration, in the documented order."""
    k = len(matrix[0]) if matrix else 0
    found = []
    for t in itertools.product(*(range(n + 1) for n in dims)):
        if sum(t) != k:
            continue
        degree = slice_degree(dims, matrix, t)
        if degree > 0:
            plan = triangular_plan(t, matrix)
            if plan is not None and _branches(plan, matrix) != degree:
                plan = None
            found.append(SliceType(tuple(t), degree, plan))
    found.sort(key=lambda s: (s.plan is None, max(s.t), tuple(-x for x in s.t)))
    return tuple(found[:MAX_TYPES])


def _branches(plan: Sequence[Step], matrix: Sequence[Sequence[int]]) -> int:
    count = 1
    for step in plan:
        if step.kind == "univariate":
            count *= matrix[step.factor][step.equation]
    return count
