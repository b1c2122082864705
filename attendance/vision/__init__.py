"""Vision: faces in frames -> who, masked or not, how far apart. A pure library (numpy, dlib,
OpenCV, ONNX Runtime): no database, no asyncio. Import the submodule you need; importing this
package loads nothing heavy. See docs/architecture.md and docs/vision.md."""
