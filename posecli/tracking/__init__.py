"""Multi-person trackers behind one protocol (``base.Tracker``)."""
