"""Model facts: every model family runs, declares what it has and is probed by every probe that says it
applies; the shared interface holds, and the symmetries mathematics promises."""

import dataclasses

import pytest
import torch
from torch import nn

from cnn_vs_vit.config import build_config
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import (
    FAMILIES,
    FAMILY_OF,
    MATCHED,
    Backbone,
    BagOfLocalFeatures,
    ResNet,
    ResNetSpec,
    ViT,
    build_model,
    capabilities_of,
    explicit_attention,
    receptive_fields,
)
from cnn_vs_vit.models.convnext import ConvNeXt
from cnn_vs_vit.models.torchvision_models import TorchvisionResNet18, TorchvisionViTB16
from cnn_vs_vit.models.vit import attention_weights
from cnn_vs_vit.probes import PROBES
from cnn_vs_vit.probes.attention_distance import is_attention
from cnn_vs_vit.probes.plugin import find, probe_loaded
from cnn_vs_vit.trained_run import TrainedRun
from cnn_vs_vit.training.device import use_channels_last
from cnn_vs_vit.training.loop import resolve_config
from cnn_vs_vit.training.recipes import RECIPES

SHAPES = [(1, 28, 28), (3, 56, 56)]


# ------------------------------------------------------------------------------------ every model family


class TinyTorchvisionViT(TorchvisionViTB16):
    """torchvision:vit_b_16's wrapper around a one-layer VisionTransformer: the same code, small enough to probe."""

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int):
        Backbone.__init__(self)
        from torchvision.models import VisionTransformer

        self.patch_size = 4
        self.net = VisionTransformer(image_size=image_size, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8,
                                     mlp_dim=16, num_classes=num_classes)  # fmt: skip
        self.net.conv_proj = nn.Conv2d(in_channels, 8, 4, stride=4)


@dataclasses.dataclass(frozen=True)
class FamilyCase:
    """A family's entry: model options that build its first preset small enough to probe, the probes that do not
    apply to it (its capabilities must agree: nothing is left out unless it is named here), and for a fixed
    model too large to probe in a test, a builder of the same wrapper around a small network."""

    options: dict = dataclasses.field(default_factory=dict)
    not_probed: frozenset[str] = frozenset()
    small: object = None  # (spec, image shape, classes) -> model, as Family.build


# One entry per model family (by the class it builds); a new family adds its own.
CASES = {
    ResNet: FamilyCase({"widths": [4, 4, 8, 8]}, frozenset({"attention_distance"})),
    ViT: FamilyCase({"dim": 8, "depth": 1, "heads": 2}),
    BagOfLocalFeatures: FamilyCase(
        {"width": 4}, frozenset({"attention_distance", "multimodal", "shift", "receptive_field", "mixing"})
    ),
    ConvNeXt: FamilyCase({"widths": [4, 4, 8, 8], "blocks": [1, 1, 1, 1]}, frozenset({"attention_distance"})),
    TorchvisionResNet18: FamilyCase(not_probed=frozenset({"attention_distance"})),
    TorchvisionViTB16: FamilyCase(
        small=lambda _spec, shape, classes: TinyTorchvisionViT(
            in_channels=shape[0], num_classes=classes, image_size=shape[1]
        )
    ),
}
FAMILY = {family.model: family for family in FAMILIES}
# Options that make every probe quick on a 16 px model; a new probe adds its own.
PROBE_OPTIONS = {
    "shift": {"shifts": [0, 1], "images": 4, "batch_size": 4},
    "receptive_field": {"images": 2, "batch_size": 2},
    "attention_distance": {"images": 2, "batch_size": 2, "include_init": False},
    "mixing": {"images": 2, "rows": 1, "batch_size": 2},
    "introspection": {},
    "resolution": {"sizes": [16, 24], "images": 4, "batch_size": 4},
    "transfer": {"progress": False},
    "multimodal": {"steps": 1, "batch_size": 2, "test_sequences": 2},
    "cka": {"images": 8, "minibatch": 4},
}


def test_every_family_and_every_probe_has_its_test_entry():
    assert set(FAMILY) == set(CASES)
    assert set(PROBE_OPTIONS) == set(PROBES)


