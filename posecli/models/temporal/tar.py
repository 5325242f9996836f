"""TAR-ViTPose temporal module: joint-centric temporal aggregation (JTA) and global restoring attention (GRA).

Design: Fang et al., "Beyond Static Frames: Temporal Aggregate-and-Restore Vision Transformer for Human
Pose Estimation" (CVPR 2026); upstream class ``TAR_ViTPose`` in zgspose/TARViTPose
(``models/best/TAR_ViTPose.py``, Apache-2.0). Re-implemented from reading it; no code copied.

Computation (B people, T = 5 frames t-2..t+2, K = 17 joints, C = embed dim, token grid h×w = 24×18 at
384×288, first-pass heatmaps H×W = 96×72):

1. Every frame's ViT feature map ``(C, h, w)`` and its first-pass heatmap (the ViTPose decoder on that
   frame alone) come in; in posecli both are per-crop, so ``reuse`` mode caches them.
2. Mask: each first-pass heatmap is min-max normalised per joint, ``(m - min) / (max - min + 1e-6)``,
   resized to h×w bilinearly (``align_corners=False``, no antialiasing) and compared ``< threshold``
   (0.2): True = the query may *not* attend there. It is repeated over the attention heads.
3. Queries: ``query_feat.weight + query_pe.weight`` ``(K, C)``, the positional part added once.
4. L layers (6) of: cross-attention of the K queries over the T·h·w tokens of all window frames,
   masked; self-attention among the K queries; FFN Linear(C, 2C) → GELU → Linear(2C, C). Each block is
   post-norm: ``LayerNorm(x + block(x))``, with its own LayerNorm.
5. GRA: the key frame's tokens attend (unmasked) to the K joint tokens, ``LayerNorm(tokens + attn)``;
   the result goes to the same decoder that made the first-pass heatmaps.

Reference quirks reproduced on purpose (the official weights were trained with them):

- Token scramble: the tokens are made with ``featmap.flatten(3).reshape(B, T, h·w, C)`` from
  ``(B, T, C, h·w)`` — a reshape, not a transpose — so "token" p is the p-th run of C consecutive
  values of the channel-major map (mixing channels and positions). The GRA output is turned back
  with ``view(B, C, h, w)``, the exact inverse, so the decoder sees a proper feature map.
- Mask scramble: the mask ``(B·heads, T, K, h·w)`` is reinterpreted with ``view(-1, K, T, h·w)`` (a
  view, not a permute) and flattened to ``(B·heads, K, T·h·w)``: query joint j over frame slot s reads
  the mask of (frame, joint) = divmod(j·T + s, K) at the same token index (``scrambled_mask_source``).
- Fully masked rows: the attention is ``nn.MultiheadAttention`` (packed ``in_proj_weight``
  ``(3C, C)`` = q, k, v blocks, ``out_proj``, ``batch_first``) called with ``need_weights=True`` as
  the reference does (the window cross-attention computes the same with its parameters,
  ``WindowCrossAttention``); a query whose whole row is masked then gets NaN (softmax over only −inf), which
  the self-attention spreads to every joint and the GRA to every token of that person. A flat
  first-pass heatmap (max == min) masks everything, so such a window yields NaN heatmaps.
- The 1e-6 in the normalisation is not negligible for small maps: a randomly initialised decoder
  (N(0, 0.001) weights) gives maps of ~1e-6, whose normalised values then stay far below 1, so most
  rows are fully masked and the output is NaN. The reference always starts from a trained ViTPose
  (``CHECKPOINT_FILE``); posecli's TAR recipes do too (``train.init_checkpoint``), and
  ``tar_mask_threshold: 0`` (nothing is below 0) turns the mask off for from-scratch toy runs.
- Four heads (the reference's default ``num_heads=4``) in every attention, whatever the ViT size.
- Dropout is 0 everywhere in this module (``nn.MultiheadAttention``'s default): it computes the same
  in train and eval mode (the ViT's drop path and the decoder's BN do not).

State-dict keys (top level, as in the reference): ``query_feat.weight`` / ``query_pe.weight``
``(K, C)``; ``masked_attention_layers.{i}.mha.{in_proj_weight,in_proj_bias,out_proj.weight,
out_proj.bias}``, ``masked_attention_layers.{i}.norm.*``; ``self_attention_layers.{i}.*`` (same);
``ffn_layers.{i}.fc1.*`` ``(2C, C)``, ``ffn_layers.{i}.fc2.*``, ``ffn_layers.{i}.norm.*``;
``cross_attention.mha.*``, ``cross_attention.norm.*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PostNormAttention(nn.Module):
    """``LayerNorm(query + MHA(query, context, context))``; keys ``mha.*`` and ``norm.*``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, query: Tensor, context: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """query ``(B, Q, C)``, context ``(B, S, C)``, mask ``(B·heads, Q, S)`` bool (True = blocked)."""
        # need_weights=True keeps the reference's code path (a fully masked row gives NaN, see above)
        out, _ = self.mha(query, context, context, attn_mask=attn_mask, need_weights=True)
        return self.norm(query + out)


