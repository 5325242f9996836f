"""ViTPose encoder: a plain Vision Transformer that keeps every patch token as a feature map.

Design: Xu et al., "ViTPose: Simple Vision Transformer Baselines for Human Pose Estimation" (NeurIPS
2022), as mmpose 1.x configures it (``td-hm_ViTPose-{small,base,large,huge}_8xb64-210e_coco-256x192``:
mmpretrain ``VisionTransformer`` with ``patch_cfg=dict(padding=2)``, ``with_cls_token=False``,
``out_type='featmap'``, ``qkv_bias=True``, no layer scale, final LayerNorm, LN eps 1e-6, exact GELU);
the same encoder TAR-ViTPose (zgspose/TARViTPose, Apache-2.0) runs. Re-implemented, no code copied.

Sizes (embed dim / depth / heads / FFN width / drop-path rate, from those configs):
S 384/12/12/1536/0.1, B 768/12/12/3072/0.3, L 1024/24/16/4096/0.5, H 1280/32/16/5120/0.55.

Patch embedding: Conv2d(3, C, 16, stride 16, padding 2), so a 256×192 crop gives a 16×12 token grid
and 384×288 gives 24×18. Absolute position embeddings ``pos_embed`` ``(1, gh·gw, C)`` belong to the
grid of the checkpoint's training size (16×12 for every published ViTPose); another input size
resizes them on the fly, bicubic with ``align_corners=False`` on float32, as mmpretrain's
``resize_pos_embed`` does. Drop path grows linearly from 0 to the rate over the layers.

State-dict keys (mmpretrain names, under ``backbone.`` in a ``VideoPoseModel``):
``patch_embed.projection.{weight,bias}``, ``pos_embed``, ``layers.{i}.ln1.*``,
``layers.{i}.attn.qkv.*`` (q, k, v stacked on the output axis), ``layers.{i}.attn.proj.*``,
``layers.{i}.ln2.*``, ``layers.{i}.ffn.layers.0.0.*`` (first Linear), ``layers.{i}.ffn.layers.1.*``,
``ln1.*`` (the final norm). The published sizes are ``posecli.models.config.VIT_SIZES``; ``posecli.vit_weights`` maps the official ViTPose, Hugging Face and
TAR-ViTPose names onto these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATCH_SIZE = 16
PATCH_PADDING = 2
LN_EPS = 1e-6


def token_grid(input_size: tuple[int, int]) -> tuple[int, int]:
    """Token grid ``(gh, gw)`` of a ``(H, W)`` crop: the patch conv's output size with padding 2."""
    return tuple((s + 2 * PATCH_PADDING - PATCH_SIZE) // PATCH_SIZE + 1 for s in input_size)  # type: ignore[return-value]


def resize_pos_embed(pos_embed: Tensor, src: tuple[int, int], dst: tuple[int, int]) -> Tensor:
    """``(1, src_h·src_w, C)`` position embeddings → ``(1, dst_h·dst_w, C)``, bicubic, float32 math."""
    if tuple(src) == tuple(dst):
        return pos_embed
    c = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, src[0], src[1], c).permute(0, 3, 1, 2)  # (1, C, src_h, src_w)
    grid = F.interpolate(grid.float(), size=dst, mode="bicubic", align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)  # (1, dst_h·dst_w, C)


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``rate`` in training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class PatchEmbed(nn.Module):
    """``(N, 3, H, W)`` → tokens ``(N, gh·gw, C)`` and the grid ``(gh, gw)``."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.projection = nn.Conv2d(3, embed_dim, PATCH_SIZE, PATCH_SIZE, PATCH_PADDING)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.projection(x)  # (N, C, gh, gw)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid  # (N, gh·gw, C)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one packed ``qkv`` Linear (q, k, v blocks in that order)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, L, C)`` → ``(N, L, C)``."""
        n, length, c = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (N, heads, L, C/heads)
        return self.proj(out.transpose(1, 2).reshape(n, length, c))


class FeedForward(nn.Module):
    """Linear → GELU → Linear; the nesting gives the mmcv ``FFN`` keys ``layers.0.0`` / ``layers.1``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU()), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(ln1(x)), then + ffn(ln2(x)), each branch drop-pathed."""

    def __init__(self, dim: int, heads: int, hidden: int, drop_path: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = SelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.ffn = FeedForward(dim, hidden)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return x + self.drop_path(self.ffn(self.ln2(x)))


class ViTEncoder(nn.Module):
    """Crops ``(N, 3, H, W)`` → token feature map ``(N, C, gh, gw)`` (no class token, final LayerNorm).

    embed_dim / depth / heads: the transformer's size; pos_grid: the grid ``pos_embed`` was trained
    on (``token_grid`` of the checkpoint's input size; 16×12 for 256×192).
    """

    def __init__(
        self, embed_dim: int, depth: int, heads: int, *, pos_grid: tuple[int, int] = (16, 12),
        drop_path_rate: float = 0.0, mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.pos_grid = (int(pos_grid[0]), int(pos_grid[1]))
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1], embed_dim))
        # linearly 0 → rate over the layers (numpy.linspace in mmpretrain); plain floats so meta builds work
        rates = [drop_path_rate * i / (depth - 1) for i in range(depth)] if depth > 1 else [drop_path_rate] * depth
        self.layers = nn.ModuleList(EncoderLayer(embed_dim, heads, embed_dim * mlp_ratio, r) for r in rates)
        self.ln1 = nn.LayerNorm(embed_dim, eps=LN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, 3, H, W)`` normalised RGB → ``(N, C, gh, gw)``."""
        tokens, grid = self.patch_embed(x)  # (N, L, C)
        tokens = tokens + resize_pos_embed(self.pos_embed, self.pos_grid, grid)
        for layer in self.layers:
            tokens = layer(tokens)
        tokens = self.ln1(tokens)
        # (N, L, C) → (N, gh, gw, C) → (N, C, gh, gw), as mmpretrain's ``out_type='featmap'``
        return tokens.reshape(tokens.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2)


def init_vit_weights(encoder: ViTEncoder) -> None:
    """Random init as mmpretrain's ViT: truncated-normal (std 0.02) Linear weights and ``pos_embed``,
    zero biases, unit LayerNorms; the patch conv keeps PyTorch's default."""
    nn.init.trunc_normal_(encoder.pos_embed, std=0.02)
    for module in encoder.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
