"""Media input/output: photos (photo.py), video and streams (video.py), atomic writes (atomic.py)."""
