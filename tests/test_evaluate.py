"""models.evaluate: every validation set in one table, each photo through the CLI's photo path."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from models import evaluate as ev
from models.data import DATA
from tests.conftest import run_portraitcli

needs_data = pytest.mark.skipif(
    not all((DATA / ev.ValidationSet.parse(name).folder / "val.txt").is_file() for name in ev.DEFAULT_SETS),
    reason=f"no validation data at {DATA} (CI has ../shared beside the clone; PORTRAITCLI_DATA points elsewhere)")


def test_set_names_say_folder_and_framing():
    assert ev.ValidationSet.parse("web") == ev.ValidationSet("web", "web", "full", 1.0)
    assert ev.ValidationSet.parse("ccp-crops").framing == "crops"
    inset = ev.ValidationSet.parse("ccp-inset")
    assert (inset.framing, inset.scale) == ("inset", ev.DEFAULT_INSET)
    assert ev.ValidationSet.parse("ccp-inset0.3").scale == 0.3
    zoom = ev.ValidationSet.parse("ccp-zoom1.6")
    assert (zoom.framing, zoom.scale) == ("zoom", 1.6) and "centre 1/1.6" in zoom.what
    for bad in ("ccp-zoom", "ccp-zoom0.5", "ccp-inset2", "ccp-crops2", "ccp-blur", "CCP", "ccp-inset1.2.3"):
        with pytest.raises(ValueError):
            ev.ValidationSet.parse(bad)


def test_a_set_without_a_list_is_a_usage_error_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ev.main(["--data", str(tmp_path), "--sets", "nowhere"])
    assert exit_info.value.code == 2
    assert "nowhere/val.txt: no such validation list" in capsys.readouterr().err


@needs_data
def test_every_default_set_in_one_table_with_json_and_worst_overlays(tmp_path, capsys):
    run = tmp_path / "run.json"
    assert ev.main(["--limit", "2", "--json", str(run), "--worst", "1", "--overlays", str(tmp_path / "worst")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(ev.DEFAULT_SETS)
    assert all(row.split(" | ")[1] == "2" for row in rows)
    assert f"| mean over {len(ev.DEFAULT_SETS)} sets | {2 * len(ev.DEFAULT_SETS)} |" in out
    results = json.loads(run.read_text())
    assert list(results["sets"]) == list(ev.DEFAULT_SETS)
    for name, s in results["sets"].items():
        assert len(s["per_photo"]) == 2
        ours = s["scores"][ev.OURS]
        assert 0 < ours["iou"] <= 1 and 0 < ours["boundary_f1"] <= 1
        assert ours["iou"] == pytest.approx(np.mean([p[ev.OURS]["iou"] for p in s["per_photo"].values()]), abs=1e-4)
        overlays = list((tmp_path / "worst" / name).glob("01_*.jpg"))
        assert len(overlays) == 1
        height, width = cv2.imread(str(overlays[0])).shape[:2]
        assert width > height  # the photo and the overlay side by side
    mean_iou = np.mean([s["scores"][ev.OURS]["iou"] for s in results["sets"].values()])
    assert results["mean"][ev.OURS]["iou"] == pytest.approx(mean_iou, abs=1e-4)
    assert results["sets"]["ccp"]["scores"][ev.OURS]["iou"] > 0.8  # the photos the model knows best


@needs_data
def test_perfect_prediction_scores_one_and_compare_prints_the_deltas(tmp_path):
    """A model that answers each photo with its own truth scores 1 everywhere, one that sees
    nobody 0, one that sees a person everywhere takes all the far background (stray 1); --compare
    of the first two shows the gap on every set."""
    truths = {}
    for name in ev.DEFAULT_SETS:
        for _, image, truth in ev.ValidationSet.parse(name).photos(limit=2):
            truths[image.tobytes()] = truth

    def blank(image):
        return np.zeros((256, 256), np.float32)

    oracle = ev.Contender(ev.OURS, lambda image: truths[image.tobytes()].astype(np.float32), blank)
    nobody = ev.Contender("nobody", lambda image: np.zeros(image.shape[:2], np.float32), blank)
    everyone = ev.Contender("everyone", lambda image: np.ones(image.shape[:2], np.float32), blank)
    results = ev.evaluate(ev.DEFAULT_SETS, [oracle, nobody, everyone], limit=2)
    for s in results["sets"].values():
        assert s["scores"][ev.OURS] == {"iou": 1.0, "boundary_f1": 1.0, "mae": 0.0, "stray": 0.0}
        assert s["scores"]["nobody"]["iou"] == 0.0 and s["scores"]["nobody"]["mae"] > 0
        assert s["scores"]["nobody"]["stray"] == 0.0 and s["scores"]["everyone"]["stray"] == 1.0
        assert 0 < s["scores"]["everyone"]["iou"] < 1
    assert "| +1.0000 / +1.0000 | 0.0 / 0.0 |" in ev.markdown_table(results).splitlines()[-1]  # the mean row
    run = tmp_path / "run.json"
    run.write_text(json.dumps(results))
    ahead = ev.compare(str(run), f"{run}:nobody")
    assert ahead.count("| +1.0000 / +1.0000 |") == len(ev.DEFAULT_SETS) + 1
    assert "at least run:nobody on every set" in ahead
    behind = ev.compare(f"{run}:nobody", str(run))
    assert all(f"{name} IoU" in behind for name in ev.DEFAULT_SETS)
    assert all(f"{name} stray (100.0% against 0.0%)" in ev.compare(f"{run}:everyone", str(run))
               for name in ev.DEFAULT_SETS)


@needs_data
def test_ours_is_scored_on_exactly_what_portraitcli_segment_writes(tmp_path):
    photo_id = ev.ValidationSet.parse("web").ids()[0]
    source = DATA / "web" / "images" / f"{photo_id}.jpg"
    matte = tmp_path / "matte.png"
    assert run_portraitcli("segment", source, matte).returncode == 0
    written = cv2.imread(str(matte), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    _, image, truth = next(ev.ValidationSet.parse("web").photos(limit=1))
    alpha = ev.contenders()[0].alpha(image)
    assert alpha.shape == written.shape == truth.shape  # scored at the photo's own resolution
    assert np.abs(alpha - written).max() <= 1 / 255 + 1e-6
    assert ev.iou(alpha, truth) == pytest.approx(ev.iou(written, truth), abs=2e-3)


def test_stray_counts_things_far_from_people_not_loose_edges():
    truth = np.zeros((400, 600), bool)
    truth[100:300, 200:300] = True
    loose = truth.astype(np.float32)
    loose[95:305, 195:305] = 1.0  # 5 px over the edge: an edge error, not a stray thing
    assert ev.stray(loose, truth) == 0.0
    assert ev.iou(loose, truth) < 1.0
    poster = loose.copy()
    poster[20:120, 450:550] = 1.0  # 100 x 100 px taken for person, 150 px from the person
    far_background = 400 * 600 - 200 * 100 - 2 * (200 + 100) * 14 - 4 * 14 * 14  # about: 2% of the diagonal is 14 px
    assert ev.stray(poster, truth) == pytest.approx(100 * 100 / far_background, rel=0.02)
