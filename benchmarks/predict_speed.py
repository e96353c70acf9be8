"""``earmark predict`` on a one-hour file: real-time factor and peak memory.

The file is made of real ESC-10 clips laid end to end until it lasts an hour (16 kHz FLAC), so
the audio is real and the length is what a user would bring. ``earmark predict`` runs as its own
process; its wall time gives the real-time factor and its peak resident memory is read back.

    python benchmarks/predict_speed.py --run runs/demo/esc10-run [--data ../shared/data] [--hours 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile


def make_long_file(data: Path, path: Path, seconds: float, sample_rate: int = 16000) -> float:
    clips = sorted((data / "esc10" / "audio").glob("*/*.flac"))
    if not clips:
        raise SystemExit(f"no ESC-10 clips under {data}")
    total = int(seconds * sample_rate)
    written = 0
    with soundfile.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, format="FLAC") as out:
        while written < total:
            for clip in clips:
                samples, rate = soundfile.read(str(clip), dtype="float32")
                if rate != sample_rate:
                    raise SystemExit(f"{clip} is not {sample_rate} Hz")
                piece = samples[: total - written]
                out.write(piece)
                written += len(piece)
                if written >= total:
                    break
    return written / sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", default=os.environ.get("EARMARK_DATA", "../shared/data"))
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        seconds = make_long_file(Path(args.data), path, args.hours * 3600)
        command = [sys.executable, "-m", "earmark", "predict", "--run", args.run, str(path), "--top-k", "3"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(result.stderr[-2000:])
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"file: {seconds:.0f} s of real ESC-10 audio, 16 kHz FLAC; {os.cpu_count()} CPUs")
    print("| audio | wall seconds (process, incl. start-up) | × real time | peak RSS (MiB) |")
    print("|---|---|---|---|")
    print(f"| {seconds / 3600:.2f} h | {wall:.1f} | {seconds / wall:.0f} | {peak_mib:.0f} |")
    print("\n" + result.stdout.strip().splitlines()[-1][:200])


if __name__ == "__main__":
    main()
