"""Compare fine-tuning mixtures quickly on a GPU: `python -m models.screen --init s12 --mix finetune_torso2`.

Runs one recipe's second phase (256 px, batches of 8, models.train's loss, schedule, step and
weight average) from a run's first-phase weights, and saves NAME.pt beside NAME_ema.pt for
`python -m models.export`. Session 13 screened four mixtures, two seeds each, on an H100 in about
five minutes a run (models/README.md); models.sweep, by contrast, compares model and optimiser
knobs on one sample stream. The shipped weights never come from here: models.train
makes them on 2 CPU cores, and a GPU run differs from it in the last bits of every sum.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from models.data import MIXES, Corpus
from models.net import PortraitUNet
from models.train import (LONG_PRETRAIN, RUNS, Recipe, Samples, load_phase_weights, lr_at, new_optimizer,
                          sample_maker, train_step, update_ema)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", required=True, help="run under models/runs/ whose pretrain.pt to start from")
    parser.add_argument("--mix", required=True, choices=sorted(MIXES))
    parser.add_argument("--seed", type=int, default=1234, help="sample stream seed (models.train's phase 2 uses seed*100+1)")
    parser.add_argument("--steps", type=int, default=7200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=7e-4)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cache", type=Path, default=None, help="teacher label cache (default models/cache)")
    parser.add_argument("--name", default=None, help="output name (default MIX_SEED)")
    parser.add_argument("--out", type=Path, default=RUNS / "screen")
    args = parser.parse_args(argv)

    import cv2

    # before the workers fork: many workers, each with OpenCV's own thread pool, would
    # oversubscribe the cores (as in models.sweep)
    cv2.setNumThreads(1)
    torch.backends.cudnn.benchmark = True  # a screen, not the shipped weights: speed over last bits
    torch.manual_seed(args.seed)
    name = args.name or f"{args.mix}_{args.seed}"
    # the fine-tuning phase of a recipe like session14's, with this mixture and size of run
    recipe = Recipe(phases=(LONG_PRETRAIN, ("finetune", 256, args.batch, args.steps, args.lr, args.mix)),
                    fresh_optimizer=True)
    model = PortraitUNet()
    ema = load_phase_weights(RUNS / args.init, recipe.phases[0][0], model)
    model = model.to(args.device).to(memory_format=torch.channels_last)
    ema = {k: v.to(args.device) for k, v in ema.items()}
    optimizer = new_optimizer(model)
    maker = sample_maker(Corpus.load(cache=args.cache), recipe, 1, args.seed)
    loader = DataLoader(Samples(maker, 0, args.steps * args.batch), batch_size=args.batch, num_workers=args.workers,
                        shuffle=False, drop_last=True, prefetch_factor=16 if args.workers else None,
                        pin_memory=args.device.startswith("cuda"))
    start = time.time()
    for step, (images, targets, bands) in enumerate(loader, 1):
        loss = train_step(model, optimizer, images, targets, bands, lr_at(step - 1, args.steps, args.lr))
        update_ema(ema, model)
        if step % 1000 == 0:
            print(f"{name} step {step} loss {loss.item():.4f} {time.time() - start:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.out / f"{name}.pt")
    torch.save({k: v.cpu() for k, v in ema.items()}, args.out / f"{name}_ema.pt")
    print(f"{name}: {args.steps} steps in {time.time() - start:.0f} s -> {args.out / name}.pt", flush=True)


if __name__ == "__main__":
    main()
