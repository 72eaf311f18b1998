"""Numbers the documents print that are derived from committed results, not measured.

Ratios, means over seeds and the times at which a curve crosses a threshold are computed
here from the committed JSON (benchmarks/results/*.json, docs/studies/*.json) and written to
docs/numbers/derived.json, which the documents' `<!-- numbers: ... -->` markers name next to
their sources. tests/test_docs.py checks that derived.json is what this script computes.

    python docs/numbers/derive.py

Pure Python (json and math only); the keys say what each number is and where it comes from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "derived.json"


def load(path: str) -> dict:
    return json.loads((ROOT / path).read_text())


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def cosine_lr(optimizer: dict, epoch: int) -> float:
    """The learning rate of cygen's cosine schedule after `epoch` epochs (no warm-up)."""
    lr, final, horizon = optimizer["lr"], optimizer["final_lr"], optimizer["horizon_epochs"]
    return final + (lr - final) * 0.5 * (1 + math.cos(math.pi * min(epoch, horizon) / horizon))


def donaldson_start() -> dict:
    """docs/studies/donaldson_start.json: φ from the balanced k = 3 metric against φ from FS."""
    study = load("docs/studies/donaldson_start.json")
    runs, summary = study["runs"], study["summary"]
    out: dict = {}
    for seed in range(3):
        fs = runs[f"fs/seed{seed}"]["sigma_fresh"]
        dn = runs[f"donaldson/seed{seed}"]["sigma_fresh"]
        out[f"ratio_seed{seed}"] = dn / fs
        out[f"reduction_seed{seed}"] = 1 - dn / fs
    ratios = [out[f"ratio_seed{s}"] for s in range(3)]
    out["ratio_min"], out["ratio_max"] = min(ratios), max(ratios)
    fs_mean = summary["fs"]["sigma_fresh_mean"]
    out["ratio_of_means"] = summary["donaldson"]["sigma_fresh_mean"] / fs_mean
    out["reduction_of_means"] = 1 - out["ratio_of_means"]
    out["fixed_over_fs_seed0"] = (
        runs["donaldson_fixed/seed0"]["sigma_fresh"] / runs["fs/seed0"]["sigma_fresh"]
    )
    out["fixed_over_fs_mean"] = (
        summary["donaldson_fixed"]["sigma_fresh_mean"] / summary["fs"]["sigma_fresh_mean"]
    )
    # epochs at which the balanced start's validation σ is not below FS's, per seed
    not_lower = {}
    for seed in range(3):
        fs = runs[f"fs/seed{seed}"]["curves"]
        dn = runs[f"donaldson/seed{seed}"]["curves"]
        not_lower[f"seed{seed}"] = [
            e for e, a, b in zip(fs["epoch"], fs["sigma"], dn["sigma"], strict=True) if b >= a
        ]
    out["epochs_not_lower"] = not_lower
    # epochs at which the balanced start with h fixed is below FS (seed 0)
    fs, fixed = runs["fs/seed0"]["curves"], runs["donaldson_fixed/seed0"]["curves"]
    out["fixed_epochs_below_fs_seed0"] = [
        e for e, a, b in zip(fs["epoch"], fs["sigma"], fixed["sigma"], strict=True) if b < a
    ]
    # the balanced metric's start-up cost: how much later the first epoch ends than from FS
    delays = [
        runs[f"donaldson/seed{s}"]["curves"]["wall_s"][0]
        - runs[f"fs/seed{s}"]["curves"]["wall_s"][0]
        for s in range(3)
    ]
    out["first_epoch_delay_s_min"], out["first_epoch_delay_s_max"] = min(delays), max(delays)
    return out


