"""Single instrument notes rendered from the FluidR3 General MIDI SoundFont: a folder per class.

A stand-in for the instrument-note data set of issue 16's fourth testbed (not in ``../shared``):
sampled recordings of real instruments (the FluidR3 SoundFont, Debian package
``fluid-soundfont-gm``), played one note at a time by the ``fluidsynth`` command line (package
``fluidsynth``) from Standard MIDI Files this script writes itself.

The twelve classes and their General MIDI programs (0-based) and MIDI pitch ranges:

==================  =======  ===========
class               program  pitches
==================  =======  ===========
acoustic_piano      0        36-96
marimba             12       45-96
church_organ        19       36-84
nylon_guitar        24       40-76
violin              40       55-96
cello               42       36-72
string_ensemble     48       36-84
trumpet             56       55-82
french_horn         60       41-77
alto_sax            65       49-80
clarinet            71       50-89
flute               73       60-96
==================  =======  ===========

Each class gets ``--pitches`` pitches spread evenly over its range, each at the velocities of
``--velocities`` (default 50, 80, 110): 15 × 3 = 45 notes per class, 540 in all. A note sounds
for ``--note-seconds`` (2 s) and the file lasts ``--file-seconds`` (3 s: the release and reverb
tail), mono, 22,050 Hz, 16-bit WAV, at ``<out>/<class>/<class>-p<pitch>-v<velocity>.wav``.
The clip id (the file stem) names the recording group ``<class>-p<pitch>``: the velocities of one
pitch are takes of one recording, kept on one side of a split with
``--group-pattern '^(.+-p\\d+)-v'``. Files already written are kept (a rerun resumes).

    apt-get install -y fluidsynth fluid-soundfont-gm
    python benchmarks/instrument_notes.py --out runs/instrument_notes

Prints the wall time and the CPU seconds of the renders (fluidsynth child processes included).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

SOUNDFONT_PACKAGE = "fluid-soundfont-gm"
TICKS_PER_QUARTER = 480
MICROSECONDS_PER_QUARTER = 500_000  # 120 beats per minute: 960 ticks per second
TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 // MICROSECONDS_PER_QUARTER

#: class -> (General MIDI program, 0-based; lowest and highest MIDI pitch played)
INSTRUMENTS: dict[str, tuple[int, int, int]] = {
    "acoustic_piano": (0, 36, 96),
    "marimba": (12, 45, 96),
    "church_organ": (19, 36, 84),
    "nylon_guitar": (24, 40, 76),
    "violin": (40, 55, 96),
    "cello": (42, 36, 72),
    "string_ensemble": (48, 36, 84),
    "trumpet": (56, 55, 82),
    "french_horn": (60, 41, 77),
    "alto_sax": (65, 49, 80),
    "clarinet": (71, 50, 89),
    "flute": (73, 60, 96),
}


def variable_length(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits per byte, most significant first, high bit = more."""
    if value < 0:
        raise ValueError(f"a MIDI delta time cannot be negative, got {value}")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def single_note_midi(
    program: int, pitch: int, velocity: int, *, note_seconds: float, file_seconds: float
) -> bytes:
    """The bytes of a Standard MIDI File (type 0, one track) that plays one note on channel 1.

    Program change and note-on at time 0, note-off after ``note_seconds``, end of track at
    ``file_seconds`` (so the renderer keeps the release).
    """
    for name, value, high in (("program", program, 127), ("pitch", pitch, 127), ("velocity", velocity, 127)):
        if not 0 <= value <= high:
            raise ValueError(f"MIDI {name} must be in [0, {high}], got {value}")
    if not 0 < note_seconds <= file_seconds:
        raise ValueError(f"need 0 < note_seconds <= file_seconds, got {note_seconds} and {file_seconds}")
    note_ticks = round(note_seconds * TICKS_PER_SECOND)
    tail_ticks = round(file_seconds * TICKS_PER_SECOND) - note_ticks
    events = [
        variable_length(0) + b"\xff\x51\x03" + MICROSECONDS_PER_QUARTER.to_bytes(3, "big"),  # tempo
        variable_length(0) + bytes([0xC0, program]),
        variable_length(0) + bytes([0x90, pitch, velocity]),
        variable_length(note_ticks) + bytes([0x80, pitch, 0]),
        variable_length(tail_ticks) + b"\xff\x2f\x00",  # end of track
    ]
    track = b"".join(events)
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TICKS_PER_QUARTER.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def spread_pitches(low: int, high: int, count: int) -> list[int]:
    """``count`` distinct MIDI pitches spread evenly over ``[low, high]``."""
    if high - low + 1 < count:
        raise ValueError(f"the range {low}-{high} holds fewer than {count} pitches")
    return sorted({round(p) for p in np.linspace(low, high, count)})


