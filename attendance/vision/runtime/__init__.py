"""Model files and ONNX translation the recognisers and detectors load."""
