"""Ingest pipeline throughput, size and fidelity on specimen 300-dpi acta scans (issue 3).

    .venv/bin/python benchmarks/ingest.py [--quick] [--count N] [--quality Q] [--format webp|jpeg]

Prints, measured in the same run with the same two-process pool:
- actas/s through `scanners.pipeline.process` beside the bare Pillow rate (open, load, resize to
  the target dpi, encode with the same codec settings) — target ≥ 80 %;
- median compressed bytes per acta at the target dpi — target ≤ 120 KB at 200 dpi;
- median SSIM (luma, Gaussian 11×11 σ=1.5) of the derivative against the page resized to the
  target dpi — target ≥ 0.95; also on the handwritten-number column alone (anchors §4 gate 0.98)
  and against an independent Lanczos resize, for transparency.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catd_node.catalog import load as load_election
from catd_node.config import ImageConfig
from scanners.compress import encode, reference, target_size
from scanners.decode import decode
from scanners.pipeline import process
from simulacro import specimen

WORKERS = 2
TARGET_RATIO = 0.80
TARGET_BYTES = 120_000
TARGET_SSIM = 0.95
NUMBER_COLUMN = (0.42, 0.27, 0.64, 0.82)   # fractions of the page: the «CON NÚMERO» cells


def _kernel(sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return (k / k.sum()).astype(np.float32)


def _blur(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, 'valid' region only."""
    r = len(k) // 2
    rows, cols = a.shape
    t = sum(k[i] * a[i:rows - 2 * r + i, :] for i in range(len(k)))
    return sum(k[i] * t[:, i:cols - 2 * r + i] for i in range(len(k)))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM (Wang et al. 2004) of the luma of two same-size images."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} vs {b.size}")
    x = np.asarray(a.convert("L"), dtype=np.float32)
    y = np.asarray(b.convert("L"), dtype=np.float32)
    k = _kernel()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x, k), _blur(y, k)
    sxx = _blur(x * x, k) - mx * mx
    syy = _blur(y * y, k) - my * my
    sxy = _blur(x * y, k) - mx * my
    score = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(score.mean())


