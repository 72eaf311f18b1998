"""The seed's Ricci-flow experiment, done properly: the square torus of side L = 1 with
g = e^{2u} g0, u(0) = eps p a positive periodic bump, p = exp(kappa (cos 2 pi x + cos 2 pi y - 2))
(max 1 at the origin), flowed by u_t = e^{-2u} Delta u (:mod:`cygen.geometry.ricci_flow`:
spectral in space, exponential ETD2RK in time) for a few sizes eps.

Reports, against time: the curvature's sup norm max |K|, its max and min, the distance to the
flat metric of the same area, max |u - c| (= sup |log(g/g_flat)|/2), and the area.  The
exponential rates of max |K| and of the distance are fitted (least squares of the logarithm on
the second half of the run) and compared with the linearised prediction e^{-2c} lambda_1,
lambda_1 = (2 pi / L)^2, c fixed by the conserved area.  Checks: the largest eps again with half
the time step, and the initial conformal factor's Fourier tail (spatial resolution).
"""

from __future__ import annotations

import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from cygen.geometry import ricci_flow as rf
from cygen.studies import common

LENGTH = 1.0
KAPPA = 2.0
SETTINGS = {
    "small": {"n": 32, "eps": [0.2, 1.0], "t_end_lambda": 20.0, "steps": 2000,
              "records": 100},
    "full": {"n": 128, "eps": [0.1, 0.5, 1.0], "t_end_lambda": 20.0, "steps": 4000,
             "records": 400},
}
CURVES = ("sup_curvature", "max_curvature", "min_curvature", "flat_distance")


def perturbation(n: int, length: float = LENGTH, kappa: float = KAPPA):
    """The positive periodic bump p = exp(kappa (cos(2 pi x/L) + cos(2 pi y/L) - 2)) on the grid."""
    x, y = rf.grid(n, length)
    th = 2 * jnp.pi / length
    return jnp.exp(kappa * (jnp.cos(th * x) + jnp.cos(th * y) - 2))


def fit_rate(t: np.ndarray, values: np.ndarray, start: float) -> float:
    """-d log(values)/dt by least squares over t >= start."""
    sel = np.asarray(t) >= start
    return float(-np.polyfit(np.asarray(t)[sel], np.log(np.asarray(values)[sel]), 1)[0])


def decreasing_from(values: np.ndarray) -> int:
    """The first index from which ``values`` decreases strictly to the end."""
    up = np.flatnonzero(np.diff(np.asarray(values)) >= 0)
    return int(up[-1] + 1) if up.size else 0


