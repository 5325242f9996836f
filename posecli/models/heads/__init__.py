"""Heads: the 17-channel heatmap conv and the SimCC x/y classifiers."""

from posecli.models.heads.heatmap import heatmap_conv
from posecli.models.heads.simcc import SimCCHead

__all__ = ["SimCCHead", "heatmap_conv"]
