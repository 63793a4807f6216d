"""Train the bundled portrait model: `python -m models.train` (then `python -m models.export`).

Two phases (a recipe may split the second), all deterministic given --seed:
  1. pre-train on everything at 128x128 (the net is fully convolutional; 128 px trains ~5x faster),
  2. fine-tune portrait-heavy at the deployed 256x256.
bf16 autocast is not used: on this machine's CPU (no AVX512-BF16) it ran ~20x slower than fp32.
Checkpoints go to models/runs/NAME/last.pt every few minutes; re-running the same command
resumes from it. A one-line-per-interval log is appended to models/runs/NAME/train_log.txt.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from models.data import DATA, MIXES, Corpus, SampleMaker, boundary_band, ccp_ids, read_gray, read_rgb
from models.net import PortraitUNet, count_parameters

RUNS = Path(__file__).resolve().parent / "runs"

# (name, input size, batch, steps, peak lr, mixture); sized for about 1h40 on 2 cores
# (measured in the session 4 run: ~57 img/s at 128 px, ~14 img/s at 256 px, fwd+bwd,
# channels_last). Session 5 moved time to 256 px (2600 + 3600 steps) with more ccp full-body
# weight: worse on every validation figure (models/README.md), so this schedule stays.
PHASES = (
    ("pretrain", 128, 32, 4400, 3e-3, "pretrain"),
    ("finetune", 256, 16, 2970, 1e-3, "finetune"),
)

# session 9's longer pre-training (60% more steps), shared by the recipes of sessions 9-11: for the
# same seed it is the same sample stream and, run for run, the same pre-trained network
LONG_PRETRAIN = ("pretrain", 128, 32, 7000, 3e-3, "pretrain")


# loss weight of the pixels near a person's edge (models.data.boundary_band), on top of 1 for all
EDGE_WEIGHT = 3.0


@dataclass(frozen=True)
class Recipe:
    """What a run learns from: phase plan, data mixtures, and the sample effects of
    models.data.SampleMaker. Each recipe below costs about the same 2-core CPU time."""
    phases: tuple = PHASES
    mixes: dict = field(default_factory=lambda: MIXES)
    scene_effects: bool = False
    antialias: bool = False
    # a new AdamW at the start of each phase after the first: the later phases then depend on the
    # earlier ones only through the weights (and their average), so a run can start from another
    # run's pre-training (--init-from) and equal a run from scratch
    fresh_optimizer: bool = False
    # loss weight of the boundary band (models.data.boundary_band) in the phases after the first; the
    # first keeps EDGE_WEIGHT, so that a run can reuse another's pre-training (--init-from)
    finetune_edge_weight: float = EDGE_WEIGHT
    # sample stream seed of the phases after the first (None: the run's --seed); another value
    # draws a second fine-tuning of the same pre-training, which --init-from can then reuse
    finetune_seed: int | None = None


# session21 (the default, defined below the dict) reproduces the shipped weights; session19 the ones
# shipped in sessions 19-20, session14 those of sessions 14-18, session4 those of sessions 4-13
# (models/train_log_session4.txt). The others were trained once each and not shipped
# (models/README.md; logs models/train_log_rejected_session*.txt); sessions 6 and 7 scored lower on
# ccp/val by no more than a second seed of session4 did (session 8), so only session 5 is shown worse.
RECIPES = {
    "session4": Recipe(),
    # more 256 px steps, more ccp full-body weight
    "session5": Recipe(phases=(("pretrain", 128, 32, 2600, 3e-3, "pretrain"),
                               ("finetune", 256, 16, 3600, 1e-3, "finetune")),
                       mixes={"pretrain": {"ccp_full": 0.3, "ccp_portrait": 0.15, "viton": 0.15, "cutout": 0.15,
                                           "unlabelled": 0.2, "negative": 0.05},
                              "finetune": {"ccp_full": 0.22, "ccp_portrait": 0.28, "viton": 0.17, "cutout": 0.17,
                                           "unlabelled": 0.12, "negative": 0.04}}),
    # the session 4 plan with cast shadows and patterned garments in the samples
    "session6": Recipe(scene_effects=True),
    # sources shrunk by area averaging, as the runtime shrinks frames; session 4's pre-training
    # and 15% more fine-tuning steps (the run's 128 px phase went faster than session 4's)
    "session7": Recipe(phases=(PHASES[0], ("finetune", 256, 16, 3400, 1e-3, "finetune")), antialias=True),
    # session 4 with 60% more 128 px pre-training: the 2-hour budget had ~25 minutes to spare
    # (session 8's undisturbed run took 1h30), and the cheap 128 px phase is where the network sees
    # most of its samples (session 5 cut it and lost more than the seed spread). Session 9's run:
    # +0.003 IoU / +0.005 BF1 on full bodies, level on crops, but 2h05 in a slow machine state
    # (over budget), so not shipped; next time trim the fine-tuning to fit
    "session9": Recipe(phases=(LONG_PRETRAIN, PHASES[1])),
    # session 9's pre-training (identical for the same seed) on session 10's ~8% faster loop (boundary
    # band made in the data worker, cheaper photometric augmentation; same samples), with the
    # fine-tuning cut to 2,600 steps so that the whole run stays under 2 hours in the machine's slow
    # state (its run: planned with 3,100 fine-tuning steps, cut at the phase boundary when the
    # pre-training had slowed to 55-59 img/s, before any fine-tuning step counted). Its run: 1h55,
    # full bodies +0.003 IoU / +0.005 BF1 as session 9, crops 0.001-0.003 lower: not shipped
    "session10": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 16, 2600, 1e-3, "finetune"))),
    # session 9's pre-training, then the portrait-heavy fine-tuning mostly at 192 px (about 1.8x
    # cheaper per sample than 256 px) and a short 256 px finish at a lower peak rate: sessions 9-10
    # found pre-training length lifts full bodies and fine-tuning length lifts crops, and at 256 px
    # both do not fit in 2 hours. Planned with 2,000 + 1,300; cut before the 192 px phase began, when
    # pre-training ran at 55-60 img/s (about 64 min); the 256 px finish then raised to 1,450 before it
    # began, the 192 px phase having run at 27-30 img/s (18 min). Its run: 1h54, lower on both sets
    # (crops -0.007 IoU, beyond the seed spread): not shipped; fine-tuning below 256 px does not pay
    "session11": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune192", 192, 16, 1850, 1e-3, "finetune"),
                                ("finish256", 256, 16, 1450, 3e-4, "finetune"))),
    # session 9's pre-training, then session 10's 256 px fine-tuning in batches of 8: on this CPU a
    # 256 px batch of 8 costs less per image than one of 16 (fwd+bwd alone, 2 threads, three
    # alternated runs: 24-34 against 16-18 img/s; in bench/training_loop.py, with the data worker
    # beside it, 16.5-18.4 against 14.1-15.8), so the time of session 10's 2,600 x 16 buys more
    # 256 px samples in twice the steps. Peak lr scaled by sqrt(1/2) for the halved batch. Planned
    # with 6,000 steps; raised to 6,800 before the phase began (pre-training took 52 min). Its run:
    # 1h44, ccp/val full +0.004 IoU / +0.006 BF1, crops level IoU / +0.007 BF1, but 0.003-0.005 IoU
    # lower on bench/temporal.py's clips and -0.017 IoU on 1.6x centre crops (torsos cut by the
    # frame): withdrawn the session it was shipped, generalisation first (models/README.md)
    "session12": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 6800, 7e-4, "finetune"))),
    # session 12's plan with torso framings in the fine-tuning (models.data MIXES["finetune_torso"]):
    # both models of sessions 4 and 12 trail MediaPipe most on people cut by the frame (--zoom 1.6:
    # 0.067 IoU behind, against 0.024 on whole photos), framings the fine-tuning crops never showed.
    # A fresh optimiser at the fine-tuning, so that session 12's pre-training can be reused
    # (--init-from s12). Ship rule, set before the run: at least the shipped model's IoU and BF1 on
    # ccp/val full, crops, --zoom 1.3 and --zoom 1.6, no IoU loss on bench/temporal.py --clips 24
    # --frames 30, and under 2 hours from scratch (pre-training 52 min in session 12)
    # Stopped at step 2,800 of 7,200 in favour of session 14, when the GPU screen (models/README.md,
    # "Session 13") found twice the torso share better on three of the four sets and level on crops
    "session13": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso")),
                        fresh_optimizer=True),
    # session 13 with 28% torso framings (MIXES["finetune_torso2"]). Ship rule, set before the run:
    # on ccp/val full, crops, --zoom 1.3 and --zoom 1.6, IoU and BF1 each at least the shipped model's
    # less 0.002 (the fine-tuning seed spread on crops in the GPU screen) and higher on their mean;
    # bench/temporal.py --clips 24 --frames 30 IoU likewise; under 2 hours from scratch
    # Its run (fine-tuning from session 12's pre-training, 54 min; 1 h 46 min from scratch) met the
    # rule on every figure without the allowance and is shipped (models/train_log_session14.txt)
    "session14": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso2")),
                        fresh_optimizer=True),
    # session 14 with 38% torso framings (MIXES["finetune_torso3"]), the trend of the GPU screen
    # carried one step further, untried there (its device time was spent). Ship rule, set before the
    # run: session 14's rule against the session 14 model. Its run (54 min of fine-tuning): better at
    # 1.3x and 1.6x (+0.004 / +0.003 IoU) and on video, level on full bodies, but crops BF1 0.004
    # lower, beyond the 0.002 allowance: not shipped (models/train_log_rejected_session15.txt)
    "session15": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso3")),
                        fresh_optimizer=True),
    # session 14 with the boundary band weighted 8 instead of 3 in the fine-tuning: the gap to
    # MediaPipe is now mostly boundary F1 (0.016-0.045 against 0.006-0.018 IoU). Ship rule, set
    # before the run: session 14's rule against the session 14 model. Its run (fine-tuning from
    # session 12's pre-training, 59 min): within 0.0035 of session 14 on every set (mean +0.0006;
    # full 0.9178 / 0.8550, crops 0.9540 / 0.8380, 1.3x 0.9303 / 0.8496, 1.6x 0.9331 / 0.8285), so no
    # gain on boundaries, and 0.031 IoU lower on --inset 0.5 (found after its rule was set): not shipped
    "session16": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso2")),
                        fresh_optimizer=True, finetune_edge_weight=8.0),
    # session 14 with 10% small people stood in scenes (MIXES["finetune_torso2_small"],
    # SampleMaker.ccp_small): beside a small person the shipped network takes parts of the scene
    # for people (models.evaluate --inset 0.5: IoU 0.757 against MediaPipe's 0.913, focus pass on
    # for both). Ship rule, set before the run: session 14's rule against the session 14 model,
    # and higher IoU and BF1 at --inset 0.5. Its run (fine-tuning from session 12's pre-training,
    # 53 min): --inset 0.5 +0.062 IoU / +0.056 BF1, video IoU +0.004, 1.3x +0.003 IoU, but full-body
    # BF1 0.0032 lower, beyond the 0.002 allowance: not shipped (models/train_log_rejected_session17.txt)
    "session17": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso2_small")),
                        fresh_optimizer=True),
    # session 17 with session 14's full-body ccp share kept (MIXES["finetune_torso2_small_keepfull"]):
    # session 17 cut it from 8% to 5% and lost full-body BF1. Ship rule, set before the run: session
    # 17's; if sessions 18 and 19 both meet it, the one with the higher mean over the four sets ships.
    # Its run (fine-tuning from session 12's pre-training, 56 min; 1 h 48 min from scratch) met it on
    # every figure without the allowance (full 0.9182 / 0.8558, crops 0.9544 / 0.8395, 1.3x 0.9307 /
    # 0.8511, 1.6x 0.9351 / 0.8307, inset 0.5 0.8119 / 0.8273) and was shipped in sessions 19-20
    # (models/train_log_session19.txt)
    "session19": Recipe(phases=(LONG_PRETRAIN,
                                ("finetune", 256, 8, 7200, 7e-4, "finetune_torso2_small_keepfull")),
                        fresh_optimizer=True),
}

# session 19 fine-tuned on the exactly labelled sources alone (MIXES["finetune_exact_labels"]: ccp's
# manual masks, cutouts, negatives; no VITON parsing, no teacher labels), the best mixture of a GPU
# screen (models/README.md, "Session 20"; two seeds each, level with session 19's mix on 1.6x and
# above it elsewhere). Ship rule, set before the run, against the shipped session 19 model: IoU and
# BF1 each at least its own less 0.002 on ccp/val full, crops, --zoom 1.3, --zoom 1.6 and --inset
# 0.5, higher on the mean of the eight four-set figures; bench/temporal.py --clips 24 --frames 30
# IoU likewise; under 2 hours from scratch. Its run (fine-tuning from session 12's pre-training, 55
# min): full 0.9191 / 0.8543, crops 0.9563 / 0.8404, 1.3x 0.9311 / 0.8540, 1.6x 0.9342 / 0.8283,
# inset 0.5 0.8334 / 0.8458, video IoU +0.002; mean of the eight +0.0003, but 1.6x BF1 0.0024 lower,
# beyond the 0.002 allowance: not shipped (models/train_log_rejected_session20.txt)
RECIPES["session20"] = replace(RECIPES["session19"], phases=(
    LONG_PRETRAIN, ("finetune", 256, 8, 7200, 7e-4, "finetune_exact_labels")))

# session 20 at a peak rate of 1e-3, which gained on the GPU screen with session 19's mix (one
# stream, +0.003 on the mean of the four sets' eight figures, +0.004 BF1 at 1.6x). Ship rule, set
# before the run: session 20's. Its run (fine-tuning from session 12's pre-training, 55 min; 1 h 47
# min from scratch) met it on every figure without the allowance (full 0.9222 / 0.8605, crops 0.9570 /
# 0.8448, 1.3x 0.9338 / 0.8565, 1.6x 0.9395 / 0.8368, inset 0.5 0.8301 / 0.8443) and is shipped
# (models/train_log.txt)
RECIPES["session21"] = replace(RECIPES["session19"], phases=(
    LONG_PRETRAIN, ("finetune", 256, 8, 7200, 1e-3, "finetune_exact_labels")))

# session 21 at a peak rate of 1.5e-3: the step from 7e-4 to 1e-3 gained on every set (session 21),
# and this continues it; screened on the GPU beside 1e-3 and 2e-3 in session 22. Ship rule, set before
# the run, against the shipped session 21 model: session 20's (IoU and BF1 each at least its own
# less 0.002 on the four sets and at inset 0.5, higher mean of the eight four-set figures, video IoU
# likewise, under 2 hours from scratch). Its run (fine-tuning from session 12's pre-training, 59
# min): full 0.9221 / 0.8624, crops 0.9567 / 0.8496, 1.3x 0.9339 / 0.8562, 1.6x 0.9420 / 0.8402,
# mean of the eight +0.0015, video IoU -0.0002; but inset 0.5 0.8191 / 0.8373, 0.009 IoU lower,
# beyond the allowance: not shipped (models/train_log_rejected_session22.txt)
RECIPES["session22"] = replace(RECIPES["session21"], phases=(
    LONG_PRETRAIN, ("finetune", 256, 8, 7200, 1.5e-3, "finetune_exact_labels")))

# session 22 with more small people in scenes (MIXES["finetune_exact_moresmall"]: 14% instead of
# 10%), to keep what the higher rate lost at --inset 0.5. Ship rule, set before the run: session
# 22's, against the shipped session 21 model. Its run (fine-tuning from session 12's pre-training,
# 52 min): full 0.9218 / 0.8601, crops 0.9551 / 0.8475, 1.3x 0.9333 / 0.8548, 1.6x 0.9431 / 0.8396,
# mean of the eight +0.0005; inset 0.5 0.8265 / 0.8395 (BF1 -0.0038) and video IoU 0.9313 (-0.0032),
# both beyond the allowance: not shipped (models/train_log_rejected_session23.txt)
RECIPES["session23"] = replace(RECIPES["session21"], phases=(
    LONG_PRETRAIN, ("finetune", 256, 8, 7200, 1.5e-3, "finetune_exact_moresmall")))


def _session21_pretrained_on(mix: str) -> Recipe:
    """Session 21's recipe with its pre-training (same steps) on another mixture."""
    return replace(RECIPES["session21"], phases=(LONG_PRETRAIN[:-1] + (mix,), RECIPES["session21"].phases[1]))


