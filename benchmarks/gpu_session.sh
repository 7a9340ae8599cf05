#!/usr/bin/env bash
# One GPU session, prepared and dry-run on the CPU first: the device tests, the benchmarks' GPU rows, then paper-scale
# runs through the targets' command lines, each step under its own timeout and all of it inside one deadline, so that
# a short lease still returns whatever finished.
#
#   bash benchmarks/gpu_session.sh OUT MIRROR [SECONDS] [SCALE] [PLAN]
#
# OUT: folder for logs, benchmark JSON and results (packed into OUT/gpu_session.tgz at the end); MIRROR: the offline
# data folder with SHA256SUMS; SECONDS: the whole budget (default 540); SCALE: paper (default) or test, for the CPU
# dry run (DEVICE=cpu); PLAN: what to run (default drdam):
#   drdam     issue 14: mnist/ and cifar10/ of the mirror; the DSM benchmark's GPU row, the paper scale of
#             fig_drdam_retrieval_agreement (Fig 4A, 9 Y shards) and fig_drdam_image_completion (Figs 1, 2, 4B),
#             then the DrDAM benchmark's GPU row. E4 (fig_diffusion_memorisation_images) is not in it:
#             benchmarks/bench_diffusion.py projects its paper scale at hours of one GPU (a cluster job,
#             profiles/slurm), and its GPU row measures that.
#   capacity  the first session (2026-11-26): mnist/, fashion_mnist/, word_association/; retrieval, CDAM-grid and
#             capacity benchmarks, then fig_capacity_vs_feature_dim and fig_cdam_word_association at paper scale.
# Needs only Python with the package's dependencies (no Snakemake): the package is used from src/ and every step is
# its command line.
set -u
OUT=$(realpath -m "$1"); MIRROR=$(realpath "$2"); BUDGET=${3:-540}; SCALE=${4:-paper}; PLAN=${5:-drdam}
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
START=$(date +%s); DEADLINE=$((START + BUDGET))
mkdir -p "$OUT/logs" "$OUT/bench"
WORK=$OUT/work; mkdir -p "$WORK/data/word_association" "$WORK/cfg"
export PYTHONPATH=$REPO/src:$REPO/benchmarks${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_MININTERVAL=20
PY=${PYTHON:-python3}

left() { echo $((DEADLINE - $(date +%s))); }
# step NAME MAX_SECONDS CMD...: run CMD with the smaller of MAX_SECONDS and what the deadline leaves (minus a reserve
# for packing), log to OUT/logs/NAME.log, and record rc and wall time in OUT/steps.txt.
step() {
    local name=$1 max=$2; shift 2
    local t=$(( $(left) - 20 )); [ "$t" -gt "$max" ] && t=$max
    if [ "$t" -lt 5 ]; then echo "$name skipped (deadline)" | tee -a "$OUT/steps.txt"; return; fi
    local s=$(date +%s)
    timeout --signal=INT -k 10 "$t" "$@" >"$OUT/logs/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc wall=$(( $(date +%s) - s ))s limit=${t}s" | tee -a "$OUT/steps.txt"
}

{ date -u; nvidia-smi 2>&1 | head -15; $PY -c "import torch, sys; print(sys.version); print('torch', torch.__version__,
  'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } \
    >"$OUT/logs/env.log" 2>&1

RES=$OUT/results
DEV=${DEVICE:-cuda}

plan_capacity() {
    # Data, from the mirror with its checksums.
    step data_mnist 120 $PY -m assocmem.data mnist --mirror "$MIRROR" --out "$WORK/data/mnist.pt"
    for s in usf eat; do
        step "data_$s" 120 $PY -m assocmem.data "$s" --mirror "$MIRROR" --out "$WORK/data/word_association/$s.csv.gz"
    done

    # 1. The tests that must also pass on a GPU.
    step pytest_cuda 120 $PY -m pytest -q -m cuda -p no:cacheprovider tests/test_devices.py tests/test_core.py

    # 2. Benchmarks, each with the device's own GEMM rate measured in the same run.
    if [ "$SCALE" = paper ]; then
        step bench_retrieval 90 $PY benchmarks/bench_retrieval.py --device cuda --chunk 0 \
            --out "$OUT/bench/retrieval.json"
        step bench_cdam_grid 100 $PY benchmarks/bench_cdam_grid.py --device cuda --chunks 128 \
            --out "$OUT/bench/cdam_grid.json"
        step bench_capacity_quick 60 $PY benchmarks/bench_capacity.py --device cuda --scales quick \
            --mnist "$WORK/data/mnist.pt" --out "$OUT/bench/capacity_quick.json"
        step bench_capacity_paper 70 $PY benchmarks/bench_capacity.py --device cuda --scales paper \
            --experiments kde_capacity --count-below 0 --out "$OUT/bench/capacity_paper_kde.json"
    else
        step bench_retrieval 90 $PY benchmarks/bench_retrieval.py --n-stored 2000 --queries 500 --numpy-queries 20 \
            --out "$OUT/bench/retrieval.json"
        step bench_cdam_grid 100 $PY benchmarks/bench_cdam_grid.py --p 100 --n 200 --grid 4 --steps 10 --chunks 1 \
            --out "$OUT/bench/cdam_grid.json"
        step bench_capacity_quick 60 $PY benchmarks/bench_capacity.py --scales test --mnist "$WORK/data/mnist.pt" \
            --out "$OUT/bench/capacity_quick.json"
    fi

    # 3. Paper-scale shards, in parallel (one GPU, 16 cores): capacity by data set, word association by source. Each is
    # the target's own command line on a one-key config overlay; a killed capacity run keeps its finished rows
    # (<prefix>.partial.csv).
    cat >"$WORK/cfg/sphere.yaml" <<EOF
experiments: {khm_capacity: {$SCALE: {datasets: [sphere]}}}
EOF
    cat >"$WORK/cfg/mnist.yaml" <<EOF
experiments: {khm_capacity: {$SCALE: {datasets: [mnist]}}}
EOF
    for s in usf eat; do
        echo "experiments: {cdam_word_association: {$SCALE: {sources: [$s]}}}" >"$WORK/cfg/$s.yaml"
    done
    base=(--config config/config.yaml --scale "$SCALE" --device "$DEV")
    for d in sphere mnist; do
        step "paper_capacity_$d" 100000 $PY -m assocmem.experiments.khm.capacity "${base[@]}" \
            --config "$WORK/cfg/$d.yaml" run --data "$WORK/data/mnist.pt" \
            --out-prefix "$RES/khm/runs/$d/fig_capacity_vs_feature_dim" --threads 4 &
    done
    for s in usf eat; do
        step "paper_words_$s" 100000 $PY -m assocmem.experiments.cdam.word_association "${base[@]}" \
            --config "$WORK/cfg/$s.yaml" run --usf "$WORK/data/word_association/usf.csv.gz" \
            --eat "$WORK/data/word_association/eat.csv.gz" --out-prefix "$RES/cdam/runs/$s/fig_cdam_word_association" \
            --threads 4 &
    done
    wait
}

plan_drdam() {
    # Data from the mirror (checksums verified), where `python -m assocmem run --data-dir` looks for it.
    local dd=$WORK/dd
    mkdir -p "$dd/resources/data"
    for d in mnist cifar10; do
        step "data_$d" 240 $PY -m assocmem.data $d --mirror "$MIRROR" --out "$dd/resources/data/$d.pt"
    done
    # 1. The DrDAM kernels' device tests (float32 against float64, batched, the closed-form gradient) and the rest.
    step pytest_cuda 90 $PY -m pytest -q -m cuda -p no:cacheprovider tests/test_random_features.py \
        tests/test_devices.py
    # 2. One DSM iteration and sampling step of the E4 U-Nets, with the device's own GEMM rate measured in the same
    # run: its projection of the E4 paper scale on this device.
    local scales=(quick paper --repeats 20); [ "$SCALE" = paper ] || scales=(test)
    step bench_diffusion 90 $PY benchmarks/bench_diffusion.py --device "$DEV" --scales "${scales[@]}" \
        --out "$OUT/bench/diffusion.json"
    # 3. Paper scale, one target after the other on the GPU (both are GEMM-bound with Omega held); each runs shard by
    # shard (Fig 4A: Y, smallest first; Figs 1/2/4B: the 4B beta grid) and keeps every finished shard, so a later
    # lease can finish a target with `python -m assocmem run TARGET --shard VALUE ...`.
    local run=($PY -m assocmem run --config config/config.yaml --scale "$SCALE" --device "$DEV" --results "$RES"
               --data-dir "$dd" --threads 4)
    step paper_drdam_4a $(( $(left) - 150 )) "${run[@]}" fig_drdam_retrieval_agreement  # leave the images 2 min
    step paper_drdam_images 100000 "${run[@]}" fig_drdam_image_completion
    # 4. What time is left: one DrDAM and MrDAM descent step against K (D = 3072, Y = 100,000).
    local quick=(); [ "$SCALE" = paper ] || quick=(--quick)
    step bench_drdam 90 $PY benchmarks/bench_drdam.py --device "$DEV" "${quick[@]}" --out "$OUT/bench/drdam.json"
}

case $PLAN in
    drdam) plan_drdam ;;
    capacity) plan_capacity ;;
    *) echo "unknown plan $PLAN (drdam or capacity)" >&2; exit 2 ;;
esac
nvidia-smi --query-gpu=memory.used,memory.total --format=csv >>"$OUT/logs/env.log" 2>&1
echo "total wall $(( $(date +%s) - START ))s" | tee -a "$OUT/steps.txt"
tail -n 4 "$OUT/logs/pytest_cuda.log"
for f in "$OUT"/logs/paper_*.log "$OUT"/logs/bench_*.log; do echo "== $f"; tail -n 8 "$f" | cut -c1-400; done
tar czf "$OUT/gpu_session.tgz" -C "$OUT" steps.txt logs bench $( [ -d "$RES" ] && echo results )