class WindowCrossAttention(PostNormAttention):
    """The JTA's masked cross-attention of K joint queries over the T·h·w window tokens, reassociated.

    Same parameters and result as ``PostNormAttention`` (``nn.MultiheadAttention``: q, k, v blocks of
    ``in_proj_weight``, scaled dot product, ``out_proj``), but the window tokens are never projected:
    per head, score(q, x) = (W_k,hᵀ q̂_h)·x + q̂_h·b_k,h and the output is W_v,h (Σ a·x) + b_v,h (the
    weights a sum to 1). For K = 17 queries over 2160 tokens that is 2·K·heads instead of 2·C
    multiply-adds per token and channel (5.6× fewer at C = 384, 11× at C = 768) in each of the L
    layers, the same sums in another order (≈1e-6 relative). A fully masked row is NaN, as
    ``nn.MultiheadAttention`` gives it (softmax over −inf only).
    """

    def forward(self, query: Tensor, context: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """query ``(B, Q, C)``, context ``(B, S, C)``, mask ``(B·heads, Q, S)`` bool (True = blocked)."""
        b, q_len, c = query.shape
        heads = self.mha.num_heads
        d = c // heads
        w_q, w_k, w_v = self.mha.in_proj_weight.split(c)
        b_q, b_k, b_v = self.mha.in_proj_bias.split(c)
        q = F.linear(query, w_q, b_q).view(b, q_len, heads, d) * d**-0.5  # (B, Q, heads, d), scaled as MHA
        q_keys = torch.einsum("bqhd,hdc->bhqc", q, w_k.view(heads, d, c)).flatten(1, 2)  # (B, heads·Q, C)
        scores = torch.bmm(q_keys, context.transpose(1, 2))  # (B, heads·Q, S), one product per batch
        scores = scores + torch.einsum("bqhd,hd->bhq", q, b_k.view(heads, d)).reshape(b, heads * q_len, 1)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask.reshape(b, heads * q_len, -1), float("-inf"))
        mixed = torch.bmm(scores.softmax(-1), context).view(b, heads, q_len, c)  # Σ a·x per head
        values = torch.einsum("bhqc,hdc->bqhd", mixed, w_v.view(heads, d, c)) + b_v.view(heads, d)
        out = self.mha.out_proj(values.reshape(b, q_len, c))  # (B, Q, C)
        return self.norm(query + out)


