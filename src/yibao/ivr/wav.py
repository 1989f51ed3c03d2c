"""16-bit mono WAV files for the phone line: read, resampled to 16 kHz, peak-levelled, written.

espeak-ng writes 22.05 kHz at whatever level its amplitude gives; callers should hear every
prompt equally loud and never clipped, and 16 kHz (wide-band telephony) is all a phone
line carries, in a file a quarter smaller.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

RATE = 16_000
PEAK_DBFS = -3.0  # headroom below full scale: no clipping after a codec's rounding
FULL_SCALE = 32_767
_TAPS = 101  # low-pass filter length: enough for a steep cut below the new Nyquist frequency


def read(path: Path) -> tuple[np.ndarray, int]:
    """The samples (float, full scale 1.0) and the sample rate of a 16-bit mono WAV file."""
    try:
        with wave.open(str(path), "rb") as audio:
            shape_ok = audio.getnchannels() == 1 and audio.getsampwidth() == 2
            frames, rate = audio.readframes(audio.getnframes()), audio.getframerate()
    except (wave.Error, EOFError) as error:
        raise ValueError(f"not a readable WAV file: {error}") from error
    if not shape_ok:
        raise ValueError("not a 16-bit mono WAV file")
    return np.frombuffer(frames, dtype="<i2").astype(np.float64) / FULL_SCALE, rate


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    pcm = np.clip(np.round(samples * FULL_SCALE), -FULL_SCALE, FULL_SCALE).astype("<i2")
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(pcm.tobytes())


def resampled(samples: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    """Band-limited to 90 % of the new Nyquist frequency (windowed-sinc filter), then interpolated."""
    if rate == to or samples.size == 0:
        return samples
    if to < rate:
        cutoff = 0.9 * (to / 2) / rate  # cycles per input sample
        n = np.arange(_TAPS) - (_TAPS - 1) / 2
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(_TAPS)
        samples = np.convolve(samples, taps / taps.sum(), mode="same")
    times = np.arange(int(samples.size * to / rate)) * (rate / to)
    return np.interp(times, np.arange(samples.size), samples)


def levelled(samples: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scaled so that the loudest sample is at ``peak_dbfs``; silence stays silence."""
    peak = float(np.abs(samples).max(initial=0.0))
    return samples if peak == 0 else samples * (10 ** (peak_dbfs / 20) / peak)


def for_the_line(path: Path) -> None:
    """Rewrite a synthesized WAV file in place as the line plays it: 16 kHz, peaks at ``PEAK_DBFS``."""
    samples, rate = read(path)
    write(path, levelled(resampled(samples, rate)))


def peak_dbfs(samples: np.ndarray) -> float:
    peak = float(np.abs(samples).max(initial=0.0))
    return -math.inf if peak == 0 else 20 * math.log10(peak)
