"""Output formats of posecli, one module per format, each with a writer and a validating reader.

``posetrack`` (PoseTrack 2018 JSON), ``coco`` (COCO keypoint results), ``jsonl`` (one line per frame,
streamed), ``boxes`` (``detect``/``track`` outputs) and ``overlay`` (drawn frames and overlay video).
Every file is written atomically (``posecli.atomic``); readers raise ``PoseCliError`` naming the file
and the field.
"""