# session 21 on a new pre-training (MIXES["pretrain_noviton"]: no VITON; torso framings and small
# people in scenes in its place), same steps: every recipe since session 9 shared session 9's
# pre-training mix, and the fine-tuning gained most from exact labels (session 20) and from these
# framings (sessions 14, 19). Ship rule, set before the run, against the shipped session 21 model:
# session 20's (IoU and BF1 each at least its own less 0.002 on the four sets and at inset 0.5,
# higher mean of the eight four-set figures, video IoU likewise, under 2 hours from scratch). Its
# run (1 h 39 min from scratch): full 0.9213 / 0.8582, crops 0.9535 / 0.8448, 1.3x 0.9302 / 0.8516,
# 1.6x 0.9399 / 0.8349, inset 0.5 0.8267 / 0.8455; video IoU +0.0044 (0.9389), but crops IoU -0.0035
# and 1.3x -0.0036 / -0.0049, beyond the allowance: not shipped (models/train_log_rejected_session24.txt)
RECIPES["session24"] = _session21_pretrained_on("pretrain_noviton")

# session 24's pre-training with VITON kept (MIXES["pretrain_framings"]: the torso framings and small
# people taken from the full-body ccp and teacher-labelled shares), same steps, session 21's
# fine-tuning: keep session 24's video gain without its crops' loss. Ship rule, set before the run:
# session 24's, against the shipped session 21 model. Its run (1 h 40 min from scratch): full 0.9218
# / 0.8568, crops 0.9554 / 0.8489, 1.3x 0.9305 / 0.8527, 1.6x 0.9324 / 0.8301, inset 0.5 0.8042 /
# 0.8317, video IoU 0.9298 (-0.0047): not shipped (models/train_log_rejected_session25.txt)
RECIPES["session25"] = _session21_pretrained_on("pretrain_framings")

