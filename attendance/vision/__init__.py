"""Vision: faces in frames -> who, masked or not, how far apart. Pure numpy/dlib/OpenCV/ONNX
Runtime: no database, no asyncio. See docs/vision.md."""
from .api import (DlibRecogniser, FaceResult, FrameResult, OfficePipeline, OnnxRecogniser, PipelineConfig,
                  Recogniser, RosterPerson, VisionWorkerPool)
from .enrol import EnrolledFace, FaceRejected, enrol_face

__all__ = ["DlibRecogniser", "EnrolledFace", "FaceRejected", "FaceResult", "FrameResult", "OfficePipeline",
           "OnnxRecogniser", "PipelineConfig", "Recogniser", "RosterPerson", "VisionWorkerPool", "enrol_face"]