def train_headline() -> dict:
    """benchmarks/results/train.json, setting (c): when validation σ reaches 0.01, and stays."""
    c = load("benchmarks/results/train.json")["c_headline"]
    curve = c["curve"]
    first = next(p for p in curve if p["val_sigma"] <= 0.01)
    last_above = max(i for i, p in enumerate(curve) if p["val_sigma"] > 0.01)
    stays = curve[last_above + 1]
    return {
        "first_below_0.01_s": first["wall_s"],
        "first_below_0.01_epoch": first["epoch"],
        "below_0.01_from_s": stays["wall_s"],
        "below_0.01_from_epoch": stays["epoch"],
        "last_above_0.01_epoch": curve[last_above]["epoch"],
        "last_above_0.01_sigma": curve[last_above]["val_sigma"],
    }


def train_peers() -> dict:
    """benchmarks/results/train.json: (b) against cymyc's reference throughput."""
    b = load("benchmarks/results/train.json")["b_cymyc_setting"]
    return {
        "b_speedup_vs_cymyc": b["train_points_per_s_median"] / b["reference"]["cymyc_points_per_s"],
    }


def euler_learned() -> dict:
    """benchmarks/results/euler.json, `learned`: the learned φ metric against FS, same points."""
    e = load("benchmarks/results/euler.json")
    learned, fs = e["learned"]["learned"]["euler"], e["learned"]["fubini_study"]["euler"]
    err_ratio = fs["chi_err"] / learned["chi_err"]
    speed = e["speed"]
    fs_closed = [r["points_per_s"] for r in speed if r["route"] == "fs_closed_form"]
    phi_jets = [r["points_per_s"] for r in speed if r["route"] == "phi_jets"]
    return {
        "chi_err_ratio_fs_over_learned": err_ratio,
        # same number of points, so the per-point spreads have the same ratio, and the points
        # needed for a given error the square of it
        "points_ratio_fs_over_learned": err_ratio**2,
        "fs_closed_form_over_target_20000": min(fs_closed) / 20000,
        "phi_jets_over_target_1000": min(phi_jets) / 1000,
    }


def scale() -> dict:
    """benchmarks/results/scale.json: training s/epoch relative to one device."""
    rows = {r["devices"]: r for r in load("benchmarks/results/scale.json")["rows"]}
    one = rows[1]["train_s_per_epoch"]
    return {f"train_s_per_epoch_ratio_{d}": rows[d]["train_s_per_epoch"] / one for d in (2, 4)}


def tian_yau_ldl_long() -> dict:
    """docs/studies/tian_yau_ldl_long.json (+ the conformal baseline of tian_yau.json)."""
    run = load("docs/studies/tian_yau_ldl_long.json")
    baseline = load("docs/studies/tian_yau.json")["conformal_baseline"]["kahler"]
    m, fresh, seed1 = run["metrics"], run["fresh_points_eval"], run["other_seeds"]
    curves = run["curves"]
    return {
        "ratio_val": m["sigma_fs"] / m["sigma"],
        "ratio_fresh_seed7": fresh[0]["sigma_fs"] / fresh[0]["sigma"],
        "ratio_fresh_seed8": fresh[1]["sigma_fs"] / fresh[1]["sigma"],
        "seed1_ratio_val": seed1[0]["sigma_fs"] / seed1[0]["sigma"],
        "seed1_ratio_fresh_seed7": seed1[1]["sigma_fs"] / seed1[1]["sigma"],
        "score": m["sigma"] / m["sigma_fs"] + m["kahler"] / baseline,
        "seed1_score": seed1[0]["sigma"] / seed1[0]["sigma_fs"] + seed1[0]["kahler"] / baseline,
        "kahler_over_baseline": m["kahler"] / baseline,
        "wall_minutes": m["wall_s"] / 60,
        "sigma_epoch_150": curves["sigma"][149],
        # the cosine schedule (lr → final_lr over horizon_epochs) after 150 of 250 epochs
        "lr_after_epoch_150": cosine_lr(run["config"]["optimizer"], 150),
        "sigma_epoch_200": curves["sigma"][199],
    }


