"""Media input/output: photos (photo.py, raw.py), video and streams (video.py), capture devices and windows
(devices.py), the video sources and sinks behind one interface (sources.py, sinks.py), atomic writes
(atomic.py), and the pixel containers the flow passes along (frames.py, bands.py)."""

# camera RAW files, developed by LibRaw (rawpy, the `raw` extra); stdlib only, so planning can
# sort inputs without loading numpy
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
                            ".raf", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".rwl", ".erf", ".kdc", ".dcr",
                            ".mrw", ".mos", ".mef"})