def render(
    midi: bytes, out: Path, *, soundfont: Path, sample_rate: int, file_seconds: float, gain: float
) -> None:
    """Render ``midi`` with fluidsynth, downmix to mono, cut or pad to ``file_seconds``, write ``out``."""
    with tempfile.TemporaryDirectory() as folder:
        midi_path, wav_path = Path(folder) / "note.mid", Path(folder) / "note.wav"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(sample_rate), "-F", str(wav_path)]
        subprocess.run([*command, str(soundfont), str(midi_path)], check=True, capture_output=True)
        samples, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz for {out.name}, not the {sample_rate} Hz asked for")
    mono = samples.mean(axis=1)
    length = round(file_seconds * sample_rate)
    mono = np.pad(mono[:length], (0, max(0, length - len(mono))))
    if float(np.abs(mono).max()) < 1e-3:
        raise RuntimeError(
            f"{out.name}: the rendered note is silent (is the pitch in the instrument's range?)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part.wav")
    soundfile.write(partial, mono, sample_rate, subtype="PCM_16")
    partial.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/instrument_notes"))
    parser.add_argument(
        "--soundfont", type=Path, help=f"a General MIDI .sf2 (default: the one {SOUNDFONT_PACKAGE} installed)"
    )
    parser.add_argument("--pitches", type=int, default=15, help="pitches per class")
    parser.add_argument("--velocities", type=int, nargs="+", default=[50, 80, 110])
    parser.add_argument("--note-seconds", type=float, default=2.0)
    parser.add_argument("--file-seconds", type=float, default=3.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--gain", type=float, default=0.8, help="fluidsynth's master gain (-g)")
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth is not installed (apt-get install -y fluidsynth fluid-soundfont-gm)")
    args.soundfont = args.soundfont or packaged_soundfont()
    if not args.soundfont.is_file():
        raise SystemExit(f"no SoundFont at {args.soundfont} (apt-get install -y {SOUNDFONT_PACKAGE})")
    start_wall, start_cpu = time.perf_counter(), _cpu_seconds()
    written = kept = 0
    for name, (program, low, high) in INSTRUMENTS.items():
        for pitch in spread_pitches(low, high, args.pitches):
            for velocity in args.velocities:
                out = args.out / name / f"{name}-p{pitch:03d}-v{velocity:03d}.wav"
                if out.exists():
                    kept += 1
                    continue
                midi = single_note_midi(
                    program, pitch, velocity, note_seconds=args.note_seconds, file_seconds=args.file_seconds
                )
                render(
                    midi,
                    out,
                    soundfont=args.soundfont,
                    sample_rate=args.sample_rate,
                    file_seconds=args.file_seconds,
                    gain=args.gain,
                )
                written += 1
    wall, cpu = time.perf_counter() - start_wall, _cpu_seconds() - start_cpu
    print(
        f"{written} notes rendered, {kept} kept, {len(INSTRUMENTS)} classes in {args.out}: "
        f"{wall:.1f} s wall, {cpu:.1f} CPU-s (fluidsynth included)"
    )


def packaged_soundfont() -> Path:
    """The ``.sf2`` file the Debian package ``fluid-soundfont-gm`` installed (``dpkg -L``)."""
    listing = subprocess.run(["dpkg", "-L", SOUNDFONT_PACKAGE], capture_output=True, text=True)
    found = [Path(line) for line in listing.stdout.splitlines() if line.endswith(".sf2")]
    if listing.returncode != 0 or not found:
        raise SystemExit(f"{SOUNDFONT_PACKAGE} is not installed (apt-get install -y {SOUNDFONT_PACKAGE})")
    return found[0]


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
