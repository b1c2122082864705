"""Where people stand: camera model, rows, head plane and distancing violations."""
