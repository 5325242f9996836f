"""Backbones: HRNet."""

from posecli.models.backbones.hrnet import HRNet

__all__ = ["HRNet"]
