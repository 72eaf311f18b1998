"""Exact Weil-Petersson metric and Yukawa coupling of the Dwork pencil near the Fermat point.

The pencil p_psi = z_0^5 + ... + z_4^5 - 5 psi z_0 z_1 z_2 z_3 z_4 (``manifolds/dwork_quintic.cy``)
with Omega_psi = Res(mu / p_psi) (the residue form cygen integrates: Omega = du / det(dp/dw) in
every chart).  Expanding 1/p_psi in psi gives Omega_psi = sum_k (5 psi)^k Res((prod z)^k mu /
F^(k+1)), F the Fermat quintic, and the Fermat periods (Laplace transform, Gamma functions)
put every term in one of four classes e_0..e_3 of H^3(X_0) (the characters of z_0 -> alpha z_0,
alpha^5 = 1):

    Omega_psi = sum_j S_j(psi) e_j,
    S_j(psi) = sum_{m >= 0} Gamma((5m + j + 1)/5)^5 (5 psi)^(5m + j) / (5m + j)!   (|psi| < 1),

with i int e_j ^ conj(e_l) = delta_jl h_j, h_j = C (-1)^j sin^5(pi (j + 1)/5), e_3 = conj(e_0)
and e_2 = conj(e_1).  Hence (derivation in docs/moduli.md)

    e^(-K) = C F(psi),  F = sum_j (-1)^j sin^5(pi (j + 1)/5) |S_j|^2,
    G_{psi psibar} = -d dbar log F,
    kappa = int Omega ^ d^3 Omega
          = -i C [s_0 (S_0 S_3''' - S_3 S_0''') - s_1 (S_1 S_2''' - S_2 S_1''')]

(s_j = sin^5(pi (j + 1)/5)), so |kappa| e^K and the normalised coupling
lambda = |kappa| e^K G^(-3/2) need no constant.  At psi = 0:
G = 25 [Gamma(2/5) Gamma(4/5) / (Gamma(1/5) Gamma(3/5))]^5 = 0.192256...,
|kappa| e^K = 125 [Gamma(4/5)/Gamma(1/5)]^5 and lambda = 1.555319...; and kappa (1 - psi^5) is
constant (the pencil's Picard-Fuchs equation), a check of the above.
"""

from __future__ import annotations

import math

import mpmath as mp

__all__ = ["dwork_exact", "dwork_series"]

_DPS = 30


def dwork_series(psi: complex, derivative: int = 0) -> list[complex]:
    """[S_0, S_1, S_2, S_3] at ``psi`` (or their ``derivative``-th psi-derivatives)."""
    with mp.workdps(_DPS):
        psi = mp.mpc(psi)
        if abs(psi) >= 1:
            raise ValueError("the Fermat-point series converge for |psi| < 1")
        # terms ~ |psi|^(5m) m^(-2): enough of them for 10^-(DPS - 2)
        terms = 20 + int(_DPS * math.log(10) / (5 * max(-math.log(float(abs(psi)) or 1e-300),
                                                          1e-6)))
        out = []
        for j in range(4):
            total = mp.mpc(0)
            for m in range(terms):
                k = 5 * m + j
                if k < derivative:
                    continue
                coeff = mp.gamma(mp.mpf(k + 1) / 5) ** 5 * mp.mpf(5) ** k / mp.factorial(k)
                falling = mp.ff(k, derivative)  # k (k-1) ... (k-d+1)
                term = coeff * falling * psi ** (k - derivative)
                total += term
                if m > 5 and abs(term) < mp.mpf(10) ** (-_DPS) * (1 + abs(total)):
                    break
            out.append(complex(total))
        return out


def dwork_exact(psi: complex) -> dict:
    """G, |kappa| e^K and lambda of the Dwork pencil at ``psi`` (|psi| < 1), exact up to
    the series' truncation (relative 1e-25), and kappa (1 - psi^5) / (C s_0), which the
    Picard-Fuchs equation makes constant (a check of the formulas)."""
    with mp.workdps(_DPS):
        s = [mp.sin(mp.pi * (j + 1) / 5) ** 5 for j in range(4)]
        c = [s[0], -s[1], s[2], -s[3]]
        v, d1, d3 = (list(map(mp.mpc, dwork_series(psi, k))) for k in (0, 1, 3))
        f = sum(cj * abs(x) ** 2 for cj, x in zip(c, v, strict=True))
        df = sum(cj * y * mp.conj(x) for cj, x, y in zip(c, v, d1, strict=True))
        ddf = sum(cj * abs(y) ** 2 for cj, y in zip(c, d1, strict=True))
        g = -(ddf / f - abs(df) ** 2 / f**2)
        kappa = -1j * (s[0] * (v[0] * d3[3] - v[3] * d3[0]) - s[1] * (v[1] * d3[2] - v[2] * d3[1]))
        kappa_e_k = abs(kappa) / f
        return {"psi": [complex(psi).real, complex(psi).imag], "wp_metric": float(mp.re(g)),
                "yukawa_abs_e_k": float(kappa_e_k),
                "yukawa_normalised": float(kappa_e_k / mp.re(g) ** 1.5),
                "kappa_times_one_minus_psi5": complex(kappa * (1 - mp.mpc(psi) ** 5) / s[0])}
