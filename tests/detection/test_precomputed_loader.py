"""Box files are read through posecli's one JSON loader: the same one-line errors as every reader."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from posecli.detection.precomputed import load_boxes
from posecli.errors import PoseCliError

ENTRY = {"image_name": "images/val/000001_mpii_test/000003.jpg", "bbox": [1, 2, 30, 40], "score": 0.9}


def test_a_utf16_literature_file_reads_like_its_utf8_copy(tmp_path: Path) -> None:
    """JSON may be UTF-16 with a byte order mark; a plain UTF-8 read refused such files."""
    text = json.dumps([{**ENTRY, "category_id": 1}])
    (tmp_path / "a.json").write_bytes(text.encode("utf-8"))
    (tmp_path / "b.json").write_bytes(text.encode("utf-16"))
    utf8 = load_boxes(tmp_path / "a.json")
    utf16 = load_boxes(tmp_path / "b.json")
    assert list(utf16) == list(utf8) == [3]
    assert utf16[3][0].box.tolist() == utf8[3][0].box.tolist() == [1.0, 2.0, 31.0, 42.0]


def test_invalid_utf8_is_named_like_in_every_other_reader(tmp_path: Path) -> None:
    path = tmp_path / "boxes.json"
    path.write_bytes(b'[{"image_name": "\xff"}]')
    with pytest.raises(PoseCliError, match=r"not valid UTF-8 text \(byte 0xff at offset 17\)") as info:
        load_boxes(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_being_read(tmp_path: Path) -> None:
    """A FIFO would block a reader forever; a writer feeds it here so that a reader which opens it
    returns (and the test fails) instead of hanging."""
    fifo = tmp_path / "boxes.json"
    os.mkfifo(fifo)

    def feed() -> None:
        try:
            with open(fifo, "w") as stream:
                stream.write("[]")
        except OSError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        with pytest.raises(PoseCliError, match=rf"^{re.escape(str(fifo))}: not a regular file"):
            load_boxes(fifo)
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer finish
        writer.join(5)
        os.close(reader)
