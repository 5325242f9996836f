"""``reuse`` equals ``exact`` at the model level on stressed weights, in float64.

A reuse runner encodes each frame's person crops once (``encode_frames``, several people per call) and
gives ``decode`` the taps it gathers for a key frame; ``exact`` runs ``forward`` on the clip, which
batches the backbone in the reference's order (key frames first). With ``stressed_weights`` (GTM
shifts and DCN offsets of several pixels, BN statistics calibrated on these crops) both must agree
to 1e-9: a crop's features do not depend on the other crops in its batch, and ``forward`` hands
``decode`` every frame in its own time slot.
"""

from __future__ import annotations

import pytest
import torch

from posecli.models import build_model

F64 = torch.float64
REL = 1e-9
# slots t-2..t+2 of a key frame as frame indices: clip start, interior, clip end, and a shuffled order
SLOTS = ((0, 0, 0, 1, 2), (1, 2, 3, 4, 5), (4, 5, 6, 6, 6), (2, 1, 3, 5, 4))


@pytest.mark.parametrize("name", ["fami_hrnet_w32", "tdmi_hrnet_w32"])
def test_decode_of_cached_taps_equals_forward(name: str, tiny: dict, relclose, stressed) -> None:
    model = build_model(name, **tiny).double()
    crops = torch.randn(7, 3, 3, 64, 64, dtype=F64)  # frame, person
    stressed(model, crops[:5].transpose(0, 1).contiguous())  # each person's clip of frames 0..4
    with torch.no_grad():
        cache = [model.encode_frames(crops[f]) for f in range(7)]  # per frame: taps (persons, C, h, w)
        outputs = []
        for slots in SLOTS:
            taps = [torch.stack([cache[f][tap] for f in slots], dim=1) for tap in range(model.num_taps)]
            reused = model.decode(taps)  # each tap (persons, 5, C, h, w)
            exact = model(crops[list(slots)].transpose(0, 1))  # clips (persons, 5, 3, H, W)
            relclose(exact.heatmaps, reused.heatmaps, REL)
            relclose(exact.backbone_heatmaps, reused.backbone_heatmaps, REL)
            outputs.append(exact.heatmaps)
    # guard: on these weights the supporting frames move the output (SLOTS 1 and 3 share the key frame 3)
    assert (outputs[1] - outputs[3]).abs().max() > 0.05 * outputs[1].abs().max()