# half of session 24's pre-training change (MIXES["pretrain_halfviton"]), same steps, session 21's
# fine-tuning: session 24 (no VITON) gained on video and lost on crops; session 25 (VITON kept, the
# full-body and teacher-labelled shares cut) lost on every set. Ship rule, set before the run:
# session 24's, against the shipped session 21 model. Its run: full 0.9146 / 0.8547, crops 0.9558 /
# 0.8513, 1.3x 0.9298 / 0.8530, 1.6x 0.9316 / 0.8311, inset 0.5 0.8035 / 0.8215, video IoU 0.9265
# (-0.0080): not shipped (models/train_log_rejected_session26.txt). A GPU screen of its pre-training
# on three fine-tuning streams (models/README.md) was below session 12's on every set too
RECIPES["session26"] = _session21_pretrained_on("pretrain_halfviton")


def _session24_pretrained(finetune_phase: tuple) -> Recipe:
    """Session 24's pre-training (reusable with --init-from s24) followed by another fine-tuning."""
    return replace(RECIPES["session24"], phases=(RECIPES["session24"].phases[0], finetune_phase))


def _finetune_on(recipe: str, mix: str) -> tuple:
    """That recipe's fine-tuning phase (steps, size, rate) on another mixture."""
    return RECIPES[recipe].phases[1][:-1] + (mix,)


