"""The live service gathers each named person's body measurements (FaceResult.body_obs) over an apel,
bounded to an even sample, writes them once when the apel closes (through services/body.py, on the
real database), and hands the stored priors to the next apel's roster.

The vision worker pool is replaced by a stand-in that returns prepared FrameResults (plain data, the
same classes the workers send back): what is tested is the service's side, from poll_results on."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import func, select

from app.live import BodySample, LiveService, StreamInfo, roster_for_office
from attendance.models import BodyMeasure, Employee, FaceTemplate, Office
from attendance.services.body import load_priors
from attendance.vision import FaceResult, FrameResult
from attendance.vision.recognise import backend_name
from attendance.vision.results import BodyPrior

NAN = float("nan")


def test_body_sample_is_bounded_and_even() -> None:
    few = BodySample(cap=300)
    for i in range(120):
        few.add((float(i), 0.0))
    assert [a for a, _ in few.kept] == [float(i) for i in range(120)] and few.stride == 1

    many = BodySample(cap=300)
    for i in range(100_000):
        many.add((float(i), 0.0))
        assert len(many) <= 300
    idx = np.array([a for a, _ in many.kept])
    steps = np.diff(idx)
    assert len(idx) >= 150 and idx[0] == 0 and np.all(steps == many.stride)   # evenly spaced ...
    assert idx[-1] >= 100_000 - many.stride                                  # ... over the whole feed


class StandInPool:
    """poll_results gives back what `queue` holds, as VisionWorkerPool does with its workers' results."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, FrameResult]] = []
        self.removed: list[str] = []

    def poll_results(self) -> list[tuple[str, FrameResult]]:
        out, self.queue = self.queue, []
        return out

    def is_busy(self, key: str) -> bool:
        return False

    def submit(self, key: str, frame, t_s: float) -> bool:  # noqa: ANN001
        return True

    def remove(self, key: str) -> None:
        self.removed.append(key)


def _face(person: int | None, track: int, obs: tuple[float, float] | None) -> FaceResult:
    return FaceResult(box=(10 * track, 10, 40, 40), track_id=track, person_id=None if person is None else str(person),
                      confidence=0.9, distance=0.3, mask=False, mask_p=0.1, position_m=(0.0, 0.0, 3.0), body_obs=obs)


def _staff(app, spec: str) -> tuple[int, list[int]]:  # noqa: ANN001
    with app.state.session_factory() as s:
        office = Office(code="BODY", name="Kantor Body", timezone="Asia/Makassar")
        s.add(office)
        s.flush()
        ids = []
        for i in range(3):
            e = Employee(nip=f"19900101202001{i + 1:04d}", name=f"Pegawai {i + 1}", office_id=office.id)
            s.add(e)
            s.flush()
            s.add(FaceTemplate(employee_id=e.id, backend=backend_name(spec), kind="photo",
                               embedding=np.full(128, i + 1, "<f4").tobytes(), source_sha256=f"{e.id:064d}"))
            ids.append(e.id)
        s.commit()
        return office.id, ids


async def test_an_apel_of_measurements_is_written_once_when_it_closes(db_url: str, settings_factory) -> None:
    from app.main import create_app

    app = create_app(settings_factory(db_url), migrate=False)
    service = LiveService(app, app.state.settings, pool=StandInPool())
    spec = app.state.settings.recogniser_spec
    try:
        office_id, (a, b, c) = _staff(app, spec)
        with app.state.session_factory() as s:
            roster, _ = roster_for_office(s, office_id, spec)
        assert [p.body for p in roster] == [None, None, None]   # nothing measured yet

        info = StreamInfo("7/BODY", 7, office_id, 70, "BODY", track_prefix="t-1", names={}, joined_at=0.0)
        other = StreamInfo("8/BODY", 8, office_id, 80, "BODY", track_prefix="t-2", names={}, joined_at=0.0)
        service.streams = {info.stream_key: info, other.stream_key: other}
        rng = np.random.default_rng(3)
        fed: list[tuple[float, float]] = []
        for i in range(2000):   # a long feed: far more frames than are kept
            obs = (0.060 * (1 + rng.normal(0, 0.04)), 0.05 + rng.normal(0, 0.03) if i % 3 else NAN)
            fed.append(obs)
            faces = [_face(a, 1, obs),
                     _face(b, 2, None),               # named, but not with confidence / not in a row
                     _face(None, 3, (0.07, 0.0))]      # unknown face: never anyone's measurement
            service.pool.queue.append((info.stream_key, FrameResult(t_s=1_700_000_000.0 + i / 5, faces=faces)))
            if i % 50 == 0:
                service.pool.queue.append(("9/GONE", FrameResult(t_s=1.0, faces=[_face(c, 4, (0.06, 0.0))])))
                service.pool.queue.append((other.stream_key, FrameResult(t_s=1.0, faces=[_face(c, 5, (0.066, -0.02))])))
            service._bridge_step()
        gathered = service._body[7]
        assert set(gathered) == {a} and set(service._body[8]) == {c}
        assert len(gathered[a]) <= 300 and gathered[a].seen == 2000
        kept = list(gathered[a].kept)
        np.testing.assert_array_equal(kept, fed[::gathered[a].stride])   # an even sample of what the feed measured
        assert not service._write_queue.empty()   # the sightings go their own way (the writer)

        await service.close_assembly(7)
        assert 7 not in service._body and 8 in service._body   # only the closed apel's memory goes
        expect = BodyPrior().updated(kept)
        with app.state.session_factory() as s:
            priors = load_priors(s, [a, b, c])
            assert set(priors) == {a}
            assert s.execute(select(func.count()).select_from(BodyMeasure)).scalar_one() == 1
        got = priors[a]
        assert (got.ipd_apels, got.head_apels) == (1, 1)
        assert got.ipd_m == pytest.approx(expect.ipd_m) and got.head_dh_m == pytest.approx(expect.head_dh_m)
        all_ipd = np.median([x for x, _ in fed])
        assert abs(got.ipd_m - all_ipd) / all_ipd < 0.01   # the sample's median is the feed's

        await service.close_assembly(7)   # the route and housekeeping may both close it: counted once
        with app.state.session_factory() as s:
            assert load_priors(s, [a])[a].ipd_apels == 1

        await service.close_assembly(8)   # the other apel counts as one more for c
        with app.state.session_factory() as s:
            roster, _ = roster_for_office(s, office_id, spec)
        bodies = {int(p.person_id): p.body for p in roster}
        assert bodies[b] is None
        assert bodies[a].ipd_m == pytest.approx(got.ipd_m) and bodies[a].ipd_apels == 1
        assert bodies[c].ipd_m == pytest.approx(0.066) and bodies[c].head_dh_m == pytest.approx(-0.02)
        assert not math.isinf(bodies[c].ipd_rel_sd)
        assert service.body_write_errors == 0
    finally:
        await service.media.close()
        service._db_executor.shutdown(wait=True)
        app.state.engine.dispose()
