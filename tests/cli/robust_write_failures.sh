#!/usr/bin/env bash
# Failing writes (a file-size limit, `ulimit -f`, with SIGXFSZ ignored so
# write() returns EFBIG "File too large" as on a full disk):
#   - a checkpoint save that fails leaves the previous checkpoint byte for
#     byte, `latest` still naming it, no half-written step folder; the run
#     exits 1 with a message naming the file that could not be written;
#   - `mtbert prepare` whose shard write fails exits 1 naming the shard path
#     and leaves no shard (nor temporary file) behind;
#   - prepare into an output path under a regular file, and an over-long
#     output path, exit non-zero with the path named.
. "$(dirname "$0")/lib/common.sh"
N=4
# $1 = limit in 1 KiB blocks; the rest: the command
limited() { local lim=$1; shift; ( trap '' XFSZ; ulimit -f "$lim"; exec "$@" ); }

synthetic "$T/data" --train 64 --dev 16 --seed 5
SETS=(--set "model.vocab=$T/data/vocab.txt" --set model.hidden_size=32 --set model.num_layers=1
      --set model.num_heads=2 --set model.intermediate_size=64 --set data.batch_size=8
      --set train.epochs= --set train.threads=2 --set train.backend=cpu --set logging.every=1
      --set schedule.warmup_ratio=0 --set schedule.decay=constant --set checkpoint.every=$N
      --set checkpoint.keep_last=0 --set eval.every=0 --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$T/data/dev-*.h5")
done
C1=$(printf 'step-%07d' $N) C2=$(printf 'step-%07d' $((2 * N)))
R="$T/run"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$R" --set train.steps=$N \
    >"$T/stdout" 2>"$T/stderr" || fail "first run"
[ "$(cat "$R/latest")" = "$C1" ] || fail "latest after the first run"
WSIZE=$(stat -c %s "$R/$C1/model.safetensors")
[ "$WSIZE" -gt 65536 ] || fail "model.safetensors only $WSIZE bytes: the limit below would not bite"
(cd "$R/$C1" && find . -type f -exec sha256sum {} + > "$T/c1.sum")
# the second checkpoint: model.safetensors is larger than the 64 KiB limit
limited 64 "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$R" \
    --set train.steps=$((2 * N)) --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 1 ] || fail "checkpoint write failure: exit $rc, expected 1"
grep -q "File too large" "$T/stderr" || fail "no 'File too large' in the message"
grep -qF "$R/" "$T/stderr" || fail "the message does not name the path under $R"
[ "$(cat "$R/latest")" = "$C1" ] || fail "latest names '$(cat "$R/latest")' after the failed save"
[ -e "$R/$C2" ] && fail "$C2 exists after a failed save"
ls -A "$R" | grep -q "^\.$C2" && fail "temporary folder .$C2* left behind"
(cd "$R/$C1" && sha256sum -c --quiet "$T/c1.sum") || fail "$C1 changed by the failed save"
# and the run can still resume from it
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$R" --set train.steps=$((2 * N)) \
    --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" || fail "resume after the failed save"
[ "$(cat "$R/latest")" = "$C2" ] || fail "latest after the resumed run"

# prepare: the shard write fails
printf 'pos\tgood film\nneg\tbad film\n' > "$T/in.tsv"
for i in $(seq 1 2000); do printf 'pos\tgood film number %d\n' $i; done >> "$T/in.tsv"
limited 16 "$BIN" prepare --format lines --vocab "$T/data/vocab.txt" --out "$T/out" --name tr "$T/in.tsv" \
    >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 1 ] || fail "prepare write failure: exit $rc, expected 1"
grep -qF "$T/out/" "$T/stderr" || fail "prepare: the message does not name the output path"
grep -qiE "too large|write|HDF5|cannot" "$T/stderr" || fail "prepare: the message does not say what failed"
[ -z "$(ls -A "$T/out" 2>/dev/null | grep -v '^$')" ] || fail "prepare left files: $(ls -A "$T/out")"
# the same without the limit works (so the failure above was the write)
"$BIN" prepare --format lines --vocab "$T/data/vocab.txt" --out "$T/out" --name tr "$T/in.tsv" \
    >"$T/stdout" 2>"$T/stderr" || fail "prepare without the limit"

# output under a regular file; an over-long output path
: > "$T/plainfile"
"$BIN" prepare --format lines --vocab "$T/data/vocab.txt" --out "$T/plainfile/sub" "$T/in.tsv" \
    >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -ne 0 ] || fail "prepare into a path under a regular file succeeded"
grep -qF "$T/plainfile" "$T/stderr" || fail "prepare under a file: path not named"
LONG="$T/$(printf 'x%.0s' $(seq 1 300))"
"$BIN" prepare --format lines --vocab "$T/data/vocab.txt" --out "$LONG" "$T/in.tsv" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -ne 0 ] || fail "prepare into an over-long path succeeded"
grep -qiE "too long|name" "$T/stderr" || fail "over-long path: no 'too long' message"
echo "PASS robust_write_failures"
