"""The live apel: joins, the frame bridge to vision, result translation, the sightings writer, events."""