def _crop(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = image.size
    return image.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def make_scan(i: int) -> tuple[str, bytes]:
    """One scanner-style JPEG of an example acta, with seeded plausible values."""
    election = load_election(specimen.EXAMPLE_ELECTION)
    spec = list(election.actas.values())[i % len(election.actas)]
    contest = election.contests[spec.contest]
    values = specimen.random_values(contest, spec.lista_nominal, random.Random(i), illegible=0.02)
    image = specimen.render(spec.key, values, seed=1000 + i, contest=contest)
    return spec.key, specimen.encode(image, seed=1000 + i)


def bare(data: bytes, cfg: ImageConfig) -> tuple[float, int]:
    """The floor: Pillow open, decode, resize to the target dpi, encode with the same settings.

    Returns the worker's CPU seconds and the encoded size."""
    started = time.process_time()
    image: Image.Image = Image.open(BytesIO(data))
    image.load()
    raw = image.info.get("dpi")
    size, dpi = target_size(image.size, round(raw[0]) if raw else None, cfg.dpi)
    if cfg.color == "gray":
        image = image.convert("L")
    image = image.resize(size, Image.Resampling.BILINEAR)
    size_bytes = len(encode(image, cfg, dpi))
    return time.process_time() - started, size_bytes


def through_pipeline(data: bytes, name: str, cfg: ImageConfig,
                     keys: frozenset[str]) -> tuple[float, int, str | None]:
    started = time.process_time()
    pages = process(data, name, None, cfg, keys)
    return time.process_time() - started, len(pages[0].compressed.data), pages[0].acta


def fidelity(data: bytes, cfg: ImageConfig) -> tuple[float, float, float]:
    """SSIM vs the target-dpi reference, on the number column, and vs a Lanczos resize."""
    page = decode(data, "x")[0]
    ref = reference(page, cfg)
    derived = Image.open(BytesIO(encode(ref, cfg, cfg.dpi)))
    lanczos = page.image.resize(ref.size, Image.Resampling.LANCZOS)
    return (ssim(ref, derived), ssim(_crop(ref, NUMBER_COLUMN), _crop(derived, NUMBER_COLUMN)),
            ssim(lanczos, derived))


def _timed(pool: ProcessPoolExecutor, fn: Callable[..., Any],
           *iterables: Iterable[Any]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    results = list(pool.map(fn, *iterables))
    return time.perf_counter() - started, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 scans, 1 round")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", type=int, default=ImageConfig().quality)
    parser.add_argument("--format", default=ImageConfig().format, choices=("webp", "jpeg"))
    parser.add_argument("--color", default=ImageConfig().color, choices=("color", "gray"))
    parser.add_argument("--dpi", type=int, default=ImageConfig().dpi)
    args = parser.parse_args(argv)
    count, rounds = (6, 1) if args.quick else (args.count, args.rounds)
    cfg = ImageConfig(dpi=args.dpi, format=args.format, quality=args.quality, color=args.color)
    keys = frozenset(load_election(specimen.EXAMPLE_ELECTION).actas)
    print(f"config: {cfg}; {count} specimen scans, {WORKERS} workers, {rounds} round(s); "
          f"cpus={os.cpu_count()}")

    with ProcessPoolExecutor(WORKERS) as pool:
        started = time.perf_counter()
        scans = list(pool.map(make_scan, range(count)))
        print(f"generated {count} scans in {time.perf_counter() - started:.1f} s; "
              f"median scan {median(len(d) for _, d in scans) / 1000:.0f} KB (300 dpi JPEG)")
        datas = [d for _, d in scans]
        names = [f"scan_{i:04d}.jpg" for i in range(count)]  # no key in the name: the QR must do it
        list(pool.map(bare, datas[:WORKERS], [cfg] * WORKERS))  # warm both workers
        # Small blocks, alternated: other work on a shared machine then weighs on both alike.
        block = 2 * WORKERS
        wall = {"bare": 0.0, "pipe": 0.0}
        cpu = {"bare": 0.0, "pipe": 0.0}
        results: list[tuple[float, int, str | None]] = []
        for _ in range(rounds):
            results = []
            for start in range(0, count, block):
                part = slice(start, start + block)
                n = len(datas[part])
                seconds, answers = _timed(pool, bare, datas[part], [cfg] * n)
                wall["bare"] += seconds
                cpu["bare"] += sum(a[0] for a in answers)
                seconds, answers = _timed(pool, through_pipeline, datas[part], names[part], [cfg] * n,
                                          [keys] * n)
                wall["pipe"] += seconds
                cpu["pipe"] += sum(a[0] for a in answers)
                results.extend(answers)
        scores = list(pool.map(fidelity, datas, [cfg] * count))

    done = count * rounds
    bare_rate, pipe_rate = done / wall["bare"], done / wall["pipe"]
    ratio = pipe_rate / bare_rate
    cpu_ratio = cpu["bare"] / cpu["pipe"]
    sizes = [size for _, size, _ in results]
    identified = sum(1 for (_, _, acta), (key, _) in zip(results, scans, strict=True) if acta == key)
    page_ssim, cell_ssim, lanczos_ssim = (median(s[i] for s in scores) for i in range(3))
    ok = {"rate": ratio >= TARGET_RATIO, "bytes": median(sizes) <= TARGET_BYTES,
          "ssim": page_ssim >= TARGET_SSIM}
    print(f"pipeline rate      {pipe_rate:6.2f} actas/s   bare Pillow {bare_rate:6.2f} actas/s   "
          f"ratio {ratio:.0%} (target ≥ {TARGET_RATIO:.0%}) {'OK' if ok['rate'] else 'MISS'}")
    pipe_ms, bare_ms = cpu["pipe"] / done * 1000, cpu["bare"] / done * 1000
    print(f"CPU per acta       pipeline {pipe_ms:.0f} ms, bare {bare_ms:.0f} ms "
          f"(ratio {cpu_ratio:.0%}: the same comparison without other processes' load)")
    print(f"compressed size    median {median(sizes) / 1000:.1f} KB, max {max(sizes) / 1000:.1f} KB "
          f"at {cfg.dpi} dpi (target median ≤ {TARGET_BYTES / 1000:.0f} KB) "
          f"{'OK' if ok['bytes'] else 'MISS'}")
    print(f"SSIM vs reference  median {page_ssim:.4f}, min {min(s[0] for s in scores):.4f} "
          f"(target ≥ {TARGET_SSIM}) {'OK' if ok['ssim'] else 'MISS'}")
    print(f"SSIM number column median {cell_ssim:.4f} (anchors gate 0.98, informational)")
    print(f"SSIM vs Lanczos    median {lanczos_ssim:.4f} (independent resize, informational)")
    print(f"identified by QR   {identified}/{count}")
    return 0 if all(ok.values()) and identified == count else 1


if __name__ == "__main__":
    sys.exit(main())
