"""Temporal modules that turn per-frame HRNet features into a key-frame heatmap: FAMI-Pose and TDMI."""

from posecli.models.temporal.fami import FamiTemporal
from posecli.models.temporal.tdmi import TdmiTemporal

__all__ = ["FamiTemporal", "TdmiTemporal"]