# session 24's pre-training with session 22's fine-tuning (peak rate 1.5e-3): the GPU screens found
# each better than the shipped recipe's on its own, session 24's pre-training on video (+0.004 IoU,
# every stream; level on the four photo sets) and the 1.5e-3 rate on the four photo sets (+0.0033 mean
# of the eight figures, session 22; inset 0.5 -0.006, inside its spread). Resumable from session
# 24's run (--init-from s24: same seed and pre-training). Ship rule, set before the run: session 24's,
# against the shipped session 21 model. Its run (1 h 47 min from scratch: session 24's 52 min
# pre-training, 55 min fine-tuning): full 0.9232 / 0.8636, crops 0.9535 / 0.8473, 1.3x 0.9338 /
# 0.8577, 1.6x 0.9390 / 0.8376, inset 0.5 0.8291 / 0.8431, video IoU 0.9414 (+0.0069), but crops
# IoU -0.0035, beyond the allowance: not shipped (models/train_log_rejected_session27.txt)
RECIPES["session27"] = _session24_pretrained(RECIPES["session22"].phases[1])

# session 24's pre-training (its video gain held on every GPU-screened stream) with the shipped
# fine-tuning's rate (1e-3) on more head-and-shoulder framings (MIXES["finetune_exact_moreportrait"]),
# to win back the crops IoU that sessions 24 and 27 lost. Resumable from session 24's run
# (--init-from s24). Ship rule, set before the run: session 24's, against the shipped session 21 model.
# Its run (1 h 45 min from scratch: session 24's 52 min pre-training, 53 min fine-tuning): crops won
# back (0.9571 / 0.8496, +0.0036 IoU on session 24's run), full 0.9210 / 0.8583, 1.3x 0.9308 / 0.8515,
# 1.6x 0.9394 / 0.8318, inset 0.5 0.8203 / 0.8381, video IoU 0.9367; BF1 lost 0.002-0.005 on full
# bodies, at 1.3x and 1.6x, and inset 0.5 0.008 IoU: not shipped (models/train_log_rejected_session28.txt)
RECIPES["session28"] = _session24_pretrained(_finetune_on("session21", "finetune_exact_moreportrait"))

