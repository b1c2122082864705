"""Finding faces in frames: the HOG/Haar/eyes detector and BlazeFace for stills."""
