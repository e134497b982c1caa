#!/usr/bin/env bash
# model.path = a sentence-transformers folder: the config's model.pooling and
# model.normalize apply (docs/config.md), and where they differ from the
# folder's Pooling / Normalize modules training says so on stderr (a triplet
# loss on all-MiniLM-L6-v2 without its Normalize is another objective: first
# loss 0.111 against sentence-transformers' 4.007, bench/contrastive_st_parity.sh).
#   1. a tiny model trained with mean pooling and normalize, exported (Pooling
#      mean, 3_Normalize);
#   2. training from it with model.normalize false: a warning naming
#      model.normalize; with pooling cls: one naming model.pooling; with
#      the folder's settings: no warning.
. "$(dirname "$0")/lib/common.sh"
synthetic "$T/d" --train 40 --dev 10 --seed 4
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set model.pooling=mean --set model.normalize=true --set train.steps=1 \
    --set eval.every=0 --set "train.run_dir=$T/run" --quiet >/dev/null 2>"$T/stderr" || fail "train"
"$BIN" export --checkpoint "$T/run/latest" --out "$T/st" 2>"$T/stderr" || fail "export"
[ -d "$T/st/3_Normalize" ] || fail "the export has no 3_Normalize"
from_folder() { # run-name --set options...
    local r=$1; shift
    "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "model.path=$T/st" --set train.steps=1 --set eval.every=0 \
        --set "train.run_dir=$T/$r" "$@" --quiet >/dev/null 2>"$T/stderr" || fail "train from the folder ($r)"
}
from_folder a --set model.pooling=mean --set model.normalize=false
grep -q "warning: .*Normalize module, the config says model.normalize: false" "$T/stderr" ||
    fail "no warning for model.normalize false on a folder with Normalize"
grep -q "model.pooling" "$T/stderr" && fail "a pooling warning with the folder's pooling"
from_folder b --set model.pooling=cls --set model.normalize=true
grep -q "warning: .*Pooling is mean, the config says model.pooling: cls" "$T/stderr" ||
    fail "no warning for model.pooling cls on a mean-pooling folder"
grep -q "model.normalize" "$T/stderr" && fail "a normalize warning with the folder's normalize"
from_folder c --set model.pooling=mean --set model.normalize=true
grep -q "warning: .*sentence-transformers\|Normalize module" "$T/stderr" && fail "a warning with the folder's own settings"
echo "warnings: normalize false on a Normalize folder, pooling cls on a mean folder; none with the folder's settings"
echo "PASS"
