#!/usr/bin/env bash
# Makes the health probe's speech sample: Mandarin from espeak-ng, converted by sox to
# 16 kHz mono 16-bit PCM WAV. The output is committed, so the probe needs neither tool.
# Needs: apt-get install espeak-ng sox
set -euo pipefail
out="${1:-$(dirname "$0")/../funasr_fleet/data/probe-zh-16k.wav}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v cmn -w "$tmp/speech.wav" "欢迎使用语音识别服务"
sox "$tmp/speech.wav" -r 16000 -c 1 -b 16 "$out"
echo "wrote $out"
