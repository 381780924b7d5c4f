"""Vision Transformer as the notes describe it (Dosovitskiy et al. 2020).

Image -> P x P patches -> linear projection -> optional [CLS] token -> positional embeddings
(learned | sincos2d | none) -> pre-norm encoder blocks -> LayerNorm -> pool ([CLS] or mean) -> head.
Attention uses the fused `scaled_dot_product_attention`; `interface.explicit_attention` switches
to the explicit softmax path whose weights probes can read from each block's `attn.attend`.
`attention="normsoftmax"` is Hoffmann et al.'s remedy for loss plateaus (ICML 2024, "Eureka-moments in
transformers"; their code's `norm_softmax_std`): each query's logits q.k are divided by min(sqrt(d), their
standard deviation over the keys) instead of by sqrt(d), so attention cannot start out nearly uniform.
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .interface import Backbone, Capabilities, Family, FeatureLayer, TokenEncoder

PosEmbed = Literal["learned", "sincos2d", "none"]
AttentionKind = Literal["softmax", "normsoftmax"]


class ViTSpec(BaseModel):
    """Everything needed to build the ViT; presets are instances of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patch_size: int = Field(4, ge=1)
    dim: int = Field(64, ge=4)
    depth: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(2.0, gt=0)
    pool: Literal["cls", "mean"] = "cls"
    pos_embed: PosEmbed = "learned"
    attention: AttentionKind = "softmax"

    def describe(self) -> str:
        kind = "" if self.attention == "softmax" else f", {self.attention} attention"
        return (
            f"patch {self.patch_size}, dim {self.dim}, depth {self.depth}, heads {self.heads}, "
            f"{self.pool} pooling, {self.pos_embed} positions{kind}"
        )

    def model_post_init(self, _context) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.pos_embed == "sincos2d" and self.dim % 4:
            raise ValueError(f"sincos2d positional embeddings need dim divisible by 4, got {self.dim}")


MIN_TOKENS = 16  # the patch rule's floor: a 4 x 4 grid, the presets' grid at their design size


def patch_size_for(image_hw: tuple[int, int], nominal: int) -> int:
    """The patch size a ViT preset takes on H x W images when model.patch_size is not given.

    The rule: among the patch sizes that divide both sides and leave at least MIN_TOKENS patches, the
    one nearest the preset's nominal patch in ratio (smallest |log(p / nominal)|; an exact tie goes to
    the smaller patch). The presets were designed at 28 px with 7 px patches: 28 -> 7 (4 x 4 tokens),
    32 -> 8 (4 x 4), 20 -> 5 (4 x 4), 48 -> 8 (6 x 6), 64 -> 8 (8 x 8), 224 -> 7 (32 x 32), 16 -> 4
    (4 x 4: patch 8 would leave 2 x 2), and a prime side -> 1.
    Why near the nominal patch rather than the nominal grid: a token then covers about the same
    number of pixels at every size, so a ViT's FLOPs grow with the pixel count as a ResNet's do, and
    a matched pair stays matched in compute (measured, vit-s / resnet-s training FLOPs per image:
    0.41x at 28 px, 0.34x at 32 px RGB, 0.36x at 64 px RGB). Keeping the 4 x 4 grid instead gives
    0.09x at 64 px and 0.02x at 224 px (56 px patches, and 3.9x the ResNet's parameters in the patch
    projection). The floor keeps small images from becoming a grid of a few tokens, where attention
    has little to mix. The price: smaller patches often train better ViTs (CCT's ViT-Lite-7 on
    CIFAR-100: 67.3% at patch 8, 73.9% at patch 4) at 4x the token FLOPs; set model.patch_size for that.
    """
    H, W = image_hw
    fits = [p for p in range(1, min(H, W) + 1) if H % p == 0 and W % p == 0 and (H // p) * (W // p) >= MIN_TOKENS]
    if not fits:  # fewer than MIN_TOKENS pixels: one token per pixel is all there is
        return 1
    return min(fits, key=lambda p: (abs(math.log(p / nominal)), p))


class Attention(nn.Module):
    """Multi-head self-attention over all tokens."""

    def __init__(self, dim: int, heads: int, kind: AttentionKind = "softmax"):
        super().__init__()
        self.heads = heads
        self.kind = kind
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attend = nn.Identity()  # sees the (B, heads, T, T) probabilities on the explicit path
        self.explicit = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # each (B, h, T, hd)
        if self.explicit or self.kind == "normsoftmax":  # the fused kernel only divides by sqrt(d)
            weights = self.attend(attention_weights(q, k, self.kind))  # (B, h, T, T)
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, T, D))


