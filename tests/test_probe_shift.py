"""Specification of the shift probe: where mathematics says a network commutes with a shift, the probe
measures zero; where padding, striding or positional embeddings break the symmetry, it does not.

Untrained tiny models on 16x16 noise images: the oracles are facts about architectures, not weights.
"""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from cnn_vs_vit.cli import app
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, FeatureLayer, build_model
from cnn_vs_vit.probes.shift import COLUMNS, grid_shift, probe_shift, resolve_shifts, shifted_copies
from cnn_vs_vit.probes.shift_naive import naive_shift_errors

SIDE = 16
SHIFTS = list(range(9))  # 0..8: multiples of the test ViT's patch size 4 and everything between
EXACT = 1e-5  # float32 round-off of relative errors that are zero in exact arithmetic


pytestmark = pytest.mark.usefixtures("one_thread")


def model(name: str, **options) -> Backbone:
    torch.manual_seed(0)
    return build_model(name, image_shape=(1, SIDE, SIDE), num_classes=10, options=options).eval()


def images(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, SIDE, SIDE), dtype=torch.uint8, generator=generator)
    return x, torch.randint(0, 10, (n,), generator=generator)


def probe(net: Backbone, modes=("circular",), shifts=SHIFTS, n: int = 6, batch_size: int = 4):
    x, y = images(n)
    return probe_shift(net, x, y, shifts=shifts, modes=modes, batch_size=batch_size)


def grid_rows(result, mode="circular"):
    rows = result.rows
    return rows[(rows["mode"] == mode) & rows["kind"].isin(["map", "tokens"])]


def layer_rows(result, layer, mode="circular"):
    rows = result.rows
    return rows[(rows["mode"] == mode) & (rows["layer"] == layer)].set_index("shift")


# --- oracles: exact symmetry ---------------------------------------------------------------------


def test_circular_padded_stride1_resnet_is_exactly_equivariant_at_every_layer():
    result = probe(model("resnet-xs", padding_mode="circular", downsample=False))
    grids = grid_rows(result)
    assert set(grids["kind"]) == {"map"} and len(grids) == 5 * len(SHIFTS)
    assert (grids["equivariance_error"] < EXACT).all()
    assert grids["expressible"].all()
    assert (layer_rows(result, "logits")["invariance_error"] < EXACT).all()
    predictions = result.summary["predictions"]["circular"]
    assert predictions["consistency"]["mean"] == 1.0
    assert all(p["consistency_with_unshifted"]["mean"] == 1.0 for p in predictions["per_shift"])


def test_zero_padding_breaks_equivariance_at_the_borders():
    grids = grid_rows(probe(model("resnet-xs", downsample=False)))
    shifted = grids[grids["shift"] > 0]
    assert (shifted["equivariance_error"] > 1e-3).all()
    assert (grids[grids["shift"] == 0]["equivariance_error"] == 0).all()


def test_strided_layers_cannot_express_shifts_that_are_not_multiples_of_their_stride():
    result = probe(model("resnet-xs", padding_mode="circular"))
    grids = grid_rows(result)
    assert sorted(set(grids["grid_stride"])) == [1, 2, 4, 8]
    for _, row in grids.iterrows():
        stride, shift = row["grid_stride"], row["shift"]
        assert row["expressible"] == (shift % stride == 0)
        assert row["grid_shift"] == math.floor(shift / stride + 0.5)
        if shift % stride == 0:  # 16 px is a multiple of every stride: circular striding is exact there
            assert row["equivariance_error"] < EXACT, (row["layer"], shift)
        else:
            assert row["equivariance_error"] > 1e-2, (row["layer"], shift)


