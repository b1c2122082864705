"""A confirmed unmasked face ("sighting") is a centroid of its own beside the person's photo
centroid, not averaged into it: a face is as near the person as the nearer of the two, so what
enrolment made stays as it was and the office's camera faces add a second look (issue 18's
learning curve, BENCHMARKS.md "Learning curve (apel days)")."""
from __future__ import annotations

import numpy as np
import pytest

from attendance.vision.recognise.occluded import covered_distances
from attendance.vision.recognise.recognisers import Gallery, MatchThresholds, aggregate, assign
from attendance.vision.types import RosterPerson


def _roster(*people: tuple[str, list[np.ndarray], tuple[str, ...]]) -> list[RosterPerson]:
    return [RosterPerson(pid, np.stack(e).astype(np.float32), kinds) for pid, e, kinds in people]


def test_a_sighting_keeps_the_photo_centroid_and_adds_its_own():
    e = np.eye(6, dtype=np.float32)
    photos = ((e[0] + e[1]) / 2)
    g = Gallery.build(_roster(("a", [e[0], e[1], e[2], e[3]], ("photo", "photo", "sighting", "sighting")),
                              ("b", [e[4]], ("photo",))))
    assert g.photos == (4, 1)   # sightings still count with the photos for the per-photos limits
    assert len(g.centroids) == 3 and list(g.owner) == [0, 0, 1]
    assert g.masked is not None and not g.masked.any()
    # a face like the photos is as near as before learning; one like the sightings is at their mean
    d = g.person_distances(np.stack([photos, (e[2] + e[3]) / 2]))
    assert d[:, 0] == pytest.approx([0.0, 0.0])
    before = Gallery.build(_roster(("a", [e[0], e[1]], ("photo", "photo")), ("b", [e[4]], ("photo",))))
    assert before.person_distances(photos[None])[0] == pytest.approx(d[0])
    # the nearer of the two: never further than the photos alone
    probes = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    assert np.all(g.person_distances(probes) <= before.person_distances(probes) + 1e-6)


def test_sightings_only_person_and_masked_rows():
    e = np.eye(6, dtype=np.float32)
    g = Gallery.build(_roster(("a", [e[0], e[1], e[2]], ("photo", "masked", "sighting")),
                              ("c", [e[5]], ("sighting",))))
    assert g.photos == (2, 1)
    assert g.masked is not None and list(g.masked) == [False, False, True, False]
    # the as-is half of the covered way sees the sighting too (photos_only: every unmasked row) ...
    assert g.person_distances(e[2][None], photos_only=True)[0, 0] == pytest.approx(0.0)
    # ... and the covered half only the masked variants
    assert g.person_distances(e[2][None], masked_only=True)[0, 0] == pytest.approx(np.sqrt(2))
    assert np.isinf(g.person_distances(e[2][None], masked_only=True)[0, 1])
    assert covered_distances(g, e[2][None], e[1][None])[0] == pytest.approx(0.0)


def test_a_learned_camera_face_names_its_person_where_the_photos_did_not():
    """The track is far from the photos but at the confirmed sighting: named outright, with the
    other person still the runner-up by the margin."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(3, 8)).astype(np.float32)
    th = MatchThresholds(accept=0.5, margin=0.05)
    a_photo, a_cam, b_photo = base[0] * 0.3, base[0] * 0.3 + base[1] * 0.2, base[2] * 0.3
    track = np.stack([a_cam + 0.01, a_cam - 0.01])
    learned = Gallery.build(_roster(("a", [a_photo, a_cam], ("photo", "sighting")), ("b", [b_photo], ("photo",))))
    d = aggregate(learned, track)
    assert d[0] == pytest.approx(0.0, abs=1e-5)
    assert assign(d[None], th, [2])[0].person == 0
