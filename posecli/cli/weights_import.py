"""``posecli weights import``: convert a foreign checkpoint into a posecli checkpoint (issue #3).

``--set key=value`` (repeatable) overrides a ``ModelConfig`` field of the ``--arch`` model, so a
checkpoint can be imported into e.g. a SimCC or 256×192 model: ``--set head=simcc``,
``--set input_size=256,192`` (also ``256x192`` or ``[256, 192]``), ``--set simcc_split_ratio=2``,
``--set freeze_backbone=false``, ``--set heatmap_size=none``. ``name`` and ``arch`` come from ``--arch``.
``--strict`` fails (exit 1, nothing written) when any key is missing, unexpected or mis-shaped; without
it, a file that leaves backbone keys missing or any key mis-shaped (another architecture or width) is
refused too unless ``--allow-partial``. ``--arch`` also takes any-width names such as ``fami_hrnet_w8``.
ViTPose and TAR-ViTPose checkpoints (official ViTPose, mmpose 1.x, Hugging Face safetensors, official
TAR-ViTPose) import into ``vitpose_*`` / ``tar_vitpose_*`` (key mapping: ``posecli.vit_weights``).
The work is ``posecli.checkpoints.import_model`` (in memory) and ``save_imported`` (the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from posecli.cli.options import ExistOkOption, console, note, refuse_overwrite
from posecli.errors import PoseCliError

_SHOWN = 8  # key names listed per category before "… and N more"


def parse_model_overrides(items: list[str]) -> dict[str, Any]:
    """``["head=simcc", "input_size=256,192"]`` → ``{"head": "simcc", "input_size": (256, 192)}``.

    Read with the config's ``--set`` parser (values as YAML; a pair also as ``256,192`` or
    ``256x192``, ``none`` for optional fields) and converted to the ``ModelConfig`` field types;
    unknown keys, ``name``/``arch`` and bad values raise ``PoseCliError``.
    """
    from dataclasses import fields

    from posecli.config import model_values, parse_set
    from posecli.models.config import ModelConfig

    known = [f.name for f in fields(ModelConfig)]
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for item in items:
        key, value = parse_set(item, "--set", "key=value, e.g. head=simcc or input_size=256,192")
        key = key.removeprefix("model.")
        if key in ("name", "arch"):
            raise PoseCliError(f"--set {key}: set by --arch, not overridable")
        if key not in known:
            shown = ", ".join(k for k in known if k not in ("name", "arch"))
            raise PoseCliError(f"--set {key}: unknown model setting; known: {shown}")
        values[key] = value
        origins[f"model.{key}"] = f"--set {item.strip()}"
    return model_values(values, origins)


def import_weights(
    file: Annotated[Path, typer.Argument(help="Checkpoint to import (.pth/.pt or .safetensors).")],
    arch: Annotated[str, typer.Option("--arch", help="Model name, e.g. hrnet_w48, fami_hrnet_w48, vitpose_b or tar_vitpose_b.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output .safetensors (default: <FILE stem>.<arch>.safetensors)."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a model setting (repeatable), e.g. --set head=simcc --set input_size=256,192.",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail on any missing, unexpected or mis-shaped key (writes nothing)."),
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Import even when backbone keys are missing or keys are mis-shaped (they keep their init).",
        ),
    ] = False,
    exist_ok: ExistOkOption = False,
) -> None:
    """Import an official HRNet, mmpose HRNet, DCPose, reference FAMI-Pose/TDMI, ViTPose (official, mmpose,
    Hugging Face), TAR-ViTPose or posecli checkpoint."""
    from posecli.checkpoints import import_model, resolve_model_config, save_imported

    settings = parse_model_overrides(overrides or [])
    try:
        resolve_model_config(arch)
    except (ValueError, TypeError) as error:
        raise PoseCliError(f"--arch {arch}: {error}") from None
    if settings:
        try:
            resolve_model_config(arch, **settings)
        except (ValueError, TypeError) as error:
            raise PoseCliError(f"--set: {error}") from None
    if not file.is_file():
        raise PoseCliError(f"{file}: checkpoint file not found")
    target = out if out is not None else file.with_name(f"{file.stem}.{arch}.safetensors")
    if target.suffix != ".safetensors":
        raise PoseCliError(f"--out {target}: posecli checkpoints are .safetensors files")
    refuse_overwrite([target], exist_ok)
    model, report = import_model(file, arch, strict=strict, allow_partial=allow_partial, **settings)
    save_imported(target, model, report, file)
    console.print(
        f"{file.name} → {target}: {report.summary()}", highlight=False, soft_wrap=True, markup=False
    )
    categories = (
        ("missing (left at init)", report.missing),
        ("unexpected (ignored)", report.unexpected),
        ("shape-mismatched (ignored)", report.mismatched),
    )
    for title, keys in categories:
        if keys:
            more = f" … and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            note(f"{title}: {', '.join(keys[:_SHOWN])}{more}")