def test_vit_without_positional_embeddings_is_equivariant_to_whole_patch_shifts_only():
    result = probe(model("vit-xs", patch_size=4, pos_embed="none"))
    grids = grid_rows(result)
    assert {"patch_embed", "embed", "block1", "block4"} <= set(grids["layer"])
    on_patches = grids[grids["shift"] % 4 == 0]
    between = grids[grids["shift"] % 4 != 0]
    assert (on_patches["equivariance_error"] < EXACT).all()
    assert (between["equivariance_error"] > 0.1).all()
    assert not between["expressible"].any()
    # Self-attention is permutation-equivariant, so [CLS] and the logits do not move at all.
    cls = result.rows[(result.rows["kind"] == "cls")]
    assert set(cls["layer"]) == {"embed[cls]", "block1[cls]", "block2[cls]", "block3[cls]", "block4[cls]"}
    assert (cls[cls["shift"] % 4 == 0]["invariance_error"] < EXACT).all()
    logits = layer_rows(result, "logits")["invariance_error"]
    assert (logits[[0, 4, 8]] < EXACT).all() and (logits[[1, 2, 3, 5, 6, 7]] > 1e-3).all()


def test_learned_positional_embeddings_break_whole_patch_equivariance_after_they_are_added():
    result = probe(model("vit-xs", patch_size=4), shifts=[0, 4, 8])
    assert (layer_rows(result, "patch_embed")["equivariance_error"] < EXACT).all()  # before the embeddings
    for layer in ("embed", "block1", "block4"):
        errors = layer_rows(result, layer)["equivariance_error"]
        assert errors[0] == 0 and (errors[[4, 8]] > 1e-2).all(), layer


def test_a_vit_pooled_by_mean_has_no_cls_rows():
    result = probe(model("vit-xs", patch_size=4, pool="mean", pos_embed="none"), shifts=[0, 4])
    assert "cls" not in set(result.rows["kind"])
    assert (grid_rows(result)["equivariance_error"] < EXACT).all()


# --- crop mode, the reference and the figures ------------------------------------------------------


def test_crop_mode_moves_content_into_a_black_canvas():
    x = torch.arange(1, 17, dtype=torch.uint8).view(1, 1, 4, 4)
    views = shifted_copies(x, [0, 1, 2], "crop")  # (3, 1, 4, 4)
    assert torch.equal(views[0], x[0])
    assert torch.equal(views[2, 0, 2:, 2:], x[0, 0, :2, :2])  # content moved by (+2, +2)
    assert (views[2, 0, :2] == 0).all() and (views[2, 0, :, :2] == 0).all()  # black where nothing was
    rolled = shifted_copies(x, [0, 1], "circular")
    assert torch.equal(rolled[1, 0], torch.roll(x[0, 0], (1, 1), (0, 1)))


@pytest.mark.parametrize("name, options", [("resnet-xs", {}), ("vit-xs", {"patch_size": 4})])
def test_both_modes_give_finite_errors_and_exact_zero_at_shift_zero(name, options):
    result = probe(model(name, **options), modes=("circular", "crop"), shifts=[0, 1, 3, 4])
    rows = result.rows
    assert list(rows.columns) == COLUMNS
    assert set(rows["mode"]) == {"circular", "crop"}
    assert rows["invariance_error"].notna().all() and (rows["n_images"] == 6).all()
    grids = rows[rows["kind"].isin(["map", "tokens"])]
    assert grids[["equivariance_error", "equivariance_ci_low", "equivariance_ci_high"]].notna().all().all()
    at_zero = rows[rows["shift"] == 0]
    assert (at_zero["invariance_error"] == 0).all()
    assert (at_zero[at_zero["kind"].isin(["map", "tokens"])]["equivariance_error"] == 0).all()
    assert (grids["equivariance_ci_low"] <= grids["equivariance_error"]).all()
    assert (grids["equivariance_error"] <= grids["equivariance_ci_high"]).all()


