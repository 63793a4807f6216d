"""Compare training recipes side by side: several models learn from one shared sample stream.

    python -m models.sweep --stream session4 --variants base,lr2,edge8 --device cuda --workers 5

Each stream is a recipe of models.train.RECIPES (phase plan, data mixture, sample effects; each
about 1h35 of 2-core CPU); each variant changes one knob of the model or optimiser. Models on one stream see
exactly the same batches, so their differences are the knob's, not the data's. Writes
OUT/STREAM-VARIANT.pt (state_dict) per model; score them with models.export + models.evaluate.
Meant for a GPU. Measured once on an H200 (session 5, 14 data workers, three variants): 500 steps
per 32 s, so a whole stream takes about 8 minutes there, bound by per-step overhead rather than by
the GPU or the data; on 2 CPU cores it is as slow as one training run per variant.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from models.data import Corpus
from models.net import PortraitUNet
from models.train import EDGE_WEIGHT, RECIPES, Samples, loss_fn, lr_at, new_optimizer, sample_maker


@dataclass(frozen=True)
class Variant:
    arch: str = "lean"
    lr_scale: float = 1.0
    edge_weight: float = EDGE_WEIGHT


VARIANTS = {
    "base": Variant(),
    "lr2": Variant(lr_scale=2.0),
    "lr05": Variant(lr_scale=0.5),
    "edge8": Variant(edge_weight=8.0),
    "lite": Variant(arch="lite"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", choices=sorted(RECIPES), default="session4",
                        help="the recipe all variants learn from (models.train.RECIPES)")
    parser.add_argument("--variants", default="base")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every phase's steps")
    parser.add_argument("--viton-limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("models/runs/sweep"))
    args = parser.parse_args(argv)
    import cv2

    # set before any OpenCV call, so forked workers inherit it: many workers each with OpenCV's
    # own thread pool would oversubscribe the cores (and changing it inside a worker can hang)
    cv2.setNumThreads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    recipe = RECIPES[args.stream]
    names = args.variants.split(",")
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    models, optimizers = [], []
    for name in names:
        torch.manual_seed(args.seed)  # same initialisation for every variant of one arch
        model = PortraitUNet(VARIANTS[name].arch).to(device, memory_format=torch.channels_last)
        models.append(model)
        optimizers.append(new_optimizer(model))
    corpus = Corpus.load(viton_limit=args.viton_limit)
    start = time.time()

    def log(msg):
        line = f"{time.time() - start:7.1f}s {args.stream} {msg}"
        print(line, flush=True)
        with open(args.out / f"{args.stream}.log", "a") as f:
            f.write(line + "\n")

    for phase_i, (phase, size, batch, steps, peak_lr, _) in enumerate(recipe.phases):
        steps = max(1, int(steps * args.scale))
        maker = sample_maker(corpus, recipe, phase_i, args.seed)
        loader = DataLoader(Samples(maker, 0, steps * batch), batch_size=batch, num_workers=args.workers,
                            drop_last=True, pin_memory=device.type == "cuda",
                            prefetch_factor=8 if args.workers else None)
        running = np.zeros(len(models))
        for step, (images, targets, bands) in enumerate(loader):
            x = images.to(device, non_blocking=True).float().div_(255).contiguous(
                memory_format=torch.channels_last)
            y = targets.to(device, non_blocking=True)
            band = bands.to(device, non_blocking=True)
            for i, (name, model, opt) in enumerate(zip(names, models, optimizers)):
                v = VARIANTS[name]
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, steps, peak_lr * v.lr_scale)
                loss = loss_fn(model.forward_logits(x), y, band, v.edge_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
                opt.step()
                running[i] += loss.item() if step % 100 == 99 else 0
            if step % 500 == 499 or step == steps - 1:
                log(f"{phase} step {step + 1}/{steps} " + " ".join(
                    f"{n}={r / 5:.4f}" for n, r in zip(names, running)))
                running[:] = 0
    for name, model in zip(names, models):
        torch.save({k: t.cpu() for k, t in model.state_dict().items()}, args.out / f"{args.stream}-{name}.pt")
    log("done")


if __name__ == "__main__":
    main()
