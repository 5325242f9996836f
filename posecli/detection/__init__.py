"""Person detectors behind one protocol (``base.Detector``)."""
