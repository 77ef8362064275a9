#!/usr/bin/env bash
# Side by side, in one run: tandem-loadgen against rtpengine (userspace, --table=-1) and then
# against `tandem run --ng`, each engine pinned to one core and the loadgen to the other.
#
#   benches/scripts/loadgen_vs_rtpengine.sh [loadgen options...]
#   e.g. benches/scripts/loadgen_vs_rtpengine.sh --scenario transcode --start 10 --step 10 --max 80
#
# With CLIENT=ng_rate the same engines are driven by the call setup rate bench instead
# (offer, answer, delete per call, no media; options are ng_rate's):
#   CLIENT=ng_rate benches/scripts/loadgen_vs_rtpengine.sh --calls 5000 --in-flight 1,32
#
# Environment:
#   CLIENT       loadgen (default) or ng_rate
#   LOADGEN      the client binary ($CARGO_TARGET_DIR/release/$CLIENT, built if missing)
#   TANDEM       the tandem binary ($CARGO_TARGET_DIR/release/tandem; Tandem is skipped if absent)
#   ENGINES      which engines, in order (default "rtpengine tandem"): rtpengine, tandem (its
#                default packet I/O), tandem-udp, tandem-uring (`tandem run --io udp|uring`);
#                e.g. ENGINES="tandem-udp tandem-uring" compares Tandem's two backends back to back
#   TANDEM_CONFIG  tandem's config file; by default one written here with rtpengine's Opus
#                encoder settings (stereo, complexity 10, 32 kbit/s, application audio, no
#                FEC, as its libavcodec libopus encoder has them), for a like-for-like run
#   ENGINE_CPU   core for the engine (0); LOADGEN_CPU core for the loadgen (1)
#   LOADGEN_RT   1: run the loadgen SCHED_FIFO (chrt -f 10) so that other work on a shared
#                machine does not delay its packets (it sleeps between 1 ms slots)
#   ENGINE_RT    1: run the engine SCHED_FIFO too (chrt -f 5): on a shared, loaded machine this
#                measures the engine's CPU capacity instead of the other tenants' scheduling
#                delays (the kernel's RT throttling still leaves 5 % of the core to others)
#
# Only loopback addresses are used; each engine is stopped by its PID, and every run is
# bounded by the loadgen's own limits plus a timeout.
set -euo pipefail

cd "$(dirname "$0")/../.."
TARGET="${CARGO_TARGET_DIR:-target}"
CLIENT="${CLIENT:-loadgen}"
LOADGEN="${LOADGEN:-$TARGET/release/$CLIENT}"
TANDEM="${TANDEM:-$TARGET/release/tandem}"
ENGINES="${ENGINES:-rtpengine tandem}"
ENGINE_CPU="${ENGINE_CPU:-0}"
LOADGEN_CPU="${LOADGEN_CPU:-1}"
# Longest a whole loadgen run may take (40 steps of 130 s is the loadgen's own bound).
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
# Ports below engine_bench's RTP range (20000-31999) and the server tests' (35000-40999), so
# both benchmarks and the test suite can share a machine.
NG_RTPENGINE=127.0.0.1:12230
NG_TANDEM=127.0.0.1:12231

if [[ ! -x "$LOADGEN" ]]; then
    cargo build --release -p tandem-benches --bin "$CLIENT"
fi
run_loadgen=(timeout "$RUN_TIMEOUT" taskset -c "$LOADGEN_CPU")
if [[ "${LOADGEN_RT:-0}" == 1 ]]; then
    run_loadgen=(timeout "$RUN_TIMEOUT" chrt -f 10 taskset -c "$LOADGEN_CPU")
fi

