"""``posecli detect``: person boxes per frame → ``<stem>.boxes.json``."""

from __future__ import annotations

from posecli.cli.options import (
    DetectorChoice,
    DetectorOption,
    DetectorWeightsOption,
    DeviceOption,
    ExistOkOption,
    OutDirOption,
    QuietOption,
    VideosArgument,
    WeightsOption,
    check_device_spec,
    print_summary,
    resolve_out_dir,
)


def detect(
    videos: VideosArgument,
    detector: DetectorOption = DetectorChoice.embedded,
    detector_weights: DetectorWeightsOption = None,
    weights: WeightsOption = None,
    out_dir: OutDirOption = None,
    device: DeviceOption = "auto",
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Detect people in videos and write <stem>.boxes.json (boxes and scores per frame).

    The default embedded detector (BlazePose, runs on the CPU) boxes each person's landmarks; rcnn runs
    torchvision's Faster R-CNN on --device. The boxes file feeds `posecli track` and
    `posecli estimate --boxes`.
    """
    from posecli import jobs  # here, not at the top: `posecli --help` must not load the pipeline
    from posecli.inputs import video_source

    summaries = jobs.detect_videos(
        [video_source(v) for v in videos],  # URLs stay text (posecli.inputs)
        resolve_out_dir(out_dir, "detect", create=False),
        weights=weights,
        detector=detector.value,
        detector_weights=detector_weights,
        device=check_device_spec(device),
        exist_ok=exist_ok,
        quiet=quiet,
    )
    for s in summaries:
        print_summary(f"{s.source}: {s.frames} frames, {s.boxes} boxes", [s.output])
