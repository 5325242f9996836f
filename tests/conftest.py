"""Shared pytest fixtures and the GPU skip rule."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when CUDA is not available."""
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture()
def seeded_torch() -> None:
    """torch's global generator seeded at 0 and one intra-op thread (the shared seed fixture).

    One thread: tiny tensors gain nothing from two, and on a loaded 2-core machine the thread pool's
    spin-waiting makes small convolutions ~15x slower. Folders whose every test wants this use it from
    an autouse fixture in their own conftest.
    """
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic PoseTrack18 dataset for training tests, one per test module: 2 train videos ×
    6 frames × 2 people (12 labelled clips: 3 batches of 4), 1 val video, 160×128 frames."""
    from posecli.data.synthetic import write_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root, videos=2, frames=6, people=2, seed=0, size=(160, 128), val_videos=1)
    return root


@pytest.fixture()
def h264_clip(tmp_path: Path) -> Path:
    """``<tmp>/in/clip.mp4``: six 96×64 frames of a moving gradient, H.264 in MP4."""
    import av
    import numpy as np

    path = tmp_path / "in" / "clip.mp4"
    path.parent.mkdir(exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        x = np.arange(96, dtype=np.uint8)[None, :, None]
        for t in range(6):
            image = np.broadcast_to((x * 2 + t * 9).astype(np.uint8), (64, 96, 3)).copy()
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture()
def served_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
