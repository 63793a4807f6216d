"""Scale behaviour that can be shown without huge inputs (the big runs are in bench/soak.py)."""
from __future__ import annotations

import os

from PIL import Image

from portraitcli import jobs
from portraitcli.options import RenderOptions, Settings


def test_folder_listing_is_lazy(tmp_path, monkeypatch, astronaut_rgb):
    """The first task is planned after reading one directory entry, not after listing the folder:
    with 100,000 entries, processing starts at once."""
    for i in range(50):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{i:03d}.jpg").write_bytes(b"x")
    consumed = []
    real_scandir = os.scandir

    class CountingScandir:
        def __init__(self, path):
            self.inner = real_scandir(path)

        def __iter__(self):
            for entry in self.inner:
                consumed.append(entry.name)
                yield entry

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

    monkeypatch.setattr(jobs.os, "scandir", CountingScandir)
    planned = jobs.plan([str(tmp_path / "in")], str(tmp_path / "out"), Settings(RenderOptions("segment")))
    first = next(planned)
    assert isinstance(first, jobs.Task)
    assert len(consumed) == 1
    assert len(list(planned)) == 49 and len(consumed) == 50


def test_batch_pool_keeps_a_bounded_number_of_tasks_in_flight(tmp_path, astronaut_rgb, monkeypatch):
    """The batch never submits the whole listing at once: at most 2 x jobs tasks are queued."""
    src = tmp_path / "in"
    src.mkdir()
    img = Image.fromarray(astronaut_rgb).resize((48, 48))
    for i in range(12):
        img.save(src / f"{i:02d}.png")
    pulled = []

    def tracking(items):
        for item in items:
            pulled.append(item)
            yield item

    settings = Settings(RenderOptions("segment"), jobs=2)
    batch = jobs.Batch(settings, progress=False)
    seen_in_flight = []
    original = batch._record

    def record(result, bar):
        seen_in_flight.append(len(pulled) - len(batch.results))
        original(result, bar)

    monkeypatch.setattr(batch, "_record", record)
    code = batch.run(tracking(jobs.plan([str(src)], str(tmp_path / "out"), settings)))
    assert code == 0 and batch.counts()["done"] == 12
    assert max(seen_in_flight) <= 2 * 2 + 1
