"""The weights manifest, verification and the downloader (against a file served from localhost)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from posecli import weights
from posecli.errors import PoseCliError

_original_load = weights.load_manifest


def test_embedded_blazepose_files_verify() -> None:
    entry = weights.get_entry("blazepose_full")
    paths = weights.fetch("blazepose_full", quiet=True)
    assert [p.name for p in paths] == ["pose_detection.tflite", "pose_landmark_full.tflite"]
    assert weights.status(entry) == "ok"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(PoseCliError, match="blazepose_full"):
        weights.get_entry("no_such_model")


def _write_manifest(path: Path, url: str, sha256: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "tiny": {
                    "kind": "download",
                    "arch": "hrnet_w32",
                    "licence": "MIT",
                    "source": "test",
                    "files": [{"name": "tiny.bin", "sha256": sha256, "url": url}],
                }
            }
        )
    )


def test_download_verifies_caches_and_reuses(
    served_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = served_dir
    payload = bytes(range(256)) * 4096  # 1 MiB, several chunks
    (root / "tiny.bin").write_bytes(payload)
    manifest = tmp_path / "manifest.yaml"
    _write_manifest(manifest, f"{base}/tiny.bin", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: _original_load(manifest))
    monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / "cache"))

    [path] = weights.fetch("tiny", quiet=True)
    assert path == tmp_path / "cache" / "tiny" / "tiny.bin"
    assert path.read_bytes() == payload
    # A second fetch must not download again: remove the served file and fetch once more.
    (root / "tiny.bin").unlink()
    assert weights.fetch("tiny", quiet=True) == [path]
    # No temporary files are left beside the cached file.
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.bin"]


def test_download_with_wrong_checksum_keeps_nothing(
    served_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = served_dir
    (root / "tiny.bin").write_bytes(b"tampered bytes")
    manifest = tmp_path / "manifest.yaml"
    _write_manifest(manifest, f"{base}/tiny.bin", hashlib.sha256(b"the real bytes").hexdigest())
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: _original_load(manifest))
    monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / "cache"))

    with pytest.raises(PoseCliError, match="sha256 mismatch"):
        weights.fetch("tiny", quiet=True)
    cached = tmp_path / "cache" / "tiny"
    assert not cached.exists() or list(cached.iterdir()) == []


def test_unreachable_server_suggests_weights_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "manifest.yaml"
    _write_manifest(manifest, "http://127.0.0.1:9/none.bin", "0" * 64)
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: _original_load(manifest))
    monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / "cache"))
    with pytest.raises(PoseCliError, match="--weights PATH"):
        weights.fetch("tiny", quiet=True)


def test_corrupt_embedded_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "pose_detection.tflite"
    bad.write_bytes(b"not the model")
    entry = weights.get_entry("blazepose_full")
    with pytest.raises(PoseCliError, match="sha256 mismatch"):
        weights.verify_file(bad, entry.files[0])


def test_published_sha256_prefix_is_checked(
    served_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = served_dir
    payload = b"weights whose publisher gives only a hash prefix"
    (root / "w.bin").write_bytes(payload)
    manifest = tmp_path / "manifest.yaml"
    digest = hashlib.sha256(payload).hexdigest()
    for prefix, ok in ((digest[:8], True), ("0" * 8 if digest[:8] != "0" * 8 else "1" * 8, False)):
        manifest.write_text(yaml.safe_dump({"w": {
            "kind": "download", "arch": "x", "licence": "MIT", "source": "test",
            "files": [{"name": "w.bin", "sha256_prefix": prefix, "url": f"{base}/w.bin"}],
        }}))
        monkeypatch.setattr(weights, "load_manifest", lambda path=None: _original_load(manifest))
        monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / f"cache-{ok}"))
        if ok:
            [path] = weights.fetch("w", quiet=True)
            assert path.read_bytes() == payload
        else:
            with pytest.raises(PoseCliError, match="sha256 mismatch"):
                weights.fetch("w", quiet=True)


def test_shipped_download_entries_are_well_formed() -> None:
    manifest = weights.load_manifest()
    downloads = [e for e in manifest.values() if e.kind == "download"]
    assert {e.name for e in downloads} >= {"fasterrcnn_resnet50_fpn_coco", "hrnet_w48_coco_384x288_mmpose"}
    for entry in downloads:
        for file in entry.files:
            assert file.url and file.url.startswith("https://")
            assert file.prefix_only and file.sha256 in file.name  # the published prefix is in the name


def test_malformed_manifest_names_entry(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("broken:\n  kind: download\n  arch: x\n  licence: MIT\n  source: s\n  files: [{name: a, sha256: " + "a" * 64 + "}]\n")
    with pytest.raises(PoseCliError, match="broken: a download entry needs a url"):
        weights.load_manifest(manifest)


def test_weights_commands_list_pull_and_verify(
    served_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI a user runs: list shows the status, pull downloads (once), verify catches a corrupted cache."""
    from typer.testing import CliRunner

    from posecli.cli import app
    from posecli.cli import weights as weights_cli

    runner = CliRunner()
    root, base = served_dir
    payload = b"some weights" * 1000
    (root / "tiny.bin").write_bytes(payload)
    manifest = tmp_path / "manifest.yaml"
    _write_manifest(manifest, f"{base}/tiny.bin", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: _original_load(manifest))
    monkeypatch.setattr(weights_cli, "load_manifest", weights.load_manifest)
    monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / "cache"))

    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 0 and "tiny" in listed.output and "not downloaded" in listed.output
    pulled = runner.invoke(app, ["weights", "pull", "tiny", "-q"])
    assert pulled.exit_code == 0, pulled.output
    cached = tmp_path / "cache" / "tiny" / "tiny.bin"
    assert cached.read_bytes() == payload
    assert "cached" in runner.invoke(app, ["weights", "list"]).output
    verified = runner.invoke(app, ["weights", "verify", "tiny"])
    assert verified.exit_code == 0 and "ok" in verified.output
    cached.write_bytes(b"bit rot")
    broken = runner.invoke(app, ["weights", "verify", "tiny"])
    assert broken.exit_code == 1 and "sha256 mismatch" in broken.output
    assert "corrupt" in runner.invoke(app, ["weights", "list"]).output
    # pull repairs a corrupt cache entry from the server
    assert runner.invoke(app, ["weights", "pull", "tiny", "-q"]).exit_code == 0
    assert cached.read_bytes() == payload
    unknown = runner.invoke(app, ["weights", "pull", "nope"])
    assert unknown.exit_code == 1 and "nope" in unknown.output and "Traceback" not in unknown.output


class _Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_load_torch_file_reads_plain_values_and_refuses_callables_unrun(tmp_path: Path) -> None:
    import torch

    from posecli.weights import load_torch_file

    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(2), "epoch": 3, "names": ["a"], "nested": {"x": (1, 2.5, None)}}, plain)
    loaded = load_torch_file(plain)
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], torch.ones(2)) and loaded["nested"]["x"] == (1, 2.5, None)
    marker = tmp_path / "ran"
    trapped = tmp_path / "trapped.pt"
    torch.save({"w": _Trap(marker)}, trapped)
    with pytest.raises(PoseCliError) as error:
        load_torch_file(trapped, "detector weights")
    assert str(error.value).startswith(f"{trapped}: refused: ") and "io.open" in str(error.value)
    assert not marker.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x02garbage")
    with pytest.raises(PoseCliError, match=f"^{garbage}: cannot read detector weights"):
        load_torch_file(garbage, "detector weights")
