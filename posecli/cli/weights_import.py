"""``posecli weights import``: convert a foreign checkpoint into a posecli checkpoint (issue #3).

``--set key=value`` (repeatable) overrides a ``ModelConfig`` field of the ``--arch`` model, so a
checkpoint can be imported into e.g. a SimCC or 256×192 model: ``--set head=simcc``,
``--set input_size=256,192`` (also ``256x192`` or ``[256, 192]``), ``--set simcc_split_ratio=2``,
``--set freeze_backbone=false``, ``--set heatmap_size=none``. ``name`` and ``arch`` come from ``--arch``.
``--strict`` fails (exit 1, nothing written) when any key is missing, unexpected or mis-shaped; without
it, a file that leaves backbone keys missing or any key mis-shaped (another architecture or width) is
refused too unless ``--allow-partial``. ``--arch`` also takes any-width names such as ``fami_hrnet_w8``.
The work is ``posecli.checkpoints.import_model`` (in memory) and ``save_imported`` (the file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from posecli.cli.options import ExistOkOption, console, note, refuse_overwrite
from posecli.errors import PoseCliError

_SHOWN = 8  # key names listed per category before "… and N more"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_model_overrides(items: list[str]) -> dict[str, Any]:
    """``["head=simcc", "input_size=256,192"]`` → ``{"head": "simcc", "input_size": (256, 192)}``.

    Values are converted to the type of the ``ModelConfig`` field (str, int, float, bool, an (H, W) pair,
    or ``none`` for optional fields); unknown keys, ``name``/``arch`` and bad values raise ``PoseCliError``.
    """
    from dataclasses import fields

    from posecli.models.config import ModelConfig

    types = {f.name: str(f.type) for f in fields(ModelConfig)}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise PoseCliError(f"--set {item!r}: expected key=value, e.g. head=simcc or input_size=256,192")
        key, raw = (part.strip() for part in item.split("=", 1))
        key = key.removeprefix("model.")
        if key in ("name", "arch"):
            raise PoseCliError(f"--set {key}: set by --arch, not overridable")
        if key not in types:
            known = ", ".join(k for k in types if k not in ("name", "arch"))
            raise PoseCliError(f"--set {key}: unknown model setting; known: {known}")
        try:
            out[key] = _convert(raw, types[key])
        except ValueError as error:
            raise PoseCliError(f"--set {key}={raw}: {error}") from None
    return out


def _convert(raw: str, annotation: str) -> Any:
    """One override value, converted for a field annotated ``annotation`` (e.g. ``'int | None'``)."""
    base = annotation.replace(" | None", "").strip()
    if "None" in annotation and raw.lower() in ("none", "null", ""):
        return None
    if base.startswith("tuple"):
        parts = [p for p in re.split(r"[\s,x×\[\]()]+", raw) if p]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("expected two integers H,W, e.g. 256,192")
        return (int(parts[0]), int(parts[1]))
    if base == "bool":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError("expected true or false")
    if base == "int":
        if re.fullmatch(r"[+-]?\d+", raw):
            return int(raw)
        raise ValueError("expected an integer")
    if base == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    return raw


def import_weights(
    file: Annotated[Path, typer.Argument(help="Checkpoint to import (.pth/.pt or .safetensors).")],
    arch: Annotated[str, typer.Option("--arch", help="Model name, e.g. hrnet_w48 or fami_hrnet_w48.")],
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
    """Import an official HRNet, mmpose HRNet, DCPose, reference FAMI-Pose/TDMI or posecli checkpoint."""
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
    console.print(f"{file.name} → {target}: {report.summary()}", highlight=False, soft_wrap=True, markup=False)
    categories = (
        ("missing (left at init)", report.missing),
        ("unexpected (ignored)", report.unexpected),
        ("shape-mismatched (ignored)", report.mismatched),
    )
    for title, keys in categories:
        if keys:
            more = f" … and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            note(f"{title}: {', '.join(keys[:_SHOWN])}{more}")