def tian_yau() -> dict:
    """docs/studies/tian_yau.json: the study's `phi` run and its `ldl` runs."""
    study = load("docs/studies/tian_yau.json")
    phi = study["runs"]["phi"]
    return {
        "phi_train_minutes": phi["curves"]["wall_s"][-1] / 60,
    }


def k3() -> dict:
    """docs/studies/activations.json and k3_ldl.json: the K3 `ldl` runs."""
    act = load("docs/studies/activations.json")["runs"]
    baseline = load("docs/studies/k3_ldl.json")["conformal_baseline"]["kahler"]
    gelu, tanh = act["gelu"], act["tanh"]
    k3_ldl = load("docs/studies/k3_ldl.json")["runs"]
    k03 = k3_ldl["kappa_0.3"]
    k1 = k3_ldl["kappa_1"]
    return {
        "gelu_ratio": gelu["sigma_fs"] / gelu["final"]["sigma"],
        "gelu_kahler_over_baseline": gelu["final"]["kahler"] / baseline,
        "gelu_score": (
            gelu["final"]["sigma"] / gelu["sigma_fs"] + gelu["final"]["kahler"] / baseline
        ),
        "tanh_over_gelu_sigma": tanh["final"]["sigma"] / gelu["final"]["sigma"],
        "tanh_over_gelu_transition": tanh["final"]["transition"] / gelu["final"]["transition"],
        "kappa_0.3_sigma_fall": k03["curves"]["sigma"][0] / k03["final"]["sigma"],
        "kappa_0.3_ratio": k03["sigma_fs"] / k03["final"]["sigma"],
        "kappa_0.3_transition_fall": k03["curves"]["transition"][0] / k03["final"]["transition"],
        "kappa_1_kahler_fall": k1["curves"]["kahler"][0] / k1["final"]["kahler"],
        "kappa_1_transition_drop": 1 - k1["final"]["transition"] / k1["curves"]["transition"][0],
    }


def tian_yau_classes() -> dict:
    """docs/studies/tian_yau_classes.json: σ_FS/σ of the two runs."""
    runs = load("docs/studies/tian_yau_classes.json")["runs"]
    return {
        f"{name}_ratio": r["sigma_fs"] / r["final"]["sigma"] for name, r in sorted(runs.items())
    }


def donaldson_bench() -> dict:
    """benchmarks/results/donaldson.json: σ_k against DKLR; the 2-minute training comparison."""
    d = load("benchmarks/results/donaldson.json")
    k6 = next(r for r in d["quintic"] if r["k"] == 6)
    out: dict = {
        "quintic_difference": {
            f"k{r['k']}": r["sigma"] - r["sigma_reference"] for r in d["quintic"]
        },
        "quintic_k6_points_per_s": k6["points"] / k6["seconds_per_iteration"],
        "quintic_k6_total_minutes": k6["seconds_total"] / 60,
    }
    train = d["train"]
    for key in ("fs", "donaldson3"):
        sigma = [p[2] for p in train[key]["curve"]]
        out[f"train_{key}_mean_last_20"] = mean(sigma[-20:])
    fs_stop = train["fs"]["wall_s"]
    at = [p for p in train["donaldson3"]["curve"] if p[1] <= fs_stop][-1]
    out["train_donaldson3_at_fs_stop"] = {"epoch": at[0], "wall_s": at[1], "sigma": at[2]}
    return out


def torus() -> dict:
    """docs/studies/torus.json: the learned metric against the exact flat one."""
    t = load("docs/studies/torus.json")
    return {
        "ratio_fs_over_learned": (
            t["flat_distance_fs"]["sigma"] / t["flat_distance_learned"]["sigma"]
        ),
    }


def rises_in(curve: list) -> int:
    """How many epoch-to-epoch steps of a curve go up."""
    return sum(1 for a, b in zip(curve[:-1], curve[1:], strict=True) if b > a)


