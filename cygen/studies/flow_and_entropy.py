"""The seed's last two proposals, measured against sigma-loss training at equal wall time on
the K3 quartic and the Fermat quintic (docs/experiments.md §12 and §13):

* the Kähler–Ricci flow as a trainer (``loss.flow``, ``cygen train --method flow``);
* Perelman's entropy with e^-f dV pinned to |Omega|^2: for ``phi`` its non-degenerate part,
  the weighted Dirichlet energy (``loss.dirichlet``, added to sigma); for the seed's
  non-Kähler ``ldl`` the full F (``loss.perelman``) with the seed's lambda schedule
  (``model.ramp_epochs``), against the same ``ldl`` without it.

Every run trains on one sample (seed 0), is logged in segments (sigma and the Ricci measure
after each, wall time cumulative), and is evaluated at the end on common fresh points
(seed 1: sigma, the dilaton's spread and where it peaks) and by chi on the euler stream.
The Kähler degeneracy F = 0 is checked on FS with the Perelman density's own code:
E[R + |grad f|^2] against E[|grad f|^2] = -E[R].
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cygen.compiler.loader import load
from cygen.core.io import atomic_write, jsonable
from cygen.evaluate.integrals import euler
from cygen.evaluate.runs import evaluate_run
from cygen.geometry import runtime as rt
from cygen.learn import losses
from cygen.learn.models import make_model
from cygen.learn.runs import load_run
from cygen.learn.trainer import train
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample
from cygen.studies import common

SETTINGS = {
    "small": {"manifolds": {"k3_quartic": 40.0}, "points": 1500, "eval_points": 600,
              "widths": [16], "segments": 3, "euler_points": 500, "check_points": 64,
              "ricci_points": 50},
    "full": {"manifolds": {"k3_quartic": 150.0, "fermat_quintic": 180.0}, "points": 10_000,
             "eval_points": 5000, "widths": [64, 64, 64], "segments": 8,
             "euler_points": 5000, "check_points": 5000, "ricci_points": 300},
}
BASE = {"batch_size": 64, "optimizer": {"lr": 1e-3}, "eval": {"kahler_points": 0}}
LDL = {"activation": "tanh", "start": "fs", "ramp_epochs": 4}
LDL_LOSS = {"sigma": 1.0, "kahler": 0.3, "transition": 1.0, "volume": 1.0}
SQUARES = {"loss_power": {"kahler": 2, "transition": 2}}  # norms pin ldl at FS (§3)
RUNS = {  # label -> (model, model options, loss overrides, extra config)
    "phi_sigma": ("phi", {}, {}, {}),
    "phi_flow": ("phi", {}, {"sigma": 0.0, "flow": 1.0}, {"flow": {"dt": 1.0}}),
    "phi_sigma_dirichlet": ("phi", {}, {"dirichlet": 0.01}, {}),
    "ldl": ("ldl", LDL, LDL_LOSS, SQUARES),
    "ldl_perelman": ("ldl", LDL, {**LDL_LOSS, "perelman": 0.1}, SQUARES),
    "ldl_perelman_light": ("ldl", LDL, {**LDL_LOSS, "perelman": 0.01}, SQUARES),
}


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    result: dict = {"settings": s, "base_config": BASE, "runs": {}, "kahler_check": {}}
    for name, budget in s["manifolds"].items():
        module = load(common.manifold(name))
        data_path, eval_path = common.samples(module, out, s["points"], s["eval_points"],
                                              prefix=f"{name}_")
        result["kahler_check"][name] = kahler_check(module, s["check_points"])
        for label, spec in RUNS.items():
            run_dir = out / f"{name}_{label}"
            done = run_dir / "study_row.json"  # a finished run is kept: the study resumes
            if not done.exists():
                row = _one(module, run_dir, data_path, eval_path, spec, budget, s, progress)
                atomic_write(done, json.dumps(jsonable(row)))
            result["runs"][f"{name}/{label}"] = {**json.loads(done.read_text()),  # + per epoch
                                                 "curves": common.curves(run_dir)}
    result["equal_epochs"] = equal_epochs(result["runs"])
    result["figures"] = [_figure(out / "flow_and_entropy.png", result["runs"], s)]
    return common.write_result(out, "flow_and_entropy", result, started)


def equal_epochs(runs: dict) -> dict:
    """Validation sigma of each phi run at the last epoch every phi run of its manifold
    reached: the per-epoch comparison beside the equal-wall-time one."""
    out = {}
    for name in sorted({k.split("/")[0] for k in runs}):
        phi = {k.split("/")[1]: r["curves"] for k, r in runs.items()
               if k.startswith(f"{name}/phi_")}
        epoch = min(c["epoch"][-1] for c in phi.values())
        out[name] = {"epoch": epoch, **{label: c["sigma"][c["epoch"].index(epoch)]
                                        for label, c in phi.items()}}
    return out


def _config(spec, s) -> tuple[str, dict]:
    model, options, loss, extra = spec
    config = {**BASE, **extra, "model": {"widths": s["widths"], **options},
              "eval": {**BASE["eval"], "ricci_points": s["ricci_points"]}}
    if loss:
        config["loss"] = loss
    return model, config


def _one(module, run_dir: Path, data_path: Path, eval_path: Path, spec, budget: float, s,
         progress) -> dict:
    model, config = _config(spec, s)
    segments = timed_segments(module, run_dir, data_path, model, config, budget,
                              int(s["segments"]), progress)
    fresh = evaluate_run(run_dir, data=eval_path)
    chi = euler(load_run(run_dir), n=int(s["euler_points"]), seed=2)
    return {"model": model, "config": config, "segments": segments,
            "status": segments[-1]["status"], "sigma_fresh": fresh["sigma"],
            "sigma_fs": fresh["sigma_fs"], "chi": chi["chi_mc"], "chi_err": chi["chi_err"],
            "chi_topological": chi.get("chi_topological"),
            "dilaton": dilaton_spread(run_dir, Dataset.load(eval_path))}


def timed_segments(module, run_dir: Path, data_path: Path, model: str, config: dict,
                   budget_s: float, segments: int, progress=None) -> list[dict]:
    """Train in about ``segments`` segments (a resume each, which is exact) until the run's
    wall time passes ``budget_s``; after each, the validation sigma and the Ricci measure.
    The first segment is one epoch; the next ones as many epochs as fit in budget/segments
    at the last segment's pace."""
    rows = []
    metrics = train(module, run_dir, data=data_path, epochs=1, model=model, config=config,
                    progress=progress)
    while True:  # wall time: the log's, cumulative over resumes (the final evaluations apart)
        rows.append({"epoch": metrics["epochs"], "wall_s": common.curves(run_dir)["wall_s"][-1],
                     "train_s": metrics["train_s"], "sigma": metrics["sigma"],
                     "ricci": metrics["ricci"], "status": metrics["status"]})
        if metrics["status"] != "completed" or rows[-1]["wall_s"] >= budget_s:
            return rows
        prev = rows[-2] if len(rows) > 1 else {"epoch": 0, "wall_s": 0.0}
        pace = (rows[-1]["wall_s"] - prev["wall_s"]) / max(rows[-1]["epoch"] - prev["epoch"], 1)
        more = max(1, int(budget_s / segments / max(pace, 1e-3)))
        metrics = train(None, run_dir, epochs=rows[-1]["epoch"] + more, resume=True,
                        progress=progress)