def attention_weights(q: torch.Tensor, k: torch.Tensor, kind: AttentionKind = "softmax") -> torch.Tensor:
    """(B, h, T, T) attention probabilities of queries and keys (B, h, T, hd): softmax(q.k / sqrt(hd)), or
    NormSoftmax's softmax(q.k / min(sqrt(hd), std of q.k over the keys))."""
    logits = q @ k.transpose(-2, -1)
    temperature = math.sqrt(q.shape[-1])
    if kind == "normsoftmax":
        # The floor: a query of zeros (the zero-initialised [CLS] token at step 0) has logits of spread 0,
        # and any temperature then gives the same uniform attention.
        temperature = logits.std(dim=-1, keepdim=True).clamp(min=1e-6, max=temperature)
    return (logits / temperature).softmax(dim=-1)


class Block(nn.Module):
    """Pre-norm Transformer encoder block: x + MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, attention: AttentionKind = "softmax"):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attention)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sincos_2d(grid: tuple[int, int], dim: int, temperature: float = 10_000.0) -> torch.Tensor:
    """Fixed 2-D sine-cosine embeddings (big_vision, Beyer et al. 2022): (h*w, dim), row-major."""
    h, w = grid
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter) / max(quarter - 1, 1))
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)


def resample_grid_embedding(embedding: torch.Tensor, old: tuple[int, int], new: tuple[int, int]) -> torch.Tensor:
    """Bicubic 2-D interpolation of (1, old_h*old_w, D) grid embeddings to (1, new_h*new_w, D) (ViT §3.2)."""
    D = embedding.shape[-1]
    grid = embedding.reshape(1, *old, D).permute(0, 3, 1, 2)  # (1, D, h, w)
    grid = F.interpolate(grid, size=new, mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], D)


class ViT(Backbone):
    arch = "vit"
    capabilities = Capabilities(
        family="vit",
        recipe="vit",
        layouts=frozenset({"map", "tokens", "vector"}),
        input_embedding="tokens",
        position_embedding=True,
        attention_maps=True,
    )

    def __init__(self, spec: ViTSpec, *, in_channels: int, num_classes: int, image_size: tuple[int, int]):
        super().__init__()
        self.spec = spec
        P = spec.patch_size
        if image_size[0] % P or image_size[1] % P:
            fits = [p for p in range(2, 17) if image_size[0] % p == 0 and image_size[1] % p == 0]
            hint = (
                f"; set model.patch_size to one that divides it, e.g. {min(fits, key=lambda p: abs(p - P))}"
                if fits
                else ""
            )
            raise ValueError(f"image size {image_size[0]}x{image_size[1]} is not divisible by the patch size {P}{hint}")
        self.grid = (image_size[0] // P, image_size[1] // P)
        self.prefix_tokens = 1 if spec.pool == "cls" else 0
        # A P x P conv with stride P is exactly "flatten each patch, then a shared linear projection".
        self.patch_embed = nn.Conv2d(in_channels, spec.dim, P, stride=P)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.dim)) if spec.pool == "cls" else None
        if spec.pos_embed == "learned":
            # One embedding per token, [CLS] included: shape (1, prefix + h*w, D) as in the paper.
            n_tokens = self.prefix_tokens + self.grid[0] * self.grid[1]
            self.pos_embed = nn.Parameter(torch.randn(1, n_tokens, spec.dim) * 0.02)
        self.embed_out = nn.Identity()  # hook point: tokens entering the first block
        self.blocks = nn.ModuleList(
            Block(spec.dim, spec.heads, spec.mlp_ratio, spec.attention) for _ in range(spec.depth)
        )
        self.norm = nn.LayerNorm(spec.dim)
        self.pool_out = nn.Identity()  # hook point: the pooled (B, D) representation
        self.head = nn.Linear(spec.dim, num_classes)
        self.apply(_init_weights)

    def no_weight_decay(self) -> set[str]:
        return {name for name in ("cls_token", "pos_embed") if getattr(self, name, None) is not None}

    def token_encoder(self) -> TokenEncoder:
        return TokenEncoder(self.blocks, self.norm, self.cls_token, self.spec.dim)

    def position_embedding(self, grid: tuple[int, int]) -> torch.Tensor | None:
        """(1, prefix + h*w, D) embeddings for a patch grid, interpolated when it differs from training."""
        if self.spec.pos_embed == "none":
            return None
        if self.spec.pos_embed == "sincos2d":
            patches = sincos_2d(grid, self.spec.dim).to(self.patch_embed.weight)[None]
            prefix = patches.new_zeros(1, self.prefix_tokens, self.spec.dim)  # [CLS] gets no position
            return torch.cat([prefix, patches], dim=1)
        if grid == self.grid:
            return self.pos_embed
        prefix, patches = self.pos_embed[:, : self.prefix_tokens], self.pos_embed[:, self.prefix_tokens :]
        return torch.cat([prefix, resample_grid_embedding(patches, self.grid, grid)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x)  # (B, D, h, w)
        B, D, h, w = patches.shape
        tokens = patches.flatten(2).transpose(1, 2)  # (B, h*w, D)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1)  # (B, 1 + h*w, D)
        position = self.position_embedding((h, w))
        tokens = self.embed_out(tokens if position is None else tokens + position)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)
        pooled = tokens[:, 0] if self.spec.pool == "cls" else tokens.mean(dim=1)
        return self.head(self.pool_out(pooled))  # (B, classes)

    def feature_layers(self) -> list[FeatureLayer]:
        P, prefix = self.spec.patch_size, self.prefix_tokens
        layers = [
            FeatureLayer("patch_embed", self.patch_embed, "map", P),
            FeatureLayer("embed", self.embed_out, "tokens", P, prefix),
        ]
        layers += [FeatureLayer(f"block{i + 1}", b, "tokens", P, prefix) for i, b in enumerate(self.blocks)]
        layers += [FeatureLayer("pool", self.pool_out, "vector"), FeatureLayer("logits", self.head, "vector")]
        return layers


def _init_weights(module: nn.Module) -> None:
    """ViT initialisation as in timm/big_vision: truncated-normal linears, zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _resolve_options(preset: ViTSpec, options: dict, image_shape: tuple[int, int, int]) -> dict:
    """An explicit model.patch_size wins (and must divide the image, or building fails with a hint)."""
    if options.get("patch_size") is None:
        return {**options, "patch_size": patch_size_for(image_shape[1:], preset.patch_size)}
    return options


# Matched in size: each vit-X has a parameter count within 1.5x of resnet-X's at 28, 32 and 64 px
# (tests/test_any_size.py); -xxs / -xs / -m scale vit-s's width by 1/4, 1/2, 2 (depth, heads and patch unchanged).
# A preset's patch_size (7) is its patch at 28 px, its design size: at other sizes, unless model.patch_size is
# given, patch_size_for picks the patch.
FAMILIES = (
    Family(
        ViT,
        presets={
            "vit-xxs": ViTSpec(patch_size=7, dim=24, depth=4, heads=4),
            "vit-xs": ViTSpec(patch_size=7, dim=48, depth=4, heads=4),
            "vit-s": ViTSpec(patch_size=7, dim=96, depth=4, heads=4),
            "vit-m": ViTSpec(patch_size=7, dim=192, depth=4, heads=4),
        },
        build=lambda spec, shape, classes: ViT(
            spec, in_channels=shape[0], num_classes=classes, image_size=tuple(shape[1:])
        ),
        resolve_options=_resolve_options,
        matched={f"vit-{width}": f"resnet-{width}" for width in ("xxs", "xs", "s", "m")},
    ),
)