def assert_declares_what_it_has(model: Backbone, image_shape: tuple[int, int, int]) -> None:
    """Its capabilities, checked against its modules."""
    declared = model.capabilities
    assert declared.family in ("cnn", "vit", "control", "hybrid") and declared.recipe in RECIPES
    layers = model.feature_layers()
    assert declared.layouts == {layer.kind for layer in layers}
    # Position embeddings: a table with one row per patch token (and prefix token).
    grid = model.token_grid(image_shape[1:])
    prefix = max((layer.prefix_tokens for layer in layers if layer.kind == "tokens"), default=0)
    rows = prefix + grid[1] * grid[2] if grid else None
    tables = [p for p in model.parameters() if p.ndim == 3 and p.shape[:2] == (1, rows)]
    assert declared.position_embedding == bool(tables)
    assert declared.attention_maps == any(is_attention(m) for m in model.modules())
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert use_channels_last(model, torch.device("meta")) == declared.channels_last  # off the CPU it alone decides
    assert convolutions or not (declared.channels_last or declared.input_embedding)  # the first one takes the pixels
    if declared.input_embedding == "tokens":  # its encoder runs a token sequence of any length
        encoder = model.token_encoder()
        tokens = torch.randn(2, 5, encoder.dim)
        for block in encoder.blocks:
            tokens = block(tokens)
        assert encoder.norm(tokens).shape == (2, 5, encoder.dim)
    else:
        with pytest.raises(CnnvitError, match="cannot find the Transformer encoder"):
            model.token_encoder()


