"""A confirmed masked face ("masked_sighting") joins its person's masked centroid, not the photo
centroid: the photo centroid, which every unmasked face and the as-is half of the covered way are
compared with, stays what enrolment made it (bench/bench_masked_learning.py)."""
from __future__ import annotations

import numpy as np
import pytest

from attendance.vision.recognise.occluded import covered_distances
from attendance.vision.recognise.recognisers import Gallery
from attendance.vision.types import RosterPerson


def test_masked_sighting_joins_the_masked_centroid_only():
    e = np.eye(6, dtype=np.float32)
    kinds = ("photo", "masked", "sighting", "masked_sighting")
    g = Gallery.build([RosterPerson("a", np.stack([e[0], e[1], e[2], e[3]]), kinds),
                       RosterPerson("b", np.stack([e[4]]), ("photo",))])
    assert g.photos == (2, 1)   # photos and unmasked sightings; a masked one is not a photo
    # the photo and the unmasked sighting each a centroid of their own (test_learned_sightings)
    photo = g.person_distances(np.stack([e[0], e[2]]), photos_only=True)[:, 0]
    masked = g.person_distances(((e[1] + e[3]) / 2)[None], masked_only=True)[0]
    assert photo == pytest.approx([0.0, 0.0]) and masked[0] == pytest.approx(0.0)
    assert g.person_distances(e[3][None], photos_only=True)[0, 0] == pytest.approx(np.sqrt(2))
    assert np.isinf(masked[1])
    # the covered way: the masked sighting pulls the covered half toward itself, not the as-is half
    d = covered_distances(g, e[3][None], e[3][None])
    without = Gallery.build([RosterPerson("a", np.stack([e[0], e[1], e[2]]), kinds[:3])])
    assert d[0] < covered_distances(without, e[3][None], e[3][None])[0]
