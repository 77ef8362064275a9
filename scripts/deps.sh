#!/usr/bin/env bash
# Installs the Debian packages Tandem needs, idempotently: packages already present are
# skipped, and apt-get runs only when something is missing.
#
#   scripts/deps.sh build   what building needs (cmake builds the bundled libopus 1.5)
#   scripts/deps.sh test    that, plus the real peers and references the tests run against
#   scripts/deps.sh bench   that, plus the peers the engine benchmarks compare against
set -euo pipefail

build=(cmake pkg-config gcc make)
test=(
  sox libsox-fmt-base   # G.711 reference, test audio
  opus-tools            # opusinfo / opusdec accept our Ogg Opus
  espeak-ng             # speech for codec, DTMF talk-off and talk-detection tests
  libspandsp-dev        # G.711 / G.722 / DTMF references
  libbcg729-dev         # G.729 reference
  tshark                # pcap captures decode as RTP
  sip-tester            # sipp: SIP calls and load against `tandem run`
  baresip-core          # baresip: a real SIP phone (digest REGISTER, RFC 4733 DTMF)
  kamailio              # drives Tandem over the ng protocol with its rtpengine module
)
# Side-by-side benchmark peers (not needed by the tests).
bench=(
  rtpengine-daemon rtpengine-utils   # rtpengine in userspace mode, for same-run comparisons
)

case "${1:-build}" in
  build) wanted=("${build[@]}") ;;
  test) wanted=("${build[@]}" "${test[@]}") ;;
  bench) wanted=("${build[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# PESQ (ITU-T P.862) scores the jitter-buffer evaluation (benches/scripts/pesq_score.py).
if [ "${1:-build}" != build ] && ! python3 -c "import pesq, numpy" 2>/dev/null; then
  python3 -m pip install --quiet pesq numpy || echo "warning: pip install pesq numpy failed; only the jitter evaluation needs it" >&2
fi
# ViSQOL v3, its second opinion (jitter_eval --measure visqol): benchmarks only.
if [ "${1:-build}" = bench ] && ! python3 -c "import visqol" 2>/dev/null; then
  python3 -m pip install --quiet 'visqol-python[lattice,accel]' || echo "warning: pip install visqol-python failed; only jitter_eval --measure visqol needs it" >&2
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust stable (https://rustup.rs) and re-run" >&2
  exit 1
fi
