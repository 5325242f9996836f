"""``posecli weights import``: convert a foreign checkpoint into a posecli checkpoint (issue #3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import ExistOkOption, console, note, refuse_overwrite
from posecli.errors import PoseCliError

_SHOWN = 8  # key names listed per category before "… and N more"


def import_weights(
    file: Annotated[Path, typer.Argument(help="Checkpoint to import (.pth/.pt or .safetensors).")],
    arch: Annotated[str, typer.Option("--arch", help="Model name, e.g. hrnet_w48 or fami_hrnet_w48.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output .safetensors (default: <FILE stem>.<arch>.safetensors).")
    ] = None,
    exist_ok: ExistOkOption = False,
) -> None:
    """Import an official HRNet, mmpose HRNet, DCPose or reference FAMI-Pose/TDMI checkpoint."""
    from posecli.checkpoints import import_checkpoint

    if not file.is_file():
        raise PoseCliError(f"{file}: checkpoint file not found")
    target = out if out is not None else file.with_name(f"{file.stem}.{arch}.safetensors")
    if target.suffix != ".safetensors":
        raise PoseCliError(f"--out {target}: posecli checkpoints are .safetensors files")
    refuse_overwrite([target], exist_ok)
    report = import_checkpoint(src=file, arch=arch, out=target)
    console.print(f"{file.name} → {target}: {report.summary()}")
    for title, keys in (("missing (left at init)", report.missing), ("unexpected (ignored)", report.unexpected),
                        ("shape-mismatched (ignored)", report.mismatched)):
        if keys:
            shown = ", ".join(keys[:_SHOWN]) + (f" … and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")
            note(f"{title}: {shown}")