def test_crop_shifts_that_leave_no_common_content_on_a_grid_have_no_equivariance_error():
    result = probe(model("vit-xs", patch_size=4), modes=("crop",), shifts=[0, 13, 14])  # 14 px ~ 4 cells of 4
    block = layer_rows(result, "block1", mode="crop")
    assert block.loc[13, "grid_shift"] == 3 and block.loc[13, "equivariance_error"] > 0
    assert block.loc[14, "grid_shift"] == 4 and math.isnan(block.loc[14, "equivariance_error"])
    assert math.isfinite(block.loc[14, "invariance_error"])


@pytest.mark.parametrize("name, options", [("resnet-xs", {}), ("vit-xs", {"patch_size": 4}),
                                           ("vit-xs", {"patch_size": 4, "pos_embed": "none"})])  # fmt: skip
@pytest.mark.parametrize("mode", ["circular", "crop"])
def test_batched_probe_equals_the_one_layer_one_shift_reference(name, options, mode):
    net, (x, y) = model(name, **options), images(5)
    shifts = [0, 1, 2, 4, 7]
    batched = probe_shift(net, x, y, shifts=shifts, modes=[mode], batch_size=2).rows
    naive = naive_shift_errors(net, x, shifts=shifts, mode=mode)
    joined = batched.merge(naive, on=["layer", "shift"], suffixes=("", "_naive"))
    assert len(joined) == len(naive) == len(batched)
    torch.testing.assert_close(torch.tensor(joined["invariance_error"].to_numpy()),
                               torch.tensor(joined["invariance_error_naive"].to_numpy()), atol=1e-5, rtol=1e-4)  # fmt: skip
    torch.testing.assert_close(torch.tensor(joined["equivariance_error"].to_numpy()),
                               torch.tensor(joined["equivariance_error_naive"].to_numpy()), atol=1e-5, rtol=1e-4,
                               equal_nan=True)  # fmt: skip


def test_results_do_not_depend_on_the_batch_size():
    net = model("resnet-xs")
    one, many = probe(net, batch_size=1, shifts=[0, 3]), probe(net, batch_size=6, shifts=[0, 3])
    torch.testing.assert_close(torch.tensor(one.rows["equivariance_error"].to_numpy()),
                               torch.tensor(many.rows["equivariance_error"].to_numpy()), atol=1e-6, rtol=1e-5, equal_nan=True)  # fmt: skip
    assert one.summary["predictions"] == many.summary["predictions"]


def test_prediction_figures_match_a_direct_evaluation():
    net, (x, y) = model("vit-xs", patch_size=4), images(8)
    result = probe_shift(net, x, y, shifts=[0, 2], modes=["circular"], batch_size=3)
    predictions = result.summary["predictions"]["circular"]
    from cnn_vs_vit.data.model_input import to_model_input

    with torch.no_grad():
        plain = net(to_model_input(x)).argmax(1)
        moved = net(to_model_input(torch.roll(x, (2, 2), (2, 3)))).argmax(1)
    per_shift = {p["shift"]: p for p in predictions["per_shift"]}
    assert per_shift[0]["accuracy"]["mean"] == pytest.approx((plain == y).float().mean().item())
    assert per_shift[2]["accuracy"]["mean"] == pytest.approx((moved == y).float().mean().item())
    assert per_shift[2]["consistency_with_unshifted"]["mean"] == pytest.approx((moved == plain).float().mean().item())
    assert predictions["consistency"]["mean"] == pytest.approx((moved == plain).float().mean().item())  # one pair
    assert per_shift[0]["true_class_probability_change"]["mean"] == 0
    assert predictions["n_images"] == 8


# --- arguments ------------------------------------------------------------------------------------


def test_grid_shifts_round_half_up_and_flag_what_the_grid_cannot_express():
    assert grid_shift(4, 4) == (1, True)
    assert grid_shift(2, 4) == (1, False)  # half a cell rounds up
    assert grid_shift(1, 4) == (0, False)
    assert grid_shift(6, 4) == (2, False)
    assert grid_shift(3, 1) == (3, True)


