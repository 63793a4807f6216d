"""Training-loop throughput: the data worker, forward, backward and optimiser step together, as
`models.train` runs them (2 threads, one data worker, channels_last, tcmalloc where installed),
for one phase of the recipe. Prints images per second over the steps after a warm-up, and the
data worker's own rate.

    python bench/training_loop.py --phase 0 --steps 150    # 128 px pre-training
    python bench/training_loop.py --phase 1 --steps 60     # 256 px fine-tuning

Run it on an otherwise idle machine (never beside a training run): the VM's speed drifts by 10-20%.
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
    parser.add_argument("--phase", type=int, default=0, help="0: 128 px pre-training, 1: 256 px fine-tuning")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    from models.train import rerun_under_tcmalloc

    rerun_under_tcmalloc([str(Path(__file__).resolve()), *sys.argv[1:]])  # as models.train runs
    import torch
    from torch.utils.data import DataLoader

    from models.data import Corpus, SampleMaker
    from models.net import PortraitUNet
    from models.train import RECIPE, Samples, new_optimizer, train_step

    torch.manual_seed(0)
    torch.set_num_threads(2)
    if not 0 <= args.phase < len(RECIPE.phases):
        parser.error(f"--phase: the recipe has phases 0 to {len(RECIPE.phases) - 1}")
    phase = RECIPE.phases[args.phase]
    corpus = Corpus.load(viton_limit=1500)
    maker = SampleMaker(corpus, phase.size, phase.mix, seed=1234)
    start = time.perf_counter()
    for i in range(200):
        maker(i)
    print(f"data worker alone: {200 / (time.perf_counter() - start):.1f} samples/s at {phase.size} px")
    loader = DataLoader(Samples(maker, 0, args.steps * phase.batch), batch_size=phase.batch, num_workers=1,
                        drop_last=True, prefetch_factor=4)
    model = PortraitUNet().to(memory_format=torch.channels_last)
    optimizer = new_optimizer(model)
    for step, batch in enumerate(loader):
        if step == args.warmup:
            start = time.perf_counter()
        train_step(model, optimizer, batch, 1e-3, phase.edge_weight)
    rate = (args.steps - args.warmup) * phase.batch / (time.perf_counter() - start)
    print(f"{phase.size} px, batch {phase.batch}: {rate:.1f} img/s over {args.steps - args.warmup} steps")


if __name__ == "__main__":
    main()