def learning_rates() -> dict:
    """docs/studies/learning_rates.json: the learning-rate and point-count sweeps."""
    study = load("docs/studies/learning_rates.json")
    runs = study["runs"]

    def fresh(m, lr, n):
        return runs[f"{m}/lr{lr}/n{n}"]["sigma_fresh"]

    manifolds = ("fermat_quintic", "dwork_quintic")
    slow = [
        fresh(m, "0.0003", 28000) / fresh(m, lr, 28000)
        for m in manifolds
        for lr in ("0.001", "0.003")
    ]
    flat = [
        x
        for lr in ("0.001", "0.003")
        for x in runs[f"dwork_quintic/lr{lr}/n28000"]["curves"]["sigma"][4:]
    ]
    columns = [
        ("0.0003", 28000), ("0.001", 28000), ("0.003", 28000), ("0.001", 10000), ("0.001", 100000)
    ]
    harder = [fresh("dwork_quintic", lr, n) / fresh("fermat_quintic", lr, n) for lr, n in columns]
    rises = {key: rises_in(r["curves"]["sigma"]) for key, r in sorted(runs.items())}
    return {
        "lr_0.0003_worse_min": min(slow),
        "lr_0.0003_worse_max": max(slow),
        "dwork_28k_sigma_from_epoch_5_min": min(flat),
        "dwork_28k_sigma_from_epoch_5_max": max(flat),
        "dwork_over_fermat_min": min(harder),
        "dwork_over_fermat_max": max(harder),
        "epochs_where_sigma_rises": rises,
        "study_minutes": study["wall_s"] / 60,
    }


def ablations() -> dict:
    """docs/studies/ablations.json: what one epoch of a single term does to the others."""
    table = load("docs/studies/ablations.json")
    runs = table["runs"]
    out = {}
    for name in ("kahler", "transition"):
        curves = runs[name]["curves"]
        other = "transition" if name == "kahler" else "kahler"
        out[f"{name}_only_epoch1_divides_{other}_by"] = curves[other][0] / curves[other][1]
    return out


def barefoot() -> dict:
    """docs/studies/barefoot.json: the share of the z0 patch's points near the five toes."""
    m = load("docs/studies/barefoot.json")["manifolds"]
    fermat, dwork = m["fermat_quintic"], m["dwork_quintic"]
    p = (fermat["toe_fraction"] + dwork["toe_fraction"]) / 2
    n = (fermat["in_patch"] + dwork["in_patch"]) / 2
    return {
        "toe_fraction_difference_points": 100 * (fermat["toe_fraction"] - dwork["toe_fraction"]),
        # binomial standard error of one toe fraction, in percentage points
        "toe_fraction_standard_error_points": 100 * (p * (1 - p) / n) ** 0.5,
    }


def study_minutes() -> dict:
    """Wall time of the studies whose documents quote it in minutes."""
    return {
        name: load(f"docs/studies/{name}.json")["wall_s"] / 60
        for name in ("activations", "tian_yau_classes", "tian_yau", "ablations")
    }


def layers() -> dict:
    """benchmarks/results/layers/summary.json: after/before ratios of the issue-17 benchmarks."""
    measures = load("benchmarks/results/layers/summary.json")["measures"]
    ratios = sorted(m["slowdown"] for m in measures.values() if m.get("slowdown"))
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])
    phi = measures["euler.phi_autodiff.256.points_per_s"]
    return {"measures": len(ratios), "median_ratio": round(median, 3),
            "min_ratio": ratios[0], "max_ratio": ratios[-1],
            "phi_autodiff_speedup": round(phi["after"] / phi["before"], 2)}


def moduli() -> dict:
    """docs/studies/moduli.json: the largest |pull| (estimate - exact over its error)."""
    study = load("docs/studies/moduli.json")
    scan = [r for r in study["dwork_scan"] if r["psi"] <= 0.9]
    seeds = {f"psi_{r['psi']}": {k: round(max(abs(p) for p in r[k]["pulls"]), 2)
                                 for k in ("wp_metric", "lambda")}
             for r in study["dwork_seeds"]}
    return {"scan_max_abs_pull_to_0.9": round(max(max(abs(r["wp_metric_pull"]),
                                                         abs(r["lambda_pull"])) for r in scan), 2),
            "seeds_max_abs_pull": seeds,
            "tian_yau_yukawa_entries": len(study["tian_yau"]["directions"]) ** 3}