def test_shifts_always_start_at_zero_and_default_to_the_patch_size():
    net = model("vit-xs", patch_size=4)
    assert resolve_shifts([3, 1, 3], (SIDE, SIDE), net) == [0, 1, 3]
    assert resolve_shifts(None, (SIDE, SIDE), net) == [0, 1, 2, 3, 4]
    assert resolve_shifts(None, (SIDE, SIDE), model("resnet-xs"))[0] == 0
    with pytest.raises(CnnvitError, match="shift 16 is not smaller than the 16 px image; use shifts below 16"):
        resolve_shifts([0, 16], (SIDE, SIDE), net)
    with pytest.raises(CnnvitError, match="negative"):
        resolve_shifts([-1], (SIDE, SIDE), net)


class VectorOnly(Backbone):
    """A model whose only feature is its output vector: nothing to shift."""

    arch = "mlp"

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(SIDE * SIDE, 10)

    def forward(self, x):
        return self.head(x.flatten(1))

    def feature_layers(self):
        return [FeatureLayer("logits", self.head, "vector")]


class NoLayers(VectorOnly):
    def feature_layers(self):
        raise NotImplementedError


@pytest.mark.parametrize("net", [VectorOnly(), NoLayers()], ids=["vector-only", "no-feature-layers"])
def test_a_model_without_feature_maps_cannot_be_probed(net):
    x, y = images(2)
    with pytest.raises(CnnvitError, match="cannot be probed"):
        probe_shift(net, x, y, shifts=[0, 1])


def test_unknown_mode_is_a_user_error():
    x, y = images(2)
    with pytest.raises(CnnvitError, match='unknown mode "sideways"'):
        probe_shift(model("resnet-xs"), x, y, shifts=[0, 1], modes=["sideways"])


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from cnn_vs_vit.config import build_config
    from cnn_vs_vit.training import train_run

    path = tmp_path_factory.mktemp("probe") / "run"
    overrides = ["model.name=resnet-xs", "data.name=digits", "train.steps=3", "train.batch_size=16"]
    train_run(build_config({}, overrides), path)
    return path


def cli(*args):
    return CliRunner().invoke(app, ["probe-shift", *map(str, args)])


def assert_user_error(result, message):
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_probe_shift_writes_its_files_and_reuses_them(run_dir):
    first = cli(run_dir, "--images", 8, "--shifts", "0,1,2", "--batch-size", 4, "--plot")
    assert first.exit_code == 0, first.output
    probes = run_dir / "probes"
    csv, summary_path = probes / "shift.csv", probes / "shift_summary.json"
    assert (probes / "shift.png").stat().st_size > 0
    import pandas as pd

    rows = pd.read_csv(csv)
    assert list(rows.columns) == COLUMNS
    assert len(rows) == 2 * 7 * 3  # modes x (5 maps + pool + logits) x shifts
    summary = json.loads(summary_path.read_text())
    assert summary["arguments"]["shifts"] == [0, 1, 2] and summary["arguments"]["images"] == 8
    assert set(summary["predictions"]) == {"circular", "crop"}
    assert "stage2.block1" in first.stdout and "reused" not in first.stderr

    written = summary_path.stat().st_mtime_ns
    again = cli(run_dir, "--images", 8, "--shifts", "0,1,2")
    assert again.exit_code == 0 and "reused" in again.stderr
    assert summary_path.stat().st_mtime_ns == written and "stage2.block1" in again.stdout

    forced = cli(run_dir, "--images", 8, "--shifts", "0,1,2", "--force")
    assert forced.exit_code == 0 and "reused" not in forced.stderr
    assert summary_path.stat().st_mtime_ns != written

    other = cli(run_dir, "--images", 8, "--shifts", "0,2", "--mode", "crop")
    assert other.exit_code == 0 and "reused" not in other.stderr
    assert set(pd.read_csv(csv)["mode"]) == {"crop"}


