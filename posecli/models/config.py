"""``ModelConfig``: every number that decides a network's shape or its training objective.

A config is resolved (no ``None`` left) when a model is built and is saved inside every checkpoint,
so a checkpoint rebuilds its own model without any yaml. ``from_dict`` rejects unknown keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ARCHS = ("hrnet", "fami", "tdmi", "vitpose", "tar")
VIT_ARCHS = ("vitpose", "tar")  # archs with a ViT encoder and the deconv heatmap decoder
# published ViTPose sizes: embed dim → (depth, heads, drop-path rate), from the mmpose ViTPose configs
VIT_SIZES: dict[int, tuple[int, int, float]] = {
    384: (12, 12, 0.1),
    768: (12, 12, 0.3),
    1024: (24, 16, 0.5),
    1280: (32, 16, 0.55),
}
VIT_SIZE_LETTERS = {"s": 384, "b": 768, "l": 1024, "h": 1280}  # vitpose_<letter> → embed dim
HEADS = ("heatmap", "simcc")
GTM_MODES = ("translation", "affine")
MI_ESTIMATORS = ("reference", "kl")
BN_MODES = ("update", "freeze")
DEFORM_IMPLS = ("auto", "torchvision", "grid_sample")
DECODERS = ("argmax", "dark")


@dataclass
class ModelConfig:
    """Architecture and loss settings of one ``VideoPoseModel`` (defaults: the reference W48 384×288)."""

    name: str = "fami_hrnet_w48"  # registered builder name this config came from
    # "hrnet" (single frame), "fami" (FAMI-Pose), "tdmi" (TDMI), "vitpose" (single frame) or "tar" (TAR-ViTPose)
    arch: str = "fami"
    # HRNet base width C (branches C/2C/4C/8C; 32 or 48, e.g. 8 in tests), or the ViT embed dim
    # (384/768/1024/1280 for S/B/L/H, e.g. 32 in tests)
    width: int = 48
    input_size: tuple[int, int] = (384, 288)  # crop (H, W) in pixels
    heatmap_size: tuple[int, int] | None = None  # (h, w); None → input_size / 4 (HRNet's stride)
    num_keypoints: int = 17  # PoseTrack joints
    num_frames: int | None = None  # frames per sample; None → 1 for hrnet/vitpose, 5 (t-2..t+2) otherwise
    head: str = "heatmap"  # "heatmap" or "simcc" (SimCC x/y Linear layers on the 17-ch map, spec §12d)
    simcc_split_ratio: float | None = None  # SimCC bins per pixel k; None → 1.5 at 384×288, else 2.0 (§5.1)
    simcc_sigma: float = 4.0  # SimCC label σ in bins (4 in the official HRNet configs)
    # heatmap decoding (spec §9): "argmax" (+¼ px, FAMI-Pose/HRNet) or "dark" (TDMI); None → by arch
    decode: str | None = None
    gtm: str = "translation"  # FAMI GTM: "translation" (released code) or "affine" (paper; §12a)
    mi_estimator: str = "reference"  # MI surrogate: "reference" (released code) or "kl" (log-softmax input)
    mi_temperature: float = 0.05  # softmax temperature T of the MI surrogate (hard-coded 0.05 upstream)
    freeze_backbone: bool | None = None  # None → True for fami (released code), False for hrnet/tdmi
    frozen_backbone_bn: str = "update"  # frozen HRNet BN: "update" running stats (released) or "freeze"
    deform_impl: str = "auto"  # DCN kernel: "auto" (torchvision on GPU, grid_sample on CPU), or forced
    init_std: float = 0.001  # std of the N(0, σ) init of every temporal-module Conv2d weight (§3.3)
    vit_depth: int | None = None  # ViT layers; None → by width (12/12/24/32 for S/B/L/H; 2 for others)
    vit_heads: int | None = None  # ViT attention heads; None → by width (12/12/16/16; 2 for others)
    vit_drop_path: float | None = None  # ViT stochastic-depth rate; None → by width (0.1/0.3/0.5/0.55; else 0)
    # token grid (h, w) the ViT position embeddings are stored for: every published ViTPose was
    # trained at 256×192 (16×12); other inputs resize them bicubically on the fly
    vit_pos_grid: tuple[int, int] = (16, 12)
    decoder_channels: int = 256  # channels of the two ViTPose deconvolutions (256 upstream)
    tar_layers: int = 6  # TAR-ViTPose JTA layers (NUM_LAYERS 6)
    tar_heads: int = 4  # TAR-ViTPose attention heads (the reference's num_heads=4)
    tar_mask_threshold: float = 0.2  # TAR-ViTPose mask threshold on the normalised heatmap (MASK_THRESHOLD)
    mse_weight: float = 1.0  # weight of the heatmap MSE term
    simcc_weight: float = 1.0  # weight of the SimCC KL term (replaces MSE when head == "simcc")
    fami_alpha: float = 0.5  # FAMI-Pose MI weight α (hard-coded 0.5 upstream)
    fami_beta: float = 0.1  # FAMI-Pose β inside the MI sum (hard-coded 0.1 upstream)
    tdmi_alpha: float = 1.0  # TDMI motion-disentanglement weight
    tdmi_beta: float = 1.0  # TDMI multi-modal weight
    tdmi_gamma: float = 1.0  # TDMI regularisation weight

    def __post_init__(self) -> None:
        self.input_size = _pair(self.input_size, "input_size")
        self.vit_pos_grid = _pair(self.vit_pos_grid, "vit_pos_grid")
        if self.heatmap_size is not None:
            self.heatmap_size = _pair(self.heatmap_size, "heatmap_size")
        _choice(self.arch, ARCHS, "arch")
        _choice(self.head, HEADS, "head")
        _choice(self.gtm, GTM_MODES, "gtm")
        _choice(self.mi_estimator, MI_ESTIMATORS, "mi_estimator")
        _choice(self.frozen_backbone_bn, BN_MODES, "frozen_backbone_bn")
        _choice(self.deform_impl, DEFORM_IMPLS, "deform_impl")
        if self.decode is not None:
            _choice(self.decode, DECODERS, "decode")
        if self.width < 4 or self.width % 4:
            raise ValueError(f"width must be a positive multiple of 4 (DCN offset groups of 4), got {self.width}")
        for key in ("vit_depth", "vit_heads", "decoder_channels", "tar_layers", "tar_heads"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if self.input_size[0] % 32 or self.input_size[1] % 32:
            raise ValueError(f"input_size must be multiples of 32 (HRNet's 1/32 branch), got {self.input_size}")

    def resolved(self) -> ModelConfig:
        """A copy with every ``None`` default replaced by its value for this arch and input size."""
        data = self.to_dict()
        if self.heatmap_size is None:
            data["heatmap_size"] = (self.input_size[0] // 4, self.input_size[1] // 4)
        if self.num_frames is None:
            data["num_frames"] = 1 if self.arch in ("hrnet", "vitpose") else 5
        if self.arch in VIT_ARCHS:
            size = VIT_SIZES.get(self.width)
            if data["vit_drop_path"] is None:
                data["vit_drop_path"] = size[2] if size is not None else 0.0  # tiny test widths: none
            for index, key in enumerate(("vit_depth", "vit_heads")):
                if data[key] is None:
                    # an unpublished width is a test model: 2 layers of 2 heads unless set
                    data[key] = size[index] if size is not None else 2
            if self.width % data["vit_heads"] or (self.arch == "tar" and self.width % self.tar_heads):
                raise ValueError(f"width {self.width} is not divisible by the attention heads")
        if self.simcc_split_ratio is None:
            data["simcc_split_ratio"] = 1.5 if tuple(self.input_size) == (384, 288) else 2.0
        if self.freeze_backbone is None:
            data["freeze_backbone"] = self.arch == "fami"
        if self.decode is None:
            data["decode"] = "dark" if self.arch == "tdmi" else "argmax"  # spec §8/§9
        return ModelConfig.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-friendly dict (tuples become lists)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)


def _pair(value: Any, field_name: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{field_name} must be two integers (H, W), got {value!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return (h, w)


def _choice(value: str, allowed: tuple[str, ...], field_name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{field_name} must be one of {', '.join(allowed)}; got {value!r}")
