"""An office joining the live apel: its camera settings from the roster (field of view, distancing,
back row, camera height above the floor, row lines) reach the vision pipeline that analyses its feed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


class RecordingPool:
    """Stands in for the vision worker pool: keeps each stream's configuration, analyses nothing."""

    def __init__(self) -> None:
        self.configs: dict[str, object] = {}

    def configure(self, key, roster, cfg) -> None:
        cfg.validate()
        self.configs[key] = cfg

    def start(self, on_result) -> None:
        pass

    def submit(self, key, frame, t_s) -> bool:
        return False   # always busy: no frame is analysed, no result delivered

    def remove(self, key) -> None:
        self.configs.pop(key, None)

    def close(self) -> None:
        pass


async def _camera_offer():
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import VideoStreamTrack

    pc = RTCPeerConnection()
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


@pytest.mark.parametrize("back_row,camera_height,row_lines", [(5.0, 2.75, [4.5, 3.0, 6.0]), (None, None, None)])
async def test_join_passes_the_offices_camera_settings_to_the_pipeline(db_url, settings_factory, back_row,
                                                                       camera_height, row_lines) -> None:
    from app.live.service import LiveService
    from app.web.app import create_app
    from attendance.assemblies.lifecycle import create_assembly, issue_office_token, start_assembly
    from attendance.db.unit_of_work import committed
    from attendance.models import AssemblyKind, User
    from attendance.roster.offices import create_office

    app = create_app(settings_factory(db_url), migrate=False)
    with app.state.session_factory() as db:
        office = create_office(db, actor="test", code="OPD1", name="Dinas Satu", camera_hfov_deg=60,
                               min_distance_m=1.5, back_row_m=back_row, camera_height_m=camera_height,
                               row_lines_m=row_lines)
        leader = User(username="leader", password_hash="-", role="leader")
        db.add(leader)
        db.commit()
        a = committed(create_assembly)(db, actor=leader, kind=list(AssemblyKind)[0].value, title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[office.id])
        committed(start_assembly)(db, a.id, actor=leader)
        token = committed(issue_office_token)(db, a.id, office.id, actor=leader, ttl_minutes=60)
        assembly_id = a.id
        db.commit()
    pool = RecordingPool()
    service = LiveService(app, app.state.settings, pool=pool)
    await service.start()
    pc, sdp = await _camera_offer()
    try:
        answer = await service.join_office("OPD1", token, sdp, "offer")
        assert answer["office"] == "OPD1" and answer["sdp"].startswith("v=0")
        cfg = pool.configs[f"{assembly_id}/OPD1"]
        assert (cfg.hfov_deg, cfg.min_distance_m, cfg.back_row_m, cfg.camera_height_m, cfg.row_lines_m) == \
            (60.0, 1.5, back_row, camera_height, None if row_lines is None else (3.0, 4.5, 6.0))   # sorted, a tuple
    finally:
        await pc.close()
        await service.stop()
        app.state.engine.dispose()