def test_probe_shift_is_cnnvit_probe_shift_with_its_options_as_flags(run_dir):
    flags = cli(run_dir, "--images", 8, "--shifts", "0,1,2", "--mode", "circular", "--batch-size", 4)
    generic = CliRunner().invoke(
        app, ["probe", "shift", str(run_dir), "-o", "images=8", "-o", "shifts=[0,1,2]", "-o", "modes=[circular]",
              "-o", "batch_size=4", "--plot"],
    )  # fmt: skip
    assert flags.exit_code == 0 and generic.exit_code == 0, generic.output
    assert "reused" in generic.stderr  # the same arguments: the alias's result answers the generic command
    assert generic.stdout == flags.stdout and "stage2.block1" in generic.stdout  # the same tables
    assert (run_dir / "probes" / "shift.png").stat().st_size > 0
    no_plot = CliRunner().invoke(app, ["probe", "introspection", str(run_dir), "--plot"])
    assert no_plot.exit_code == 2 and "draws no plot; --plot works with: shift" in no_plot.stderr
    not_here = CliRunner().invoke(app, ["probe", "mixing", "--model", "resnet-xs", "-d", "digits", "--out", "x"])
    assert not_here.exit_code == 2 and "--model works with: shift" in not_here.stderr


def test_probe_shift_on_a_model_not_trained_here(tmp_path, run_dir):
    random_init = cli("--model", "resnet-xs", "--dataset", "digits", "--out", tmp_path / "random",
                      "--images", 4, "--shifts", "0,2", "--mode", "circular")  # fmt: skip
    assert random_init.exit_code == 0, random_init.output
    assert "random" in random_init.stderr and (tmp_path / "random" / "probes" / "shift.csv").exists()

    weights = run_dir / "model.safetensors"
    trained = cli("--model", "resnet-xs", "--dataset", "digits", "--out", tmp_path / "trained", "--weights", weights,
                  "--images", 4, "--shifts", "0,2", "--mode", "circular")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    from_run = cli(run_dir, "--images", 4, "--shifts", "0,2", "--mode", "circular")
    assert from_run.exit_code == 0
    assert (tmp_path / "trained" / "probes" / "shift.csv").read_text().replace("resnet-xs", "") == \
        (run_dir / "probes" / "shift.csv").read_text().replace("resnet-xs", "")  # fmt: skip

    state = tmp_path / "vit.pt"
    vit = build_model("vit-xs", image_shape=(1, 32, 32), num_classes=10, options={"patch_size": 4})
    torch.save(vit.state_dict(), state)
    misfit = cli("--model", "resnet-xs", "--dataset", "digits", "--out", tmp_path / "x", "--weights", state)
    assert_user_error(misfit, "do not fit resnet-xs")


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, run_dir, monkeypatch):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    assert_user_error(cli(unfinished), "has no trained weights")
    assert_user_error(cli(tmp_path / "missing"), "is not a run directory")
    too_far = "shift 40 is not smaller than the 32 px image; use shifts below 32"
    assert_user_error(cli(run_dir, "--shifts", "40"), too_far)
    assert_user_error(cli(run_dir, "--shifts", "1.5"), "not a whole number")
    assert_user_error(cli(run_dir, "--mode", "sideways"), 'unknown mode "sideways"')
    assert_user_error(cli(run_dir, "--images", 0), "--images 0 is not positive")
    assert_user_error(cli(), "nothing to probe")
    assert_user_error(cli("--model", "torchvision:resnet18"), "needs --dataset NAME and --out DIR")

    import dataclasses

    from cnn_vs_vit.probes import plugin

    real_load = plugin.load_run
    monkeypatch.setattr(
        plugin, "load_run", lambda path, device: dataclasses.replace(real_load(path, device), model=VectorOnly())
    )
    assert_user_error(cli(run_dir, "--force"), "cannot be probed")
