"""torchvision's ResNet-18 and ViT-B/16 behind cnnvit's model interface, adapted to small images.

Adaptations (so a 28-32 px dataset is not reduced to a 1x1 grid or 4 tokens):
- resnet18: 3x3 stride-1 first convolution and no max-pool (the usual CIFAR adaptation);
- vit_b_16: patch size 16 kept when the image is at least 112 px (a grid of 7x7 or more),
  otherwise 4; the first projection takes the dataset's channels.
Both get a new classification head for the dataset's classes.
"""

import torch
from torch import nn

from .interface import Backbone, Family, FeatureLayer, TokenEncoder
from .resnet import ResNet
from .vit import ViT


class TorchvisionResNet18(Backbone):
    arch = "resnet"
    capabilities = ResNet.capabilities  # what cnnvit's ResNet declares; tests/test_models.py checks it here too

    def __init__(self, *, in_channels: int, num_classes: int):
        super().__init__()
        from torchvision import models as tv  # deferred: torchvision takes ~2 s to import

        net = tv.resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        for module in net.modules():  # in-place ReLUs would overwrite what forward hooks captured
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def classifier(self) -> nn.Module:
        return self.net.fc

    def describe(self) -> str:
        return "adapted to the image size"

    def feature_layers(self) -> list[FeatureLayer]:
        layers = [FeatureLayer("stem", self.net.relu, "map", 1)]
        stride = 1
        for s in range(1, 5):
            stage = getattr(self.net, f"layer{s}")
            for b, block in enumerate(stage):
                stride *= 2 if (s > 1 and b == 0) else 1
                layers.append(FeatureLayer(f"layer{s}.{b}", block, "map", stride))
        layers += [FeatureLayer("pool", self.net.avgpool, "vector"), FeatureLayer("logits", self.net.fc, "vector")]
        return layers


class TorchvisionViTB16(Backbone):
    arch = "vit"
    capabilities = ViT.capabilities  # what cnnvit's ViT declares; tests/test_models.py checks it here too

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        patch = 16 if image_size >= 112 else 4
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not divisible by the patch size {patch}")
        self.patch_size = patch
        from torchvision import models as tv

        self.net = tv.VisionTransformer(
            image_size=image_size,
            patch_size=patch,
            num_layers=12,
            num_heads=12,
            hidden_dim=768,
            mlp_dim=3072,
            num_classes=num_classes,
        )
        if in_channels != 3:
            self.net.conv_proj = nn.Conv2d(in_channels, 768, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def classifier(self) -> nn.Module:
        return self.net.heads  # Sequential(head=Linear): it receives the final [CLS] representation

    def describe(self) -> str:
        return "adapted to the image size"

    def no_weight_decay(self) -> set[str]:
        return {"net.class_token", "net.encoder.pos_embedding"}

    def token_encoder(self) -> TokenEncoder:
        net = self.net
        return TokenEncoder(net.encoder.layers, net.encoder.ln, net.class_token, net.hidden_dim)

    def feature_layers(self) -> list[FeatureLayer]:
        P = self.patch_size
        layers = [FeatureLayer("patch_embed", self.net.conv_proj, "map", P)]
        layers += [
            FeatureLayer(f"block{i + 1}", layer, "tokens", P, prefix_tokens=1)
            for i, layer in enumerate(self.net.encoder.layers)
        ]
        layers.append(FeatureLayer("logits", self.net.heads, "vector"))
        return layers


def _vit_b_16(_spec: None, image_shape: tuple[int, int, int], num_classes: int) -> TorchvisionViTB16:
    C, H, W = image_shape
    if H != W:
        raise ValueError(f"torchvision's ViT needs square images, got {H}x{W}")
    return TorchvisionViTB16(in_channels=C, num_classes=num_classes, image_size=H)


# Fixed models: they take no model options.
FAMILIES = (
    Family(
        TorchvisionResNet18,
        presets={"torchvision:resnet18": None},
        build=lambda _spec, shape, classes: TorchvisionResNet18(in_channels=shape[0], num_classes=classes),
    ),
    Family(TorchvisionViTB16, presets={"torchvision:vit_b_16": None}, build=_vit_b_16),
)
