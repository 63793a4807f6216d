"""From (frame, alpha) to output pixels: edge controls, the effects, backgrounds, crops and contact sheets."""