# session 28's fine-tuning at session 22's peak rate (1.5e-3): against their common base (session
# 24's run) session 28's mix gained on crops (+0.0036 IoU) and session 27's rate on full bodies, at
# 1.3x and on video (+0.002-0.004 IoU, +0.005-0.006 BF1), so the two together may keep both. Ship
# rule, set before the run: session 24's, against the shipped session 21 model. Its run (1 h 45 min
# from scratch): crops 0.9570 / 0.8521, 1.3x 0.9338 / 0.8583, 1.6x 0.9403 / 0.8382 (mean of the
# eight four-set figures +0.0009), but full 0.9206 / 0.8576 (BF1 -0.0029), inset 0.5 0.8070 / 0.8280
# (-0.022 IoU), video IoU 0.9332: not shipped (models/train_log_rejected_session29.txt)
RECIPES["session29"] = _session24_pretrained(_finetune_on("session22", "finetune_exact_moreportrait"))

# session 28's 33% head-and-shoulder framings with their room taken from the full-body ccp share
# (session30: 16% -> 10%, MIXES["finetune_exact_portrait_fromfull"]) or the torso framings'
# (session31: 31% -> 25%) instead of the cutouts', which --inset 0.5 seemed to need (sessions 28-29
# lost 0.008-0.022 IoU there); session 24's pre-training and the shipped rate (1e-3). Screened on a
# GPU over three fine-tuning streams first (models/README.md); the CPU run is the one the screen
# ranks higher. Resumable from session 24's run (--init-from s24). Ship rule, set before the run:
# session 24's, against the shipped session 21 model. The screen: both gained on crops (+0.0012 IoU,
# +0.0026 BF1 on the three streams' mean) and neither lost at inset 0.5; session30's lost full-body
# and 1.3x BF1 (-0.0027, -0.0024), session31's was level on full bodies and lost at 1.6x (-0.0019 /
# -0.0020); neither raised the mean of the eight. session31 ranked higher and had the CPU run
# (session30's was stopped at step 1,858 for it). session31's run (1 h 50 min from scratch): full 0.9214 /
# 0.8576, crops 0.9563 / 0.8502, 1.3x 0.9312 / 0.8504, 1.6x 0.9367 / 0.8330, inset 0.5 0.8274 / 0.8499,
# video IoU 0.9369; full-body BF1 -0.0029, 1.3x and 1.6x -0.003 to -0.006, beyond the allowance: not
# shipped (models/train_log_rejected_session31.txt)
RECIPES["session30"] = _session24_pretrained(_finetune_on("session21", "finetune_exact_portrait_fromfull"))
RECIPES["session31"] = _session24_pretrained(_finetune_on("session21", "finetune_exact_portrait_fromtorso"))