class PostNormFFN(nn.Module):
    """``LayerNorm(x + fc2(GELU(fc1(x))))`` with a ``hidden``-wide middle."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x + self.fc2(self.act(self.fc1(x))))


def attention_mask(heatmaps: Tensor, grid: tuple[int, int], threshold: float, heads: int) -> Tensor:
    """First-pass heatmaps ``(B, T, K, H, W)`` → the reference's cross-attention mask ``(B·heads, K, T·h·w)``.

    True where attention is blocked: the min-max normalised map, resized bilinearly to ``grid`` (h, w),
    is below ``threshold``. The last step reinterprets the ``(T, K)`` block as ``(K, T)`` without
    permuting (the reference's mask scramble, see the module docstring).
    """
    b, t, k = heatmaps.shape[:3]
    maps = heatmaps.flatten(0, 1)  # (B·T, K, H, W)
    low = maps.amin(dim=(2, 3), keepdim=True)
    high = maps.amax(dim=(2, 3), keepdim=True)
    maps = (maps - low) / (high - low + 1e-6)
    small = F.interpolate(maps, size=grid, mode="bilinear", align_corners=False)  # (B·T, K, h, w)
    mask = (small < threshold).view(b, t, k, grid[0] * grid[1])  # (B, T, K, h·w)
    mask = mask.unsqueeze(1).expand(b, heads, t, k, grid[0] * grid[1]).flatten(0, 1)  # (B·heads, T, K, h·w)
    return mask.reshape(-1, k, t, grid[0] * grid[1]).flatten(2)  # (B·heads, K, T·h·w): the scramble


def scrambled_mask_source(joint: int, slot: int, num_joints: int = 17, num_frames: int = 5) -> tuple[int, int]:
    """(frame slot, joint) whose heatmap masks query ``joint`` over frame ``slot``'s tokens."""
    frame, source_joint = divmod(joint * num_frames + slot, num_joints)
    return frame, source_joint


class TarTemporal(nn.Module):
    """JTA + GRA over cached per-frame ViT features and first-pass heatmaps.

    dim: ViT embed dim C; layers: JTA depth L (6); heads: attention heads (4); threshold: mask
    threshold on the normalised first-pass heatmap (0.2).
    """

    num_taps = 2  # per frame: the ViT feature map and the first-pass heatmaps

    def __init__(
        self, dim: int, num_keypoints: int = 17, num_frames: int = 5, *, layers: int = 6, heads: int = 4,
        threshold: float = 0.2, use_mask: bool = True,
    ) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.num_frames = num_frames
        self.heads = heads
        self.threshold = threshold
        self.use_mask = use_mask
        self.query_feat = nn.Embedding(num_keypoints, dim)
        self.query_pe = nn.Embedding(num_keypoints, dim)
        self.masked_attention_layers = nn.ModuleList(WindowCrossAttention(dim, heads) for _ in range(layers))
        self.self_attention_layers = nn.ModuleList(PostNormAttention(dim, heads) for _ in range(layers))
        self.ffn_layers = nn.ModuleList(PostNormFFN(dim, 2 * dim) for _ in range(layers))
        self.cross_attention = PostNormAttention(dim, heads)

    def forward(self, features: Tensor, heatmaps: Tensor) -> Tensor:
        """features ``(B, T, C, h, w)``, first-pass heatmaps ``(B, T, K, H, W)`` (key at T // 2) → the
        restored key-frame feature map ``(B, C, h, w)``, which the caller's decoder turns into heatmaps.

        Parameters keep PyTorch's construction-time init, as the reference's do (``nn.Embedding``
        N(0, 1), ``nn.MultiheadAttention``'s Xavier in-projection, Linear/LayerNorm defaults)."""
        b, t, c, h, w = features.shape
        mask = attention_mask(heatmaps, (h, w), self.threshold, self.heads) if self.use_mask else None
        joints = (self.query_feat.weight + self.query_pe.weight).unsqueeze(0).expand(b, -1, -1)  # (B, K, C)
        tokens = features.flatten(3).reshape(b, t, h * w, c)  # the reference's token scramble
        key = tokens[:, t // 2]  # (B, h·w, C)
        window = tokens.flatten(1, 2)  # (B, T·h·w, C)
        for cross, own, ffn in zip(self.masked_attention_layers, self.self_attention_layers, self.ffn_layers,
                                   strict=True):
            joints = cross(joints, window, mask)
            joints = own(joints, joints)
            joints = ffn(joints)
        key = self.cross_attention(key, joints)  # (B, h·w, C)
        restored = key.reshape(b, c, h, w)  # the inverse of the scramble
        return restored


__all__ = [
    "PostNormAttention", "PostNormFFN", "TarTemporal", "WindowCrossAttention", "attention_mask",
    "scrambled_mask_source",
]
