"""Vision: faces in frames -> who, masked or not, how far apart. Pure numpy/dlib/OpenCV."""
from .enrol import EnrolledFace, FaceRejected, enrol_face

__all__ = ["EnrolledFace", "FaceRejected", "enrol_face"]
