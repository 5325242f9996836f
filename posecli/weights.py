"""Weights are data with a checksum: the manifest, the user cache, downloads and verification.

The manifest (``weights/manifest.yaml``) names every set of weights posecli knows: the embedded
BlazePose files shipped in ``weights/`` and checkpoints that are downloaded on first use into the user
cache (``$POSECLI_CACHE``, else ``$XDG_CACHE_HOME/posecli``, else ``~/.cache/posecli``). A file is used
only after its sha256 matches the manifest; a download goes to a temporary file that is renamed into the
cache only once complete and verified. ``--weights PATH`` on the command line always bypasses this.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError
from posecli.progress import progress_bar

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsFile:
    """One file of a weights entry; ``url`` is set for downloadable files.

    ``sha256`` is the full hex digest, or, where the publisher only publishes a prefix of it in the
    file name (torchvision, mmpose: ``name-<8 hex>.pth``), that prefix with ``prefix_only`` set; the
    file is then checked against the prefix, as ``torch.hub`` does.
    """

    name: str
    sha256: str
    size: int | None = None
    url: str | None = None
    prefix_only: bool = False

    def matches(self, digest: str) -> bool:
        return digest.startswith(self.sha256) if self.prefix_only else digest == self.sha256


@dataclass(frozen=True)
class WeightsEntry:
    """One named set of weights from the manifest."""

    name: str
    kind: str  # "embedded" (shipped in weights/) or "download"
    arch: str
    description: str
    licence: str
    source: str
    files: tuple[WeightsFile, ...]
    config: dict = field(default_factory=dict)  # model overrides the weights need, e.g. input_size


def shipped_weights_dir() -> Path:
    """The folder holding the manifest and the embedded files.

    In a source checkout or editable install it is the repository's ``weights/``; in a wheel install
    it is ``<prefix>/share/posecli/weights``.
    """
    candidates = [
        Path(__file__).resolve().parent.parent / "weights",
        Path(sys.prefix) / "share" / "posecli" / "weights",
    ]
    for candidate in candidates:
        if (candidate / "manifest.yaml").is_file():
            return candidate
    raise PoseCliError("the posecli weights manifest (weights/manifest.yaml) is missing from this installation")


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    if os.environ.get("POSECLI_CACHE"):
        return Path(os.environ["POSECLI_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "posecli"


def load_manifest(path: Path | None = None) -> dict[str, WeightsEntry]:
    """Parse the manifest into entries by name; a malformed manifest names the entry and field."""
    path = path or shipped_weights_dir() / "manifest.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PoseCliError(f"{path}: cannot read the weights manifest ({error})") from error
    if not isinstance(raw, dict):
        raise PoseCliError(f"{path}: the weights manifest must map names to entries")
    entries: dict[str, WeightsEntry] = {}
    for name, item in raw.items():
        try:
            files = tuple(_weights_file(f) for f in item["files"])
            kind = str(item["kind"])
            if kind not in ("embedded", "download"):
                raise ValueError(f"kind '{kind}' is not embedded or download")
            if kind == "download" and any(f.url is None for f in files):
                raise ValueError("a download entry needs a url for every file")
            entries[name] = WeightsEntry(
                name=name,
                kind=kind,
                arch=str(item["arch"]),
                description=str(item.get("description", "")),
                licence=str(item["licence"]),
                source=str(item["source"]),
                files=files,
                config=dict(item.get("config") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PoseCliError(f"{path}: {name}: {error}") from error
    return entries


def _weights_file(raw: dict) -> WeightsFile:
    """One ``files`` item: ``sha256`` (64 hex) or ``sha256_prefix`` (at least 8 hex) is required."""
    if "sha256" in raw:
        digest, prefix_only = str(raw["sha256"]).lower(), False
        if len(digest) != 64:
            raise ValueError(f"{raw.get('name')}: sha256 must have 64 hex digits")
    elif "sha256_prefix" in raw:
        digest, prefix_only = str(raw["sha256_prefix"]).lower(), True
        if len(digest) < 8:
            raise ValueError(f"{raw.get('name')}: sha256_prefix needs at least 8 hex digits")
    else:
        raise ValueError(f"{raw.get('name')}: no sha256")
    if any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{raw.get('name')}: the checksum is not hexadecimal")
    return WeightsFile(str(raw["name"]), digest, raw.get("size"), raw.get("url"), prefix_only)


def load_torch_file(path: Path, what: str = "the checkpoint", allowed: Sequence[Any] = ()) -> Any:
    """The contents of a torch ``.pt``/``.pth``/``.pkl`` file, read with ``weights_only=True``.

    Only tensors and plain Python values (dicts, lists, numbers, strings) are rebuilt, plus the
    classes in ``allowed``; a pickle that names anything else (a function such as ``os.system``,
    any class) could run code, so it is refused with one line naming the file and what it names,
    before any of it runs. ``what`` names the file's role in messages (e.g. "detector weights").
    """
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(list(allowed)), warnings.catch_warnings():
            # a raw pickle (not torch's zip format) makes torch warn about its protocol: the error says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message (several paragraphs) names the refused callable as "GLOBAL module.name"
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        if named is None:
            detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(error))
            reason = detail.group(1) if detail else _first_line(error)
            raise PoseCliError(
                f"{path}: cannot read {what}: not a torch file of tensors and plain values ({reason})"
            ) from None
        raise PoseCliError(
            f"{path}: refused: the file holds Python objects other than tensors and plain values "
            f"(it names {named.group(1)}), which could run code when loaded; nothing in it was run"
        ) from None
    except Exception as error:  # noqa: BLE001 - corrupt or foreign files raise many types
        kind = type(error).__name__
        raise PoseCliError(f"{path}: cannot read {what} ({kind}: {_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def get_entry(name: str) -> WeightsEntry:
    """The manifest entry called ``name``; an unknown name lists the known ones."""
    manifest = load_manifest()
    if name not in manifest:
        raise PoseCliError(f"unknown weights '{name}' (known: {', '.join(sorted(manifest))})")
    return manifest[name]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_path(entry: WeightsEntry, file: WeightsFile) -> Path:
    """Where ``file`` of ``entry`` lives (embedded) or will live once downloaded (cache)."""
    if entry.kind == "embedded":
        return shipped_weights_dir() / file.name
    return cache_dir() / entry.name / file.name


def verify_file(path: Path, file: WeightsFile) -> None:
    """Raise ``PoseCliError`` unless ``path`` exists and matches ``file.sha256``."""
    if not path.is_file():
        raise PoseCliError(f"{path}: weights file missing")
    actual = sha256_of(path)
    if not file.matches(actual):
        raise PoseCliError(f"{path}: sha256 mismatch (expected {file.sha256[:12]}…, got {actual[:12]}…); file not used")


def download(url: str, dest: Path, file: WeightsFile, quiet: bool = False, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; keep it only if its sha256 matches ``file``.

    The bytes go to a temporary file beside ``dest`` that is renamed only after verification, so an
    interrupted or corrupted download never leaves a file under the final name.
    """
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - URLs come from the manifest
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise PoseCliError(
            f"cannot download {dest.name} from {url} ({reason}); on a machine without network pass the file "
            "with --weights PATH"
        ) from error
    total = response.headers.get("Content-Length")
    digest = hashlib.sha256()
    with response, atomic_path(dest) as tmp:
        with open(tmp, "wb") as out, progress_bar(f"download {dest.name}", int(total) if total else None, "B", quiet) as advance:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                advance(len(chunk))
        if not file.matches(digest.hexdigest()):
            raise PoseCliError(
                f"{url}: sha256 mismatch (expected {file.sha256[:12]}…, got {digest.hexdigest()[:12]}…); "
                "download discarded"
            )
    return dest


def fetch(name: str, quiet: bool = False) -> list[Path]:
    """Verified local paths of every file of the weights ``name``, downloading missing ones first.

    A cached file whose checksum no longer matches is downloaded again.
    """
    entry = get_entry(name)
    paths = []
    for file in entry.files:
        path = local_path(entry, file)
        if entry.kind == "download" and (not path.is_file() or not file.matches(sha256_of(path))):
            assert file.url is not None
            download(file.url, path, file, quiet=quiet)
        verify_file(path, file)
        paths.append(path)
    return paths


def status(entry: WeightsEntry) -> str:
    """``ok``, ``not downloaded``, ``missing`` or ``corrupt`` for the listing."""
    states = []
    for file in entry.files:
        path = local_path(entry, file)
        if not path.is_file():
            states.append("not downloaded" if entry.kind == "download" else "missing")
        elif not file.matches(sha256_of(path)):
            states.append("corrupt")
        else:
            states.append("ok")
    for state in ("corrupt", "missing", "not downloaded"):
        if state in states:
            return state
    return "ok"
