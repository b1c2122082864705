"""Per-process dlib models (HOG and CNN face detectors, our masked-face HOG filter, landmark
predictors, ResNet encoder), each loaded on first use: worker processes get their own copies
(dlib objects are not picklable), and a process that never detects a face never reads the files."""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import dlib

with warnings.catch_warnings():   # it imports pkg_resources, which warns that it is deprecated
    warnings.simplefilter("ignore")
    import face_recognition_models

MASKED_HOG = Path(__file__).resolve().parents[1] / "models" / "masked_face_hog.svm"


def _models_dir() -> str:
    return os.path.join(os.path.dirname(face_recognition_models.__file__), "models")


@functools.cache
def hog_detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


@functools.cache
def masked_hog_detector() -> dlib.fhog_object_detector:
    """The project's fHOG filter for masked faces (one 80x80 filter, dlib's frontal pyramid and box
    convention; fitted by attendance/vision/training/train_masked_detector.py). Its scores are
    shifted so that its chosen operating point sits where the frontal filter's does: the two run
    together (`fhog_object_detector.run_multiple`), share one threshold and one non-maximum
    suppression."""
    return dlib.fhog_object_detector(str(MASKED_HOG))


@functools.cache
def shape5() -> dlib.shape_predictor:
    return dlib.shape_predictor(os.path.join(_models_dir(), "shape_predictor_5_face_landmarks.dat"))


@functools.cache
def shape68() -> dlib.shape_predictor:
    return dlib.shape_predictor(os.path.join(_models_dir(), "shape_predictor_68_face_landmarks.dat"))


def encoder_path() -> str:
    """dlib's face ResNet (face_recognition_models), which `encoder` loads and dlib_onnx converts."""
    return os.path.join(_models_dir(), "dlib_face_recognition_resnet_model_v1.dat")


@functools.cache
def encoder() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(encoder_path())


@functools.cache
def cnn_detector() -> dlib.cnn_face_detection_model_v1:
    """dlib's MMOD CNN face detector (CPU: a few tens of ms on a ~150 px crop, seconds on a frame)."""
    return dlib.cnn_face_detection_model_v1(os.path.join(_models_dir(), "mmod_human_face_detector.dat"))
