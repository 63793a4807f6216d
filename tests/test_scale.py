"""Scale behaviour that can be shown without huge inputs (the big runs are in bench/soak.py)."""
from __future__ import annotations

import os

from PIL import Image

from portraitcli.batch import batch as batching
from portraitcli.batch import plan as planning
from portraitcli.options import RenderOptions, Settings
from tests.conftest import ROOT, photo_folder


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

    monkeypatch.setattr(planning.os, "scandir", CountingScandir)
    planned = planning.plan([str(tmp_path / "in")], str(tmp_path / "out"), Settings(RenderOptions("segment")))
    first = next(planned)
    assert isinstance(first, planning.Task)
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
    batch = batching.Batch(settings, progress=False)
    seen_in_flight = []
    original = batch._record

    def record(result, bar):
        seen_in_flight.append(len(pulled) - len(batch.results))
        original(result, bar)

    monkeypatch.setattr(batch, "_record", record)
    code = batch.run(tracking(planning.plan([str(src)], str(tmp_path / "out"), settings)))
    assert code == 0 and batch.counts()["done"] == 12
    assert max(seen_in_flight) <= 2 * 2 + 1


def test_default_jobs_stay_within_the_memory_big_photos_need(tmp_path, astronaut_rgb, monkeypatch):
    """A 60 MP photo needs about 1 GB: with 1.5 GB available, the default --jobs runs one photo at
    a time once the planned photos' headers show one that big; an explicit --jobs is obeyed."""
    from tests.test_robustness import png_with_size

    src = photo_folder(tmp_path / "in", astronaut_rgb, 48, 8)
    big = tmp_path / "camera.png"
    big.write_bytes(png_with_size(8000, 7500))  # the header of a 60 MP photo (its data is cut short)
    monkeypatch.setattr(batching.os, "cpu_count", lambda: 4)

    def run(available: int, explicit_jobs: int = 0):
        monkeypatch.setattr(batching, "available_memory", lambda: available)
        settings = Settings(RenderOptions("segment"), jobs=explicit_jobs)
        batch = batching.Batch(settings, progress=False)
        pulled, in_flight = [], []
        original = batch._record

        def tracking(items):
            for item in items:
                pulled.append(item)
                yield item

        def record(result, bar):
            in_flight.append(len(pulled) - len(batch.results))
            original(result, bar)

        monkeypatch.setattr(batch, "_record", record)
        out = tmp_path / f"out_{available}_{explicit_jobs}"
        code = batch.run(tracking(planning.plan([str(big), str(src)], str(out), settings)))
        assert code == 1 and batch.counts() == {"done": 8, "skipped": 0, "failed": 1}
        return batch.photo_jobs, max(in_flight)

    assert run(3 * 2**29) == (1, 2)  # one photo in a worker, the next one just planned
    photo_jobs, most = run(64 * 2**30)
    assert photo_jobs == 4 and most > 2
    assert run(3 * 2**29, explicit_jobs=2)[0] == 2


def test_big_photo_cutout_and_blur_peak_memory(tmp_path, astronaut_rgb, monkeypatch):
    """Memory per pixel of a big photo, above the process's own (interpreter, model): a full-size
    float copy of the photo is 12 bytes a pixel, and cutout used to hold several (46 bytes a
    pixel here). At 18 MP the working-resolution buffers still add a few bytes a pixel; at 48 MP
    the whole process peaks at 15.6 (bench/photo_memory.py)."""
    import cv2

    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from photo_memory import peak_rss  # the benchmark's own measure: the process's VmHWM

    big = tmp_path / "big.jpg"
    width, height = 5000, 3600  # 18 MP: past the size where the work goes in bands
    cv2.imwrite(str(big), cv2.resize(astronaut_rgb[:, :, ::-1], (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 90])
    tiny = tmp_path / "tiny.jpg"
    cv2.imwrite(str(tiny), astronaut_rgb[:64, :64])

    def peak(*args) -> int:
        return peak_rss(ROOT, [str(a) for a in args])

    for command, ext in (("cutout", ".png"), ("blur", ".jpg")):
        base = peak(command, "-q", tiny, tmp_path / f"tiny_{command}{ext}")
        per_pixel = (peak(command, "-q", big, tmp_path / f"big_{command}{ext}") - base) / (width * height)
        assert per_pixel < 20, f"{command}: {per_pixel:.1f} bytes a pixel"