# session 17 on a second fine-tuning sample stream (same pre-training): is its full-body BF1 loss
# the samples or the draw? Ship rule, set before the run: session 17's (session 14's rule against
# the session 14 model, and higher IoU and BF1 at --inset 0.5). Its run (54 min): lower than
# session 17 on all four sets (full 0.9144 / 0.8462, crops 0.9523 / 0.8333), inset 0.5 0.7948 /
# 0.8178: the loss is the recipe's, not the draw. Not shipped (models/train_log_rejected_session18.txt)
RECIPES["session18"] = replace(RECIPES["session17"], finetune_seed=5678)


def sample_maker(corpus: Corpus, recipe: Recipe, phase_i: int, seed: int) -> SampleMaker:
    """The sample stream of one phase of a recipe: a pure function of (recipe, phase, seed)."""
    _, size, _, _, _, mix = recipe.phases[phase_i]
    if phase_i > 0 and recipe.finetune_seed is not None:
        seed = recipe.finetune_seed
    return SampleMaker(corpus, size, recipe.mixes[mix], seed=seed * 100 + phase_i,
                       scene_effects=recipe.scene_effects, antialias=recipe.antialias)


class Samples(Dataset):
    def __init__(self, maker: SampleMaker, start: int, count: int):
        self.maker, self.start, self.count = maker, start, count

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        img, target = self.maker(self.start + i)
        return (torch.from_numpy(img).permute(2, 0, 1), torch.from_numpy(target)[None],
                torch.from_numpy(boundary_band(target))[None])


def loss_fn(logits: torch.Tensor, target: torch.Tensor, band: torch.Tensor,
            edge_weight: float = EDGE_WEIGHT) -> torch.Tensor:
    """Boundary-weighted cross-entropy (band: models.data.boundary_band) plus half a soft IoU."""
    weight = 1.0 + edge_weight * band.float()
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2, 3))
    union = (prob + target - prob * target).sum((1, 2, 3))
    soft_iou = 1 - (inter + 1) / (union + 1)
    return bce + 0.5 * soft_iou.mean()