def solve(eps: float, s: dict, steps: int | None = None) -> dict:
    """One flow of the study: its curves as numpy arrays and its wall time."""
    lam = float(rf.first_eigenvalue(LENGTH))
    steps = steps or s["steps"]
    u0 = eps * perturbation(s["n"])
    t0 = time.monotonic()
    out = rf.flow(u0, LENGTH, s["t_end_lambda"] / lam, steps, steps // s["records"])
    out = {k: np.asarray(v) for k, v in out.items()}
    out["wall_s"] = time.monotonic() - t0
    rho_hat = np.abs(np.fft.rfft2(np.exp(2 * np.asarray(u0))))
    k = np.abs(np.fft.fftfreq(s["n"], 1.0 / s["n"]))
    tail = np.maximum(k[:, None], np.arange(rho_hat.shape[1])[None, :]) >= s["n"] // 4
    out["fourier_tail"] = float(rho_hat[tail].max() / rho_hat[0, 0])
    return out


def summary(eps: float, out: dict) -> dict:
    """The numbers of one flow: rates against e^{-2c} lambda_1, monotonicity, area drift."""
    lam = float(rf.first_eigenvalue(LENGTH))
    t, c = out["t"], float(out["c"])
    start = t[-1] / 2
    predicted = float(np.exp(-2 * c) * lam)
    rates = {key: fit_rate(t, out[key], start) for key in ("sup_curvature", "flat_distance")}
    drift = np.abs(out["area"] / out["area"][0] - 1)
    peak = int(np.argmax(out["sup_curvature"]))
    return {
        "eps": eps, "c": c, "exp_minus_2c": float(np.exp(-2 * c)), "lambda_1": lam,
        "predicted_rate": predicted, "fit_from_t": float(start),
        "rate_sup_curvature": rates["sup_curvature"], "rate_flat_distance": rates["flat_distance"],
        "rate_error_sup_curvature": rates["sup_curvature"] / predicted - 1,
        "rate_error_flat_distance": rates["flat_distance"] / predicted - 1,
        "rate_over_lambda_1": rates["sup_curvature"] / lam,
        "sup_curvature_start": float(out["sup_curvature"][0]),
        "sup_curvature_peak": float(out["sup_curvature"][peak]), "peak_t": float(t[peak]),
        "peak_lambda_t": float(lam * t[peak]),
        "sup_curvature_end": float(out["sup_curvature"][-1]),
        "curvature_reduction": float(out["sup_curvature"][-1] / out["sup_curvature"][0]),
        "decreasing_from_t": float(t[decreasing_from(out["sup_curvature"])]),
        "decreasing_from_lambda_t": float(lam * t[decreasing_from(out["sup_curvature"])]),
        "min_curvature_nondecreasing": bool(np.all(np.diff(out["min_curvature"]) >= -1e-12)),
        "flat_distance_start": float(out["flat_distance"][0]),
        "flat_distance_end": float(out["flat_distance"][-1]),
        "area": float(out["area"][0]), "area_drift_max": float(drift.max()),
        "fourier_tail": out["fourier_tail"], "wall_s": round(out["wall_s"], 2),
    }


def curves(out: dict, every: int = 1) -> dict[str, list[float]]:
    """The recorded curves of one flow (every ``every``-th record, 6 significant digits)."""
    drift = np.abs(out["area"] / out["area"][0] - 1)
    data = {"t": out["t"], **{k: out[k] for k in CURVES}, "area_drift": drift}
    return {k: [float(f"{x:.6g}") for x in np.asarray(v)[::every]] for k, v in data.items()}


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    lam = float(rf.first_eigenvalue(LENGTH))
    result: dict = {"settings": {**s, "length": LENGTH, "kappa": KAPPA,
                                 "t_end": s["t_end_lambda"] / lam,
                                 "h_lambda_1": s["t_end_lambda"] / s["steps"]},
                    "flows": [], "curves": {}}
    flows = {}
    for eps in s["eps"]:
        flows[eps] = solve(eps, s)
        result["flows"].append(summary(eps, flows[eps]))
        result["curves"][f"eps={eps}"] = curves(flows[eps], max(1, s["records"] // 100))
        if progress is not None:
            row = result["flows"][-1]
            progress({"message": f"eps={eps}: rate {row['rate_sup_curvature']:.4f} vs "
                                 f"{row['predicted_rate']:.4f}"})
    result["step_check"] = _step_check(max(s["eps"]), flows[max(s["eps"])], s)
    result["figures"] = [_figure(out / "ricci_flow_torus.png", result["flows"],
                                 [curves(flows[eps]) for eps in s["eps"]])]
    return common.write_result(out, "ricci_flow_torus", result, started)


def _step_check(eps: float, coarse: dict, s: dict) -> dict:
    """The largest eps again with half the step: how much the reported numbers move."""
    fine = solve(eps, s, steps=2 * s["steps"])
    rel = {k: float(np.max(np.abs(fine[k] / coarse[k] - 1))) for k in
           ("sup_curvature", "flat_distance")}
    start = coarse["t"][-1] / 2
    rates = [fit_rate(x["t"], x["sup_curvature"], start) for x in (coarse, fine)]
    return {"eps": eps, "steps": 2 * s["steps"], "max_relative_change": rel,
            "rate_relative_change": abs(rates[1] / rates[0] - 1)}


def _figure(path: Path, flows: list[dict], data: list[dict]) -> str:
    fig, axes = common.figure(2, 2, size=(5.0, 3.6))
    (a, b), (k, d) = axes
    for row, cv in zip(flows, data, strict=True):
        lam = row["lambda_1"]
        t = np.asarray(cv["t"]) * lam
        label = f"ε = {row['eps']}"
        for ax, key in ((a, "sup_curvature"), (b, "flat_distance")):
            (line,) = ax.plot(t, cv[key], label=label)
            end = cv[key][-1]  # the predicted slope, through the last point
            ax.plot(t, end * np.exp(row["predicted_rate"] * (t[-1] - t) / lam), ls=":",
                    color=line.get_color())
        early = t <= 3  # the transient: max K may first grow (the 2K^2 of K_t = Delta K + 2K^2)
        (line,) = k.plot(t[early], np.asarray(cv["max_curvature"])[early], label=f"max K, {label}")
        k.plot(t[early], -np.asarray(cv["min_curvature"])[early], ls="--",
               color=line.get_color(), label=f"−min K, {label}")
        d.plot(t, np.maximum(cv["area_drift"], 1e-17), label=label)
    titles = ("sup |K| (dotted: slope e^(−2c) λ₁)", "max |u − c| (distance to the flat metric)",
              "max K and −min K, early times", "|A(t)/A(0) − 1| (0 drawn at 1e−17)")
    for ax, title in zip((a, b, k, d), titles, strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("λ₁ t")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return common.save_figure(fig, path)
