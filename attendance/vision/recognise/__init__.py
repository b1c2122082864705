"""Naming faces: recognisers (dlib, FaceRes, ONNX), galleries and matching."""