def dilaton_spread(run_dir: Path, data: Dataset) -> dict:
    """The dilaton f = log eta of a run on fresh points: its spread (max |f - mean|, the
    99th percentile) and where it peaks: r = (second largest |z_i|) / (largest) in the
    point's factor, near 1 at a patch boundary, over the worst 1 % of points against all."""
    run = load_run(run_dir)
    geo = run.geometry
    eta = common.eta(run.metric_in, geo, data.points, data.chart, data.omega_sq)
    w = data.weights
    f = np.log(eta)
    dev = np.abs(f - np.sum(w * f) / np.sum(w))
    mags = np.sort(np.abs(data.points), axis=1)
    r = mags[:, -2] / mags[:, -1]
    worst = dev >= np.quantile(dev, 0.99)
    return {"max": float(dev.max()), "p99": float(np.quantile(dev, 0.99)),
            "median": float(np.median(dev)), "boundary_ratio_worst": float(r[worst].mean()),
            "boundary_ratio_all": float(r.mean())}


def kahler_check(module, n: int) -> dict:
    """F, the Dirichlet energy D and -E[R] of FS by the loss's own per-point code on ``n``
    fresh points: on a Kähler metric F = 0 and D = -E[R] (docs/training.md)."""
    geo = module.GEOMETRY
    model = make_model(geo, "phi", widths=[4], init_scale=1e-300)  # phi = 0: FS
    params = model.init(jax.random.PRNGKey(0))
    data = sample(module, n, seed=4, purpose="study")
    fn = jax.jit(jax.vmap(lambda z, c: losses.perelman_density(
        model, geo, params, rt.chart_point(geo, z, c), c)))
    dens = {k: [] for k in ("grad_sq", "scalar", "laplacian")}
    for i in range(0, n, 1000):
        part = fn(jnp.asarray(data.points[i:i + 1000]), jnp.asarray(data.chart[i:i + 1000]))
        for k in dens:
            dens[k].append(np.asarray(part[k]))
    d = {k: np.concatenate(v) for k, v in dens.items()}
    w = data.weights / data.weights.mean()

    def mean_err(x):
        return float(np.mean(w * x)), float(np.std(w * x) / np.sqrt(len(x)))

    return {"points": n, "F": mean_err(d["scalar"] + d["grad_sq"]),
            "dirichlet": mean_err(d["grad_sq"]), "minus_R": mean_err(-d["scalar"]),
            "pointwise_R_plus_laplacian_max": float(np.max(np.abs(d["scalar"] + d["laplacian"])))}


def _figure(path: Path, runs: dict, s: dict) -> str:
    names = list(s["manifolds"])
    fig, axes = common.figure(len(names), 2, size=(5.0, 3.4))
    colours = {"phi_sigma": "tab:blue", "phi_flow": "tab:red", "phi_sigma_dirichlet": "tab:green",
               "ldl": "tab:gray", "ldl_perelman": "tab:purple", "ldl_perelman_light": "tab:pink"}
    for col, name in enumerate(names):
        for row, key in enumerate(("sigma", "ricci")):
            ax = axes[row, col]
            for label in RUNS:
                seg = runs[f"{name}/{label}"]["segments"]
                xs = [r["wall_s"] for r in seg if r[key] is not None]
                ys = [r[key] for r in seg if r[key] is not None]
                ax.plot(xs, ys, marker="o", ms=2, lw=1, c=colours[label], label=label)
            ax.set_yscale("log")
            ax.set_xlabel("wall time (s)")
            ax.set_ylabel("validation σ" if key == "sigma" else "Ricci measure")
            ax.set_title(name, fontsize=9)
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    return common.save_figure(fig, path)
