"""End-to-end ``prepare`` throughput against a librosa pipeline and against decoding alone.

Clips: the 400 of ESC-10 and the 414 of ESC-50 fold 4 (814 real clips) from ../shared/data.
Each pipeline runs in its own child process (so its peak resident memory is its own), after a
warm-up pass that reads every file once (page cache) and, for librosa, computes a few clips (its
one-time compilation is not counted). Every pipeline runs ``--repeats`` times, round-robin with
the others (this machine's speed drifts); the best run is reported.

    python benchmarks/prepare_speed.py [--data ../shared/data] [--repeats 3] [--sample-rate 16000]

Prints a markdown table: seconds, clips/s, × real time, peak RSS, and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

N_FFT, WINDOW, HOP, N_MELS, FMIN, FMAX = 1024, 1024, 320, 64, 50.0, 8000.0


def clip_paths(data: Path) -> list[Path]:
    paths = sorted((data / "esc10" / "audio").glob("*/*.flac")) + sorted(
        (data / "esc50_fold4" / "audio").glob("*.flac")
    )
    if len(paths) != 814:
        raise SystemExit(f"expected 814 clips under {data}, found {len(paths)}")
    return paths


def run_decode(paths: list[Path], threads: int, sample_rate: int) -> float:
    import soundfile

    def read(path: Path) -> int:
        samples, _ = soundfile.read(str(path), dtype="float32")
        return len(samples)

    started = time.perf_counter()
    if threads == 1:
        for path in paths:
            read(path)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read, paths))
    return time.perf_counter() - started


def run_librosa(paths: list[Path], threads: int, sample_rate: int) -> float:
    import librosa

    def one(path: Path) -> np.ndarray:
        y, sr = librosa.load(str(path), sr=sample_rate)
        mel = librosa.feature.melspectrogram(
            y=y,
            sr=sr,
            n_fft=N_FFT,
            hop_length=HOP,
            win_length=WINDOW,
            n_mels=N_MELS,
            fmin=FMIN,
            fmax=FMAX,
            center=True,
            pad_mode="constant",
        )
        return np.log(mel + 1e-6).T.astype(np.float16)

    for path in paths[:5]:  # warm-up: numba compilation, resampler set-up
        one(path)
    started = time.perf_counter()
    for path in paths:
        one(path)
    return time.perf_counter() - started


def run_earmark(paths: list[Path], threads: int, sample_rate: int) -> float:
    import torch

    from earmark.data.labels import Labels
    from earmark.data.manifest import Manifest
    from earmark.features.logmel import LogMel, LogMelConfig
    from earmark.prepare import prepare

    torch.set_num_threads(1)  # the log-mel runs on the main thread, decoding on `threads` workers
    config = LogMelConfig(
        sample_rate=sample_rate,
        n_fft=N_FFT,
        window_samples=WINDOW,
        hop_samples=HOP,
        n_mels=N_MELS,
        fmin_hz=FMIN,
        fmax_hz=FMAX,
    )
    LogMel(config).compute(np.zeros(16000, dtype=np.float32))  # warm-up of torch kernels
    ids = [p.stem for p in paths]
    labels = Labels.from_lists(ids, [["clip"]] * len(ids), ["clip"])
    manifest = Manifest.single_split(labels, paths)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        prepare(manifest, Path(tmp) / "out", config, workers=threads)
        return time.perf_counter() - started


PIPELINES = {"decode": run_decode, "librosa": run_librosa, "earmark": run_earmark}


def child(args: argparse.Namespace) -> None:
    paths = clip_paths(Path(args.data))
    for path in paths:  # page cache
        path.read_bytes()
    seconds = min(PIPELINES[args.child](paths, args.threads, args.sample_rate) for _ in range(args.repeats))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def audio_seconds(paths: list[Path]) -> float:
    import soundfile

    return sum(soundfile.info(str(p)).duration for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=os.environ.get("EARMARK_DATA", "../shared/data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--child", choices=sorted(PIPELINES), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    paths = clip_paths(Path(args.data))
    total_audio = audio_seconds(paths)
    runs = [("decode", 1), ("decode", 2), ("librosa", 1), ("earmark", 1), ("earmark", 2)]
    results: dict[tuple[str, int], dict[str, float]] = {}
    # round-robin over the pipelines, one child process per run, keeping each one's best: this
    # machine's speed drifts, and interleaving spreads the drift over every pipeline alike
    for _ in range(args.repeats):
        for name, threads in runs:
            command = [sys.executable, __file__, "--child", name, "--threads", str(threads)]
            command += ["--data", args.data, "--repeats", "1", "--sample-rate", str(args.sample_rate)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            run = json.loads(output.strip().splitlines()[-1])
            best = results.setdefault((name, threads), run)
            best["seconds"] = min(best["seconds"], run["seconds"])
            best["peak_mib"] = max(best["peak_mib"], run["peak_mib"])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"{len(paths)} clips, {total_audio:.0f} s of audio, target {args.sample_rate} Hz, "
        f"log-mel {N_MELS} bands, hop {HOP}; {os.cpu_count()} CPUs ({cpu}); best of {args.repeats}\n"
    )
    print("| pipeline | threads | seconds | clips/s | × real time | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    labels = {
        "decode": "decode only (soundfile)",
        "librosa": "librosa load + melspectrogram",
        "earmark": "earmark prepare (decode + resample + log-mel + store), decoding threads",
    }
    for (name, threads), r in results.items():
        print(
            f"| {labels[name]} | {threads} | {r['seconds']:.2f} | {len(paths) / r['seconds']:.0f} | "
            f"{total_audio / r['seconds']:.0f} | {r['peak_mib']:.0f} |"
        )
    for threads in (1, 2):
        ours = results[("earmark", threads)]["seconds"]
        print(
            f"\nearmark ({threads} decoding thread{'s' if threads > 1 else ''}): "
            f"{results[('librosa', 1)]['seconds'] / ours:.1f}× librosa's throughput; "
            f"{results[('decode', 1)]['seconds'] / ours:.2f} of decode-only (1 thread), "
            f"{results[('decode', 2)]['seconds'] / ours:.2f} of decode-only (2 threads)"
        )


if __name__ == "__main__":
    main()
