"""Training-loop throughput: the data worker, forward, backward and optimiser step together, as
`models.train` runs them (2 threads, one data worker, channels_last), for one phase of a
recipe (default session 4). Prints images per second over the steps after a warm-up.

    python bench/training_loop.py --phase 0 --steps 150    # 128 px pre-training
    python bench/training_loop.py --phase 1 --steps 60     # 256 px fine-tuning
    python bench/training_loop.py --recipe session11 --phase 1 --steps 70    # 192 px fine-tuning

To compare two versions of models/ (session 10 on, which have models.train.train_step), run it
from each checkout in turn, alternating, on an otherwise idle machine (never beside a training run): the VM's speed drifts by 10-20%.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# this checkout's models/, not an installed one: comparing two checkouts is the point
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", type=int, default=0, help="0 is the first phase (128 px pre-training), 1 the second (256 px fine-tuning)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--recipe", default="session14", help="a models.train recipe (its phase sets size and batch)")
    args = parser.parse_args()

    import torch
    from torch.utils.data import DataLoader

    from models.data import Corpus
    from models.net import PortraitUNet
    from models.train import RECIPES, Samples, sample_maker, train_step

    torch.manual_seed(0)
    torch.set_num_threads(2)
    if args.recipe not in RECIPES:
        parser.error(f"--recipe: {args.recipe!r} is not one of {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[args.recipe]
    if not 0 <= args.phase < len(recipe.phases):
        parser.error(f"--phase: recipe {args.recipe} has phases 0 to {len(recipe.phases) - 1}")
    _, size, batch, _, _, _ = recipe.phases[args.phase]
    corpus = Corpus.load(viton_limit=1500)
    loader = DataLoader(Samples(sample_maker(corpus, recipe, args.phase, 1234), 0, args.steps * batch),
                        batch_size=batch, num_workers=1, drop_last=True, prefetch_factor=4)
    model = PortraitUNet().to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step, (images, targets, bands) in enumerate(loader):
        if step == args.warmup:
            start = time.perf_counter()
        train_step(model, optimizer, images, targets, bands, lr=1e-3)
    rate = (args.steps - args.warmup) * batch / (time.perf_counter() - start)
    print(f"{size} px, batch {batch}: {rate:.1f} img/s over {args.steps - args.warmup} steps")


if __name__ == "__main__":
    main()