def train_step(model: PortraitUNet, optimizer, images: torch.Tensor, targets: torch.Tensor,
               bands: torch.Tensor, lr: float, edge_weight: float = EDGE_WEIGHT) -> torch.Tensor:
    """One optimiser step on a batch from Samples (uint8 images); returns the loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    device = next(model.parameters()).device  # models.screen runs the same step on a GPU
    x = images.to(device).float().div_(255).contiguous(memory_format=torch.channels_last)
    loss = loss_fn(model.forward_logits(x), targets.to(device), bands.to(device), edge_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
    optimizer.step()
    return loss


EMA_DECAY = 0.998  # half-life ~350 steps, a tenth of a phase


@torch.no_grad()
def update_ema(ema: dict, model: torch.nn.Module, decay: float = EMA_DECAY) -> None:
    """Exponential moving average of the weights, saved beside the raw ones (*_ema.pt) to compare:
    an average over the last few hundred steps often generalises a little better than the last
    step (in session 7's run it scored the same, models/README.md)."""
    for name, value in model.state_dict().items():
        ema[name].lerp_(value, 1 - decay)


def lr_at(step: int, total: int, peak: float, warmup: int = 200) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def load_val(limit: int | None = None):
    _, ids = ccp_ids(DATA)
    pairs = []
    for i in ids[:limit]:
        pairs.append((read_rgb(DATA / "ccp" / "images" / f"{i}.jpg"),
                      read_gray(DATA / "ccp" / "masks" / f"{i}.png") > 127))
    return pairs


@torch.no_grad()
def quick_val_iou(model: PortraitUNet, pairs, size: int = 256) -> float:
    """Mean IoU at 256x256 (stretched), bilinear upsampling: a cheap progress signal only."""
    import cv2

    model.eval()
    ious = []
    for img, mask in pairs:
        x = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255
        prob = model(x)[0, 0].numpy()
        prob = cv2.resize(prob, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR)
        pred = prob > 0.5
        union = np.logical_or(pred, mask).sum()
        ious.append(np.logical_and(pred, mask).sum() / union if union else 1.0)
    model.train()
    return float(np.mean(ious))


def new_optimizer(model: PortraitUNet) -> torch.optim.Optimizer:
    """AdamW as every run starts it (the rate is set per step by lr_at)."""
    return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)


def init_from(other_run: Path, model: PortraitUNet, recipe: Recipe, seed: int) -> dict:
    """Load the first-phase weights of another run into model; returns their weight average.
    Refuses unless that run's log shows the same seed and a recipe with the same first phase."""
    if not recipe.fresh_optimizer:
        raise SystemExit("--init-from needs a recipe with fresh_optimizer (the optimiser state is not kept)")
    log_path = other_run / "train_log.txt"
    first = log_path.read_text().splitlines()[0] if log_path.exists() else ""
    found = re.search(r"new run: .*seed (\d+), recipe (\w+)", first)
    fields = {"seed": found[1], "recipe": found[2]} if found else {}
    other = RECIPES.get(fields.get("recipe", ""))
    name = recipe.phases[0][0]
    if fields.get("seed") != str(seed) or other is None or other.phases[0] != recipe.phases[0] \
            or other.mixes[recipe.phases[0][5]] != recipe.mixes[recipe.phases[0][5]] \
            or (other.scene_effects, other.antialias) != (recipe.scene_effects, recipe.antialias):
        raise SystemExit(f"{other_run}: not a run with seed {seed} and this recipe's first phase ({first!r})")
    return load_phase_weights(other_run, name, model)


