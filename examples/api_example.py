"""portraitcli as a library: the same pipeline the CLI runs, on numpy arrays or PIL images.

    python examples/api_example.py [OUT_DIR]
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from portraitcli import Segmenter, effects

here = Path(__file__).resolve().parent
out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
out.mkdir(parents=True, exist_ok=True)

photo = np.asarray(Image.open(here / "astronaut.jpg").convert("RGB"))
segmenter = Segmenter()  # bundled model, best available onnxruntime provider
alpha = segmenter.matte(photo)  # float32 HxW in [0, 1], refined to full resolution

Image.fromarray((alpha * 255).astype(np.uint8)).save(out / "api_matte.png")
Image.fromarray(effects.blur_background(photo, alpha, strength=0.6, bokeh=True)).save(out / "api_bokeh.jpg")
Image.fromarray(effects.cutout(photo, alpha)).save(out / "api_cutout.png")
beach = effects.solid((250, 220, 160), *alpha.shape, np.uint8)
Image.fromarray(effects.replace_background(photo, alpha, beach)).save(out / "api_sand.jpg")
print(f"person covers {100 * (alpha > 0.5).mean():.1f}% of the photo; results in {out}/")
