"""The annotation loop: posecli's poses out to CVAT, COCO and Label Studio, corrections back in.

One module per format (``cvat_video``, ``cvat_images``, ``coco_keypoints``, ``label_studio``), each
with a writer and a reader of the common model in ``poses``; ``exchange`` holds the two commands'
library calls and ``training_set`` writes the PoseTrack 2018 folder that ``posecli train`` and
``posecli eval`` read.
"""
