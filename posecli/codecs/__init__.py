"""Target encoding and prediction decoding for the pose heads (heatmap and SimCC)."""

from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec

__all__ = ["HeatmapCodec", "SimCCCodec"]