@pytest.mark.parametrize("image_shape", SHAPES, ids=["28x28x1", "56x56x3"])
@pytest.mark.parametrize("model_class", CASES, ids=lambda cls: cls.__name__)
def test_every_preset_of_every_family_runs_and_declares_what_it_has(model_class, image_shape):
    for name in FAMILY[model_class].presets:
        torch.manual_seed(0)
        model = build_model(name, image_shape=image_shape, num_classes=7).eval()
        assert type(model) is model_class and capabilities_of(name) is model.capabilities
        x = torch.randn(2, *image_shape)
        logits = model(x)
        assert logits.shape == (2, 7) and torch.isfinite(logits).all()
        features = model.features(x)
        assert list(features) == [layer.name for layer in model.feature_layers()]
        assert torch.equal(features["logits"], logits)
        for layer in model.feature_layers():
            grid, off_grid = layer.to_grid(features[layer.name], image_shape[1:])
            if layer.kind == "vector":
                assert grid is None and off_grid.shape[0] == 2
            else:
                ceil = lambda n: -(-n // layer.stride)  # padded strided convolutions round up
                assert grid.shape[0] == 2 and grid.shape[2:] == (ceil(image_shape[1]), ceil(image_shape[2]))
        assert_declares_what_it_has(model, image_shape)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("model_class", CASES, ids=lambda cls: cls.__name__)
def test_every_probe_that_applies_to_a_family_runs_on_it(model_class, tmp_path, monkeypatch):
    """Its first preset, built small and untrained, on 16 px shapes; the probes it is not probed with are
    exactly those its entry names."""
    family, case = FAMILY[model_class], CASES[model_class]
    name = next(iter(family.presets))
    if case.small:
        monkeypatch.setitem(FAMILY_OF, name, dataclasses.replace(family, build=case.small))
    config = build_config({"model": {"name": name, **case.options}, "data": {"name": "shapes", "image_size": 16},
                           "train": {"steps": 1, "batch_size": 4}}, [])  # fmt: skip
    dataset = load_dataset("shapes", image_size=16)
    torch.manual_seed(0)
    model = build_model(name, image_shape=dataset.image_shape, num_classes=dataset.num_classes,
                        options=config.model.options).eval()  # fmt: skip
    config = resolve_config(config, dataset, model.capabilities.recipe)
    source = {"model": name, "model_options": config.model.options, "dataset": "shapes", "weights": "untrained"}
    run = TrainedRun(model, config, dataset, name, source)
    probed = set()
    for probe_name in PROBES:
        probe = find(probe_name)
        if probe.applies(model.capabilities):
            saved = probe_loaded(probe, run, tmp_path / "probes", PROBE_OPTIONS[probe_name])
            assert len(saved.rows) > 0, probe_name
            probed.add(probe_name)
    assert set(PROBES) - probed == case.not_probed


def test_matched_presets_are_within_1_5x_in_parameters():
    params = {
        n: build_model(n, image_shape=(1, 28, 28), num_classes=10).num_params for n in {*MATCHED, *MATCHED.values()}
    }
    for name, other in MATCHED.items():
        assert 1 / 1.5 <= params[name] / params[other] <= 1.5, (name, other)
    assert 1 / 1.5 <= params["convnext-s"] / params["resnet-s"] <= 1.5  # the worked example, sized like resnet-s too
    assert params["resnet-xs"] < params["resnet-s"] < params["resnet-m"]
    assert params["vit-xs"] < params["vit-s"] < params["vit-m"]


def test_circular_stride1_resnet_is_exactly_shift_equivariant():
    """A stride-1 CNN with circular padding commutes with torch.roll at every layer (eval-mode BN is per channel)."""
    torch.manual_seed(0)
    model = build_model("resnet-xs", image_shape=(1, 16, 16), num_classes=10,
                        options={"padding_mode": "circular", "downsample": False}).eval()  # fmt: skip
    x = torch.randn(3, 1, 16, 16)
    shifted = torch.roll(x, shifts=(3, -5), dims=(2, 3))
    original, moved = model.features(x), model.features(shifted)
    for layer in model.feature_layers():
        if layer.kind == "map":
            expected = torch.roll(original[layer.name], shifts=(3, -5), dims=(2, 3))
            torch.testing.assert_close(moved[layer.name], expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(moved["logits"], original["logits"], atol=1e-5, rtol=1e-4)


def test_zero_padded_resnet_is_not_exactly_equivariant():
    torch.manual_seed(0)
    model = build_model("resnet-xs", image_shape=(1, 16, 16), num_classes=10, options={"downsample": False}).eval()
    x = torch.randn(3, 1, 16, 16)
    stem = model.features(torch.roll(x, 3, dims=3))["stem"]
    assert not torch.allclose(stem, torch.roll(model.features(x)["stem"], 3, dims=3), atol=1e-3)


@pytest.mark.parametrize("attention", ["softmax", "normsoftmax"])
def test_vit_without_positions_is_equivariant_to_whole_patch_shifts(attention):
    """Self-attention without positional embeddings is permutation-equivariant: rolling the image by a
    multiple of the patch size permutes the patch tokens and leaves the [CLS] output unchanged. NormSoftmax
    only rescales each query's logits by a statistic over all keys, which a permutation leaves alone."""
    torch.manual_seed(0)
    options = {"pos_embed": "none", "attention": attention}
    model = build_model("vit-xs", image_shape=(1, 28, 28), num_classes=10, options=options).eval()
    x = torch.randn(2, 1, 28, 28)
    original, moved = model.features(x), model.features(torch.roll(x, shifts=(7, 14), dims=(2, 3)))  # patch size 7
    for layer in model.feature_layers():
        if layer.kind == "tokens":
            grid, cls = layer.to_grid(original[layer.name], (28, 28))
            grid_moved, cls_moved = layer.to_grid(moved[layer.name], (28, 28))
            torch.testing.assert_close(grid_moved, torch.roll(grid, shifts=(1, 2), dims=(2, 3)), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(cls_moved, cls, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(moved["logits"], original["logits"], atol=1e-5, rtol=1e-4)


def test_learned_positions_break_whole_patch_shift_equivariance():
    torch.manual_seed(0)
    model = build_model("vit-xs", image_shape=(1, 28, 28), num_classes=10).eval()
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(model(torch.roll(x, 7, dims=3)), model(x), atol=1e-4)


def test_explicit_attention_path_matches_fused_kernel_and_exposes_weights():
    torch.manual_seed(0)
    model = build_model("vit-xs", image_shape=(1, 28, 28), num_classes=10).eval()
    x = torch.randn(2, 1, 28, 28)
    fused = model(x)
    seen = []
    handle = model.blocks[0].attn.attend.register_forward_hook(lambda m, i, o: seen.append(o))
    with explicit_attention(model):
        explicit = model(x)
    handle.remove()
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-4)
    (weights,) = seen
    assert weights.shape == (2, 4, 17, 17)  # [CLS] + 4x4 patches of 7 px
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 17))


def test_normsoftmax_is_softmax_when_the_logits_spread_more_than_sqrt_d_and_gives_them_unit_spread_otherwise():
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 17, 16), torch.randn(2, 4, 17, 16)  # head dim 16: sqrt(d) = 4
    wide, narrow = 10 * q, 0.01 * q  # q.k spreads ~40 and ~0.04 over the keys
    torch.testing.assert_close(attention_weights(wide, k, "normsoftmax"), attention_weights(wide, k, "softmax"))
    logits = narrow @ k.transpose(-2, -1)
    unit = logits / logits.std(dim=-1, keepdim=True)
    torch.testing.assert_close(attention_weights(narrow, k, "normsoftmax"), unit.softmax(dim=-1))
    assert not torch.allclose(attention_weights(narrow, k, "softmax"), unit.softmax(dim=-1), atol=1e-2)
    torch.testing.assert_close(unit.std(dim=-1), torch.ones(2, 4, 17))