def load_phase_weights(run_dir: Path, phase_name: str, model: PortraitUNet) -> dict:
    """Load the weights a run saved at the end of a phase into model; returns their weight average."""
    if not (run_dir / f"{phase_name}.pt").exists():
        raise SystemExit(f"{run_dir}: no {phase_name}.pt (that run did not train this phase itself)")
    model.load_state_dict(torch.load(run_dir / f"{phase_name}.pt", map_location="cpu"))
    return torch.load(run_dir / f"{phase_name}_ema.pt", map_location="cpu")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="main", help="run name under models/runs/")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every phase's steps (smoke tests)")
    parser.add_argument("--checkpoint-every", type=float, default=180, help="seconds")
    parser.add_argument("--viton-limit", type=int, default=None)
    parser.add_argument("--init-from", metavar="RUN",
                        help="start a new run at its second phase from RUN's first-phase weights; RUN must have "
                             "had the same seed and first phase, and the recipe a fresh optimiser per phase")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="session21",
                        help="session21: the shipped weights' recipe; session19, session14 and session4: the previous ones'; the "
                             "others were tried and not shipped (models/README.md)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    run_dir = RUNS / args.run
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "last.pt"
    log_path = run_dir / "train_log.txt"

    def log(msg: str):
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    model = PortraitUNet().to(memory_format=torch.channels_last)
    optimizer = new_optimizer(model)
    phase_index, step, ema = 0, 0, None
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        ema = state.get("ema")  # absent in checkpoints from before session 7
        optimizer.load_state_dict(state["optimizer"])
        phase_index, step = state["phase"], state["step"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("recipe", "session4") != args.recipe:  # one run, one sample stream
            raise SystemExit(f"{ckpt_path}: this run was started with --recipe {state.get('recipe', 'session4')}")
        log(f"resumed at phase {phase_index} step {step}")
    elif args.init_from:
        phase_index, ema = 1, init_from(RUNS / args.init_from, model, RECIPES[args.recipe], args.seed)
        log(f"new run: {count_parameters(model)} parameters, seed {args.seed}, recipe {args.recipe}, "
            f"first phase taken from run {args.init_from}")
    else:
        log(f"new run: {count_parameters(model)} parameters, seed {args.seed}, recipe {args.recipe}")
    if ema is None:
        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}

    corpus = Corpus.load(viton_limit=args.viton_limit)
    log(f"data: ccp {len(corpus.ccp)}, viton {len(corpus.viton)}, cutouts {len(corpus.cutouts)}, "
        f"backgrounds {len(corpus.backgrounds)}, unlabelled {len(corpus.unlabelled)}")
    val = load_val(limit=40)

    def save(phase_i, step_i):
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "phase": phase_i,
                    "step": step_i, "torch_rng": torch.get_rng_state(), "recipe": args.recipe, "ema": ema}, tmp)
        os.replace(tmp, ckpt_path)

    recipe = RECIPES[args.recipe]
    for phase_i in range(phase_index, len(recipe.phases)):
        name, size, batch, steps, peak_lr, _ = recipe.phases[phase_i]
        steps = max(1, int(steps * args.scale))
        if phase_i > phase_index:
            step = 0
        if recipe.fresh_optimizer and phase_i > 0 and step == 0:
            optimizer = new_optimizer(model)
        maker = sample_maker(corpus, recipe, phase_i, args.seed)
        edge_weight = recipe.finetune_edge_weight if phase_i > 0 else EDGE_WEIGHT
        loader = DataLoader(Samples(maker, step * batch, (steps - step) * batch), batch_size=batch,
                            num_workers=args.workers, shuffle=False, drop_last=True,
                            persistent_workers=False, prefetch_factor=4 if args.workers else None)
        log(f"phase {name}: {size}px batch {batch} steps {step}->{steps} lr {peak_lr}")
        model.train()
        last_save = last_log = time.time()
        seen, running = 0, []
        for images, targets, bands in loader:
            loss = train_step(model, optimizer, images, targets, bands, lr_at(step, steps, peak_lr), edge_weight)
            update_ema(ema, model)
            step += 1
            seen += batch
            running.append(loss.item())
            now = time.time()
            if now - last_log > 60 or step == steps:
                log(f"{name} step {step}/{steps} loss {np.mean(running):.4f} lr {lr_at(step, steps, peak_lr):.2e} "
                    f"{seen / (now - last_log):.1f} img/s")
                running, seen, last_log = [], 0, now
            if now - last_save > args.checkpoint_every:
                save(phase_i, step)
                last_save = now
        save(phase_i + 1, 0) if phase_i + 1 < len(recipe.phases) else save(phase_i, step)
        torch.save(model.state_dict(), run_dir / f"{name}.pt")
        torch.save(ema, run_dir / f"{name}_ema.pt")
        averaged = PortraitUNet()
        averaged.load_state_dict(ema)
        log(f"phase {name} done: quick val IoU (40 ccp val photos, bilinear) {quick_val_iou(model, val):.4f}, "
            f"weight average {quick_val_iou(averaged, val):.4f}")
    torch.save(model.state_dict(), run_dir / "final.pt")
    torch.save(ema, run_dir / "final_ema.pt")
    log("training finished")


if __name__ == "__main__":
    main()
