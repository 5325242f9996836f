"""``posecli estimate``: detect → track → pose on videos, writing PoseTrack JSON and an overlay video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import (
    DEFAULT_KPT_THR,
    DetectorChoice,
    DetectorOption,
    DetectorWeightsOption,
    DeviceOption,
    ExistOkOption,
    KptThrOption,
    ModeChoice,
    OutDirOption,
    QuietOption,
    RadiusOption,
    ThicknessOption,
    TrackerChoice,
    TrackerOption,
    VideosArgument,
    WeightsOption,
    check_device_spec,
    print_summary,
    resolve_out_dir,
)


def estimate(
    videos: VideosArgument,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m",
            help="blazepose_full (embedded, offline, CPU) or a network: hrnet_w32/w48, fami_hrnet_w32/w48, "
            "tdmi_hrnet_w32/w48, vitpose_s/b/l/h, tar_vitpose_s/b/h (needs --weights; --weights alone runs "
            "the network it holds).",
        ),
    ] = "blazepose_full",
    weights: WeightsOption = None,
    mode: Annotated[
        ModeChoice,
        typer.Option(
            "--mode", help="Networks: reuse (backbone features shared across key frames) or exact (reference protocol)."
        ),
    ] = ModeChoice.reuse,
    detector: DetectorOption = DetectorChoice.embedded,
    detector_weights: DetectorWeightsOption = None,
    boxes: Annotated[
        Path | None,
        typer.Option("--boxes", help="Networks: person boxes from a file (PoseTrack box list or <stem>.boxes.json)."),
    ] = None,
    det_every: Annotated[
        int, typer.Option("--det-every", min=1, help="Networks: detect every K frames, tracker-predicted boxes between.")
    ] = 1,
    half: Annotated[bool, typer.Option("--half", help="Networks: fp16 autocast on CUDA, bf16 on the CPU (faster, slightly less exact).")] = False,
    pose_batch_size: Annotated[
        int, typer.Option("--pose-batch-size", min=1, help="Networks: person crops per forward pass.")
    ] = 32,
    flip_test: Annotated[
        bool, typer.Option("--flip-test", help="Networks: also run mirrored crops and average (reference flip test).")
    ] = False,
    out_dir: OutDirOption = None,
    overlay: Annotated[bool, typer.Option("--overlay/--no-overlay", help="Write <stem>.overlay.mp4.")] = True,
    coco: Annotated[bool, typer.Option("--coco", help="Also write <stem>.coco.json (COCO keypoint results).")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Also write <stem>.jsonl, one line per frame, streamed.")] = False,
    tracker: TrackerOption = TrackerChoice.bytetrack,
    stitch: Annotated[
        bool,
        typer.Option(
            "--stitch/--no-stitch",
            help="After the whole video, merge tracks broken by gaps and number ids 0, 1, … (overlay and JSON "
            "lines are then written in a second pass; --no-stitch streams them).",
        ),
    ] = True,
    smooth: Annotated[bool, typer.Option("--smooth", help="One-Euro smoothing of keypoints per track.")] = False,
    kpt_thr: KptThrOption = DEFAULT_KPT_THR,
    radius: RadiusOption = None,
    thickness: ThicknessOption = None,
    bbox_thr: Annotated[
        float | None,
        typer.Option(
            "--bbox-thr", min=0.0, max=1.0,
            help="Drop people scoring below this per frame (embedded: pose presence, default 0.5; networks: "
            "detector score, default 0 = keep every box).",
        ),
    ] = None,
    max_people: Annotated[
        int, typer.Option("--max-people", min=0, help="At most this many people per frame, best first (0: no cap).")
    ] = 20,
    min_track_len: Annotated[
        int | None,
        typer.Option(
            "--min-track-len", min=1,
            help="Drop tracks seen in fewer frames than this after stitching (default 5; 1 keeps all; "
            "off with --no-stitch).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue interrupted videos from their last checkpoint; skip finished ones."),
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=1, help="Frames between resumable progress checkpoints.")
    ] = 50,
    device: DeviceOption = "auto",
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Estimate and track human poses in videos.

    VIDEOS: video files, frame folders, folders of videos, quoted glob patterns ('clips/*.mp4') or
    http(s):// and rtsp:// URLs. Writes, per video, <stem>.posetrack.json (PoseTrack 2018 format, every frame, track ids) and by
    default <stem>.overlay.mp4 (skeletons and ids drawn on the video) into --out-dir (default
    runs/estimate). An interrupted run continues with --resume.
    """
    from posecli import jobs  # here, not at the top: `posecli --help` must not load the pipeline
    from posecli.inputs import video_source

    summaries = jobs.estimate_videos(
        [video_source(v) for v in videos],  # URLs stay text (posecli.inputs)
        resolve_out_dir(out_dir, "estimate", create=False),
        jobs.EstimateOptions(
            model=model,
            weights=weights,
            device=check_device_spec(device),  # resolved once the inputs are checked, and only for a network
            mode=mode.value,
            detector=detector.value,
            detector_weights=detector_weights,
            boxes=boxes,
            det_every=det_every,
            half=half,
            pose_batch_size=pose_batch_size,
            flip_test=flip_test,
            tracker=tracker.value,
            stitch=stitch,
            smooth=smooth,
            bbox_thr=bbox_thr,
            max_people=max_people,
            min_track_len=min_track_len,
            overlay=overlay,
            coco=coco,
            jsonl=jsonl,
            checkpoint_every=checkpoint_every,
            kpt_thr=kpt_thr,
            radius=radius,
            thickness=thickness,
        ),
        exist_ok=exist_ok,
        resume=resume,
        quiet=quiet,
    )
    for s in summaries:
        if s.skipped:
            print_summary(f"{s.video}: already done, skipped (--resume keeps finished outputs)", s.outputs)
            continue
        notes = (" (truncated)" if s.truncated else "") + (f" (resumed at {s.resumed_from})" if s.resumed_from else "")
        print_summary(
            f"{s.video}{notes}: {s.frames} frames, {s.people_per_frame:.2f} people/frame, {s.tracks} tracks, "
            f"{s.fps:.1f} frames/s",
            s.outputs,
        )

