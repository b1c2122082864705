"""The vision area's public interface (contract 2 in .coord/contracts.md)."""
from __future__ import annotations

from .pipeline import OfficePipeline
from .recognise import DlibRecogniser, OnnxRecogniser, Recogniser
from .results import FaceResult, FrameResult, PipelineConfig, RosterPerson
from .workers import VisionWorkerPool

__all__ = ["DlibRecogniser", "FaceResult", "FrameResult", "OfficePipeline", "OnnxRecogniser", "PipelineConfig",
           "Recogniser", "RosterPerson", "VisionWorkerPool"]