def survey_random300() -> dict:
    """benchmarks/results/survey_random300/results.jsonl: `cygen survey --random 300 --seed 0`."""
    path = ROOT / "benchmarks/results/survey_random300/results.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    ok = [r for r in rows if r["status"] == "ok"]
    agree = [r for r in ok if r.get("chi_agrees")]
    too_big = [r for r in rows if r["status"] == "error" and "exceed" in r.get("error", "")]
    times = sorted(r["timings"]["total_s"] for r in ok)
    return {
        "rows": len(rows),
        "status": {k: sum(r["status"] == k for r in rows)
                   for k in ("ok", "error", "timeout", "skipped")},
        "too_many_charts": len(too_big),
        "other_errors": sum(r["status"] == "error" for r in rows) - len(too_big),
        "chi_agrees": len(agree),
        "chi_agrees_share": round(len(agree) / len(ok), 3) if ok else None,
        "chi_agrees_share_of_rows": round(len(agree) / len(rows), 3) if rows else None,
        "chi_above_topological": sum(r["chi_mc"] > r["chi_topological"] for r in ok),
        "topology_matches_list": sum(bool(r.get("topology_matches_list")) for r in ok),
        "median_ok_total_s": times[len(times) // 2] if times else None,
        "max_ok_total_s": times[-1] if times else None,
    }


def couplings() -> dict:
    """docs/studies/couplings.json (`cygen study couplings`): G_harm / G - 1 in per cent."""
    study = json.loads((ROOT / "docs/studies/couplings.json").read_text())
    rows = list(study["torus"].values()) + [r for rows in study["manifolds"].values()
                                            for r in rows]
    terms = [r for r in rows if "difference_terms" in r]
    return {"percent": [round(100 * r["relative_difference"], 2) for r in rows],
            "percent_err": [round(100 * r["relative_difference_err"], 2) for r in rows],
            # G_harm - G = the three terms of docs/moduli.md, each in per cent of G
            "terms_percent": [{k: round(100 * v / r["g_lift"], 2)
                               for k, v in r["difference_terms"].items()} for r in terms],
            "terms_percent_err": [{k: round(100 * v / r["g_lift"], 2)
                                   for k, v in r["difference_terms_err"].items()}
                                  for r in terms],
            "network_removed": [round(1 - r["network"]["best"] / r["network"]["start"], 4)
                                for r in rows if "network" in r],
            # the metric term per unit sigma (both in the same units)
            "metric_term_per_sigma": [round(-r["difference_terms"]["metric_covariance"]
                                            / r["g_lift"] / r["sigma"], 2)
                                      for r in terms if r["sigma"] > 1e-6],
            "projection_percent": [round(100 * (r["difference_terms"]["antisymmetric"]
                                                + r["difference_terms"]["k_variance"])
                                         / r["g_lift"], 2) for r in terms]}


def derive() -> dict:
    return {
        "donaldson_start": donaldson_start(),
        "train_c": train_headline(),
        "train_b": train_peers(),
        "euler_learned": euler_learned(),
        "scale": scale(),
        "tian_yau_ldl_long": tian_yau_ldl_long(),
        "tian_yau": tian_yau(),
        "k3": k3(),
        "tian_yau_classes": tian_yau_classes(),
        "donaldson_bench": donaldson_bench(),
        "torus": torus(),
        "learning_rates": learning_rates(),
        "ablations": ablations(),
        "barefoot": barefoot(),
        "study_minutes": study_minutes(),
        "layers": layers(),
        "survey_random300": survey_random300(),
        "moduli": moduli(),
        "couplings": couplings(),
    }


def main() -> None:
    OUT.write_text(json.dumps(derive(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