@pytest.mark.parametrize("blur_pool", [False, True])
def test_each_resnet_block_sees_exactly_its_computed_receptive_field(blur_pool):
    """What receptive_fields says a unit sees is what it sees: changing every pixel outside the field leaves
    the unit's output unchanged, and the gradient reaches every row and column of the field."""
    torch.manual_seed(0)
    spec = ResNetSpec(widths=(8, 8, 8, 8), blur_pool=blur_pool)
    model = build_model("resnet-s", image_shape=(1, 56, 56), num_classes=2,
                        options={"widths": list(spec.widths), "blur_pool": blur_pool}).eval()  # fmt: skip
    names = [layer.name for layer in model.feature_layers() if layer.name.startswith("stage")]
    x = torch.randn(4, 1, 56, 56, requires_grad=True)
    features = model.features(x)
    for name, field in zip(names, receptive_fields(spec), strict=True):
        unit = features[name].shape[-1] // 2
        rows = cols = field.pixels(unit, 56)
        inside = torch.zeros(56, 56, dtype=torch.bool)
        inside[rows.start : rows.stop, cols.start : cols.stop] = True
        elsewhere = torch.where(inside, x.detach(), torch.randn_like(x))
        with torch.no_grad():
            moved = model.features(elsewhere)[name][..., unit, unit]
        torch.testing.assert_close(moved, features[name][..., unit, unit].detach(), atol=1e-5, rtol=1e-5)
        (grad,) = torch.autograd.grad(features[name][..., unit, unit].sum(), x, retain_graph=True)
        seen = grad.abs().sum(dim=(0, 1)) > 0
        assert seen.any(dim=1).nonzero().squeeze(1).tolist() == list(rows), name
        assert seen.any(dim=0).nonzero().squeeze(1).tolist() == list(cols), name


@pytest.mark.parametrize("pos_embed", ["learned", "sincos2d", "none"])
def test_vit_runs_at_a_new_resolution(pos_embed):
    torch.manual_seed(0)
    model = build_model("vit-xs", image_shape=(1, 28, 28), num_classes=10, options={"pos_embed": pos_embed}).eval()
    assert model(torch.randn(2, 1, 35, 35)).shape == (2, 10)  # a 5x5 grid instead of 4x4
    # the interpolated embeddings at the training grid are the trained ones
    if pos_embed == "learned":
        torch.testing.assert_close(model.position_embedding((4, 4)), model.pos_embed)


def test_mean_pooling_vit_has_no_cls_token():
    model = build_model("vit-xs", image_shape=(1, 28, 28), num_classes=10, options={"pool": "mean"})
    assert model.cls_token is None and model.pos_embed.shape[1] == 16


def test_blur_pool_resnet_keeps_shapes():
    model = build_model("resnet-xs", image_shape=(3, 32, 32), num_classes=10, options={"blur_pool": True}).eval()
    feats = model.features(torch.randn(2, 3, 32, 32))
    assert feats["stage4.block1"].shape[-1] == 4


def test_vit_flops_match_the_analytic_count():
    """Training FLOPs = forward (2 per multiply-add) + backward (twice forward, less the input gradient
    of the patch projection, which nothing needs)."""
    spec = dict(patch_size=4, dim=32, depth=2, heads=2, mlp_ratio=2.0)
    model = build_model("vit-xs", image_shape=(1, 8, 8), num_classes=3, options=spec)
    N, T, D, H, K, patch_in = 4, 5, 32, 64, 3, 16
    patch = 2 * N * patch_in * D
    block = 2 * T * D * 3 * D + 2 * 2 * T * T * D + 2 * T * D * D + 2 * 2 * T * D * H
    forward = patch + 2 * block + 2 * D * K
    backward = 2 * forward - patch  # weight and input gradients everywhere, no input gradient for the image
    assert model.train_flops_per_image((1, 8, 8)) == forward + backward


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("vit-x", None, 'unknown model "vit-x"'),
        ("vit-s", {"patch_size": 5}, "not divisible by the patch size 5"),
        ("vit-s", {"pos_embed": "sinusoidal"}, "pos_embed"),
        ("resnet-s", {"depth": 3}, 'unknown key "depth"'),
        ("torchvision:resnet18", {"widths": [1]}, "takes no model options"),
    ],
)
def test_bad_model_requests_are_one_line_errors(name, options, message):
    with pytest.raises(CnnvitError, match=message) as info:
        build_model(name, image_shape=(1, 28, 28), num_classes=10, options=options)
    assert "\n" not in str(info.value)


def test_adamw_decays_kernels_only_and_never_what_a_model_declares():
    from cnn_vs_vit.models.interface import decayed_parameters

    for name, declared in (("vit-s", {"cls_token", "pos_embed"}), ("resnet-s", set()),
                           ("torchvision:vit_b_16", {"net.class_token", "net.encoder.pos_embedding"})):  # fmt: skip
        model = build_model(name, image_shape=(3, 32, 32), num_classes=10)
        decayed = {id(p) for p in decayed_parameters(model)[0]}
        for parameter_name, parameter in model.named_parameters():
            expected = parameter.ndim >= 2 and parameter_name not in declared
            assert (id(parameter) in decayed) == expected, (name, parameter_name)
        assert declared <= {n for n, _ in model.named_parameters()}  # the declared names exist
