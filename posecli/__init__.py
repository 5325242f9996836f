"""posecli: video human pose estimation, tracking, training and PoseTrack evaluation."""

from posecli.errors import PoseCliError

__version__ = "0.1.0"

__all__ = ["PoseCliError", "__version__"]
