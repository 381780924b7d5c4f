"""Linear CKA on facts (Kornblith et al. 2019): 1 with itself, invariant to orthogonal transforms and isotropic
scaling, about 0 for independent random representations; and the probe on a run directory."""

import pytest
import torch

from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.probes.cka import GRAMS_FILE, cka, cka_rows, gram, hsic, saved_grams
from cnn_vs_vit.probes.plugin import run_probe


def grams(features: torch.Tensor, minibatch: int = 64) -> torch.Tensor:
    """(k, m, m) Gram matrices of `features` (N, ...) in batches of `minibatch`."""
    return torch.stack([gram(batch) for batch in features.split(minibatch)])


def features(n: int = 512, p: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_representation_is_identical_to_itself():
    x = grams(features())
    assert cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_an_orthogonal_transform_and_isotropic_scaling_of_either_side():
    x = features(p=30)
    y = x[:, :20] + features(p=20, seed=1)  # linearly related to x, far from identical
    q, _ = torch.linalg.qr(features(n=30, p=30, seed=2))
    reference = cka(grams(x), grams(y))
    assert 0.05 < reference < 0.95
    assert cka(grams(x @ q), grams(y)) == pytest.approx(reference, abs=1e-10)
    assert cka(grams(7.3 * x), grams(0.01 * y)) == pytest.approx(reference, abs=1e-10)
    # ...but not to an arbitrary invertible map: stretching one direction changes it.
    stretch = torch.ones(30, dtype=torch.float64)
    stretch[0] = 50.0
    assert abs(cka(grams(x * stretch), grams(y)) - reference) > 1e-3


def test_independent_random_representations_of_many_dimensions_score_near_zero():
    # More dimensions (2,000) than images per minibatch (64): the biased estimator would put this near 1.
    x, y = features(n=2048, p=2000, seed=3), features(n=2048, p=2000, seed=4)
    assert abs(cka(grams(x), grams(y))) < 0.02
    centred = [(g - g.mean(0)) @ (g - g.mean(0)).T for g in (x[:64], y[:64])]
    biased = (centred[0] * centred[1]).sum() / (centred[0].norm() * centred[1].norm())
    assert biased > 0.9  # why the unbiased HSIC: the textbook centred-Gram CKA cannot tell these apart


def test_agrees_with_the_feature_space_formula_when_images_outnumber_dimensions():
    """Kornblith's ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred features: the biased estimator, whose bias vanishes
    when the images far outnumber the dimensions."""
    x = features(n=4096, p=5)
    y = x @ features(n=5, p=3, seed=5) + 0.8 * features(n=4096, p=3, seed=6)
    xc, yc = x - x.mean(0), y - y.mean(0)
    textbook = (yc.T @ xc).norm() ** 2 / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert cka(grams(x, 1024), grams(y, 1024)) == pytest.approx(float(textbook), abs=0.01)


def test_hsic_refuses_minibatches_too_small_for_the_unbiased_estimator():
    with pytest.raises(CnnvitError, match="at least 4 images"):
        hsic(torch.eye(3), torch.eye(3))


def test_the_probe_saves_grams_that_reproduce_its_rows_and_reuses_them(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("train.steps=2"), run)  # resnet-xs on 16x16 shapes
    first = run_probe("cka", run, {"images": 20, "minibatch": 8})
    assert not first.reused
    layers = list(dict.fromkeys(first.rows["layer_a"]))
    assert len(first.rows) == len(layers) ** 2 and (first.rows["n_images"] == 16).all()  # 2 whole batches of 8
    diagonal = first.rows[first.rows["layer_a"] == first.rows["layer_b"]]
    assert diagonal["cka"].tolist() == pytest.approx([1.0] * len(layers))
    table = first.rows.pivot(index="layer_a", columns="layer_b", values="cka")
    assert torch.allclose(torch.tensor(table.values), torch.tensor(table.values.T))  # symmetric
    loaded = saved_grams(run / "probes" / GRAMS_FILE)
    assert [layer.name for layer in loaded] == layers and loaded[0].grams.shape == (2, 8, 8)
    assert [layer.kind for layer in loaded] == ["map"] * 5 + ["vector"] * 2  # stem, 4 blocks, pool, logits
    assert cka_rows(loaded, first.summary["model"])["cka"].tolist() == first.rows["cka"].tolist()
    again = run_probe("cka", run, {"images": 20, "minibatch": 8})
    assert again.reused and again.rows.equals(first.rows)
    assert not run_probe("cka", run, {"images": 20, "minibatch": 4}).reused
