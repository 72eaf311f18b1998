"""The scripted studies (cygen.studies, `cygen study`): each runs end to end at size small."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cygen import studies
from cygen.cli import app

runner = CliRunner()


def test_study_list_and_unknown_names():
    result = runner.invoke(app, ["study", "list"])
    assert result.exit_code == 0
    for name in studies.STUDIES:
        assert name in result.stdout
    assert runner.invoke(app, ["study", "nonsense"]).exit_code == 2
    with pytest.raises(ValueError, match="unknown study"):
        studies.run("nonsense", "x")


def _png_has_content(path):
    from matplotlib.image import imread

    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert float(np.var(image[..., :3])) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(studies.STUDIES))
def test_every_study_runs_small(name, tmp_path):
    result = studies.run(name, tmp_path, "small")
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["study"] == name and saved["wall_s"] > 0
    assert result["figures"]
    for fig in result["figures"]:
        _png_has_content(tmp_path / fig)
    if name == "torus":  # even 3 short epochs bring the metric much closer to the flat one
        assert result["flat_distance_learned"]["sigma"] < result["flat_distance_fs"]["sigma"] / 3
    if name == "tian_yau":
        for run in result["runs"].values():
            assert run["status"] == "completed" and run["sigma"] <= run["sigma_fs"] * 1.01
        assert result["runs"]["phi"]["sigma"] < result["runs"]["phi"]["sigma_fs"]
        base = result["conformal_baseline"]  # sigma = mu = 0 by construction, kappa > 0
        assert base["sigma"] < 1e-10 and base["transition"] < 1e-10 and base["kahler"] > 0.1
        squared = result["runs"]["ldl_squared"]
        assert squared["config"]["loss_power"] == {"kahler": 2, "transition": 2}
        assert squared["score"] > 0
    if name == "couplings":  # flat torus agrees; a better metric brings G_harm closer to G
        flat = result["torus"]["flat"]
        assert abs(flat["relative_difference"]) < 1e-3
        fs = result["torus"]["FS"]
        assert abs(fs["relative_difference"]) > 10 * abs(flat["relative_difference"])
        assert abs(fs["relative_difference"]) > 5 * fs["relative_difference_err"]
        quintic = result["manifolds"]["dwork_quintic"]
        assert abs(quintic[-1]["relative_difference"]) < abs(quintic[0]["relative_difference"])
        assert quintic[-1]["sigma"] < quintic[0]["sigma"]
    if name == "ricci_flow_torus":  # area kept, curvature gone, rate e^{-2c} lambda_1
        for flow in result["flows"]:
            assert flow["area_drift_max"] < 1e-12 and flow["min_curvature_nondecreasing"]
            assert flow["curvature_reduction"] < 1e-5
            assert flow["decreasing_from_t"] * flow["lambda_1"] <= 0.5
            assert abs(flow["rate_error_sup_curvature"]) < 1e-2
            assert abs(flow["rate_error_flat_distance"]) < 1e-2
        assert result["flows"][-1]["exp_minus_2c"] < 0.8  # the factor e^{-2c} is seen
        assert result["step_check"]["rate_relative_change"] < 1e-4
    if name == "flow_and_entropy":  # F = 0 and D = -E[R] on FS; the flow lowers sigma
        for check in result["kahler_check"].values():
            assert check["pointwise_R_plus_laplacian_max"] < 1e-9 * check["dirichlet"][0]
            assert abs(check["F"][0]) < 4 * check["F"][1] + 1e-12
            assert check["dirichlet"][0] > 0.1
        for label in ("phi_sigma", "phi_flow", "phi_sigma_dirichlet", "ldl"):
            run = result["runs"][f"k3_quartic/{label}"]
            assert run["status"] == "completed" and run["segments"][-1]["ricci"] > 0
        flow = result["runs"]["k3_quartic/phi_flow"]
        assert flow["sigma_fresh"] < 0.9 * flow["sigma_fs"]
    if name == "donaldson_start":
        assert set(result["summary"]) == {"fs", "donaldson", "donaldson_fixed"}


def test_sweep_and_ablation_helpers():
    """learning_rates crosses its two sweeps once; ablations correlates per-epoch changes."""
    from cygen.studies import ablations, learning_rates

    s = {"lrs": [1e-3, 3e-3], "points": [1000, 2000], "base_lr": 1e-3, "base_points": 2000}
    assert learning_rates.combos(s) == [(1e-3, 2000), (3e-3, 2000), (1e-3, 1000)]
    up = [1.0, 2.0, 4.0, 3.0]
    runs = {"a": {"curves": {"sigma": up, "kahler": up, "transition": [1 / x for x in up]}}}
    corr = ablations._correlations(runs)
    assert corr["sigma/kahler"] == pytest.approx(1.0)
    assert corr["kahler/transition"] == pytest.approx(-1.0)
    assert ablations._ratio([2.0, 1.0]) == 0.5 and ablations._ratio([1.0]) is None


def test_study_progress_lines_reach_the_progress_bar():
    """A study's own progress lines ({"message": ...}, no trainer event) are printed by the
    CLI's progress callback, beside the trainer's epoch lines (they were dropped)."""
    from cygen.learn.trainer import progress_callback

    class Bar:
        def __init__(self):
            self.lines = []

        def message(self, text):
            self.lines.append(text)

    bar = Bar()
    show = progress_callback(bar)
    show({"message": "dwork_quintic FS degree 1 basis: sigma 0.37"})
    show({"event": "epoch", "epoch": 1, "val": {"sigma": 0.1}, "wall_s": 2.0})
    assert bar.lines == ["dwork_quintic FS degree 1 basis: sigma 0.37",
                         "epoch 1: val sigma 0.1  (2 s)"]
