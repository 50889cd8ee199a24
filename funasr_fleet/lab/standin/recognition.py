"""
The stand-in's "recognition": a loudness/variation heuristic on the PCM that tells speech
from silence or a steady tone, and the placeholder text it reports.
"""

import array
import math
import sys

FRAME_SAMPLES = 160  # 10 ms at 16 kHz
VOICED_RMS = 200.0
MIN_VOICED_FRAMES = 30  # 300 ms


def frame_features(pcm):
    """(rms, zero-crossing rate) per 10 ms frame of 16-bit little-endian PCM."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    features = []
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        rms = math.sqrt(sum(value * value for value in frame) / FRAME_SAMPLES)
        crossings = sum(1 for a, b in zip(frame, frame[1:]) if (a < 0) != (b < 0))
        features.append((rms, crossings / FRAME_SAMPLES))
    return features


def _spread(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / (mean or 1.0)


def speech_seconds(features):
    """Seconds of speech-like audio: loud frames whose loudness and pitch vary.

    Silence fails the loudness test; a steady tone or steady noise fails the variation
    test (speech's frame energy and zero-crossing rate move a lot; a tone's do not).
    """
    voiced = [(rms, zcr) for rms, zcr in features if rms >= VOICED_RMS]
    if len(voiced) < MIN_VOICED_FRAMES:
        return 0.0
    if _spread([rms for rms, _ in features]) < 0.3 or _spread([zcr for _, zcr in voiced]) < 0.15:
        return 0.0
    return len(voiced) * FRAME_SAMPLES / 16000


def transcript(seconds, hotwords=()):
    """The stand-in's "recognised" text; the hotword suffix only when hotwords act."""
    text = f"stand-in: {seconds:.1f} s of speech"
    if hotwords:
        text += f" [hotwords: {', '.join(sorted(hotwords))}]"
    return text