WORK="$(mktemp -d /tmp/loadgen-vs.XXXXXX)"
# Each engine runs under `timeout` (so it ends even if this script is killed); WRAPPER_PID is
# that timeout process, ENGINE_PID the engine itself (its child), whose CPU is measured.
WRAPPER_PID=""
ENGINE_PID=""
stop_engine() {
    if [[ -n "$WRAPPER_PID" ]] && kill -0 "$WRAPPER_PID" 2>/dev/null; then
        kill -TERM "$WRAPPER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$WRAPPER_PID" 2>/dev/null || break; sleep 0.1; done
        [[ -n "$ENGINE_PID" ]] && kill -KILL "$ENGINE_PID" 2>/dev/null || true
        kill -KILL "$WRAPPER_PID" 2>/dev/null || true
    fi
    WRAPPER_PID=""
    ENGINE_PID=""
}
ENGINE_TIMEOUT=$((RUN_TIMEOUT + 60))
engine_prefix=(timeout "$ENGINE_TIMEOUT" taskset -c "$ENGINE_CPU")
if [[ "${ENGINE_RT:-0}" == 1 ]]; then
    engine_prefix=(timeout "$ENGINE_TIMEOUT" chrt -f 5 taskset -c "$ENGINE_CPU")
fi
trap stop_engine EXIT

echo "# $(date -u '+%F %T') UTC, $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)," \
     "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), logs in $WORK"
echo "# engine on CPU $ENGINE_CPU${ENGINE_RT:+ (ENGINE_RT=$ENGINE_RT)}, loadgen on CPU $LOADGEN_CPU${LOADGEN_RT:+ (LOADGEN_RT=$LOADGEN_RT)}, loadgen options: $*"

for engine in $ENGINES; do
    case "$engine" in
    rtpengine)
        command -v rtpengine >/dev/null || { echo "rtpengine: not installed (scripts/deps.sh bench)"; continue; }
        # --num-threads=1: one media thread, the like-for-like of `tandem run --workers 1`.
        # --delete-delay=0: free a deleted call's ports at once, as Tandem does (rtpengine
        # keeps them 30 s by default, which runs its port range dry in a setup-rate run).
        "${engine_prefix[@]}" rtpengine --config-file=none --table=-1 --interface=127.0.0.1 \
            --listen-ng="$NG_RTPENGINE" --port-min=50000 --port-max=59999 --foreground \
            --delete-delay=0 \
            --log-stderr --log-level=3 --num-threads=1 > "$WORK/rtpengine.log" 2>&1 &
        WRAPPER_PID=$!
        ng="$NG_RTPENGINE"
        label="rtpengine $(rtpengine --version 2>&1 | awk '/Version/ {print $2}')"
        ;;
    tandem|tandem-udp|tandem-uring)
        [[ -x "$TANDEM" ]] || { echo "tandem: no binary at $TANDEM (cargo build --release -p tandem)"; continue; }
        io_flag=()
        case "$engine" in
        tandem-udp) io_flag=(--io udp) ;;
        tandem-uring) io_flag=(--io uring) ;;
        esac
        config="${TANDEM_CONFIG:-$WORK/tandem-like-rtpengine.toml}"
        if [[ -z "${TANDEM_CONFIG:-}" ]]; then
            printf '[opus]\nchannels = 2\ncomplexity = 10\nbitrate = 32000\napplication = "audio"\nfec = false\n' > "$config"
        fi
        "${engine_prefix[@]}" "$TANDEM" run --config "$config" --workers 1 --ng "$NG_TANDEM" \
            --rtp-ports 41000-49999 --sip 127.0.0.1:15060 --api 127.0.0.1:18088 \
            "${io_flag[@]}" > "$WORK/$engine.log" 2>&1 &
        WRAPPER_PID=$!
        ng="$NG_TANDEM"
        label="$engine"
        ;;
    *) echo "unknown engine $engine"; continue ;;
    esac
    sleep 1
    ENGINE_PID="$(pgrep -P "$WRAPPER_PID" | head -1 || true)"
    if [[ -z "$ENGINE_PID" ]]; then
        echo "$label: did not start; see $WORK/$engine.log"
        stop_engine
        continue
    fi
    echo
    client_args=(--ng "$ng" --engine-pid "$ENGINE_PID" --label "$label")
    [[ "$CLIENT" == loadgen ]] && client_args+=(--floor-cpu "$ENGINE_CPU")
    "${run_loadgen[@]}" "$LOADGEN" "${client_args[@]}" "$@" \
        || echo "$label: $CLIENT exited with $?"
    stop_engine
done
