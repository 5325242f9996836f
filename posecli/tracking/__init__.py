"""Multi-person trackers behind one protocol (``base.Tracker``), plus offline re-tracking and stitching.

- ``IoUTracker`` (``iou.py``): Hungarian IoU association to the last boxes; simple and fast.
- ``ByteTracker`` (``bytetrack.py``): two-stage score association, Kalman boxes, IoU + OKS cost,
  lost-track buffer with pose re-identification, ``predict()`` for box propagation.
- ``retrack`` (``offline.py``) and ``stitch_tracklets`` (``stitch.py``): whole-video passes.
"""

from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.iou import IoUTracker
from posecli.tracking.offline import retrack
from posecli.tracking.stitch import stitch_tracklets

__all__ = ["ByteTracker", "IoUTracker", "retrack", "stitch_tracklets"]
