#!/usr/bin/env bash
# encode / predict / export on hostile input (issue 15), all through the one
# inference path (trainer/store/model_open.c):
#   - predict on a token-task model with more words than --max-len: no
#     overflow; words past the truncation point get tag null (point 1);
#   - encode --out X.npy / X.txt / X.h5 whose write fails (a file-size limit,
#     as a full disk): the old file is left byte for byte, no temporary file
#     stays, the message names the path (point 11);
#   - NaN in a model's weights: encode, predict, export refuse, naming the
#     tensor (point 15);
#   - a NUL byte inside a line: "FILE:LINE: NUL byte at byte N", exit 2 (19);
#   - RUN/latest, RUN/best and the run directory are accepted wherever a
#     model folder is (encode, predict, export, eval --checkpoint,
#     --init-from) (point 21);
#   - --max-len abc / 0, --threads -3, a missing value, --backend cuda
#     without a GPU, --precision fp16: named errors, exit 2 (23).
. "$(dirname "$0")/lib/common.sh"
limited() { local lim=$1; shift; ( trap '' XFSZ; ulimit -f "$lim"; exec "$@" ); }

synthetic "$T/d" --train 200 --dev 20
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
R="$T/run"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$R" --set train.steps=6 --set eval.every=3 --set checkpoint.every=3 \
    --set model.max_position_embeddings=64 --set data.max_len=64 --quiet >"$T/stdout" 2>"$T/stderr" || fail "train"
CK="$R/$(cat "$R/latest")"
[ -d "$CK" ] || fail "no checkpoint $CK"
[ -f "$R/best" ] || fail "no best pointer"

# 21: pointers and run directories
printf 'the match was great\nPedro Larsen visited Lake Geneva .\n' > "$T/in.txt"
"$BIN" encode --model "$CK" --input "$T/in.txt" > "$T/ref.txt" 2>"$T/stderr" || fail "encode checkpoint"
for m in "$R/latest" "$R/best" "$R"; do
    "$BIN" encode --model "$m" --input "$T/in.txt" > "$T/e.txt" 2>"$T/stderr" || fail "encode --model $m"
    [ "$m" = "$R/best" ] || cmp -s "$T/ref.txt" "$T/e.txt" || fail "encode --model $m: not the latest checkpoint"
    "$BIN" predict --model "$m" --input "$T/in.txt" > /dev/null 2>"$T/stderr" || fail "predict --model $m"
done
"$BIN" export --checkpoint "$R/latest" --out "$T/exp" 2>"$T/stderr" || fail "export RUN/latest"
"$BIN" eval "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$T/evalrun" --checkpoint "$R" \
    > "$T/eval.json" 2>"$T/stderr" || fail "eval --checkpoint RUN"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$T/run2" --set train.steps=1 \
    --set eval.every=0 --init-from "$R/latest" --quiet >/dev/null 2>"$T/stderr" || fail "--init-from RUN/latest"
echo "step-9999999" > "$T/bad-pointer"
"$BIN" encode --model "$T/bad-pointer" < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -q "bad-pointer: names 'step-9999999'" "$T/stderr" || fail "dangling pointer: rc $rc"

# 1: more words than max_len on a token task
python3 -c "print(' '.join(['Geneva'] * 300))" > "$T/long.txt"
"$BIN" predict --model "$CK" --input "$T/long.txt" --max-len 16 > "$T/long.json" 2>"$T/stderr" || fail "predict long line"
python3 - "$T/long.json" <<'PY' || fail "predict long line output"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
tags = r["ner"]["tags"]
assert len(tags) == 300 == len(r["ner"]["words"]), len(tags)
# [CLS] + 14 pieces + [SEP]: one piece per word here, so 14 words are tagged
tagged = [t for t in tags if t is not None]
assert len(tagged) == 14 and all(t is None for t in tags[14:]), tags[:20]
for e in r["ner"]["entities"]:
    assert e["end"] < 14, e
PY

# 11: a failing write keeps the old output and names the path
for ext in npy txt h5; do
    out="$T/emb.$ext"
    "$BIN" encode --model "$CK" --input "$T/in.txt" --out "$out" 2>"$T/stderr" || fail "encode --out $out"
    sum=$(sha256sum < "$out")
    python3 -c "print('\n'.join(['word '] * 4000))" > "$T/many.txt"
    limited 8 "$BIN" encode --model "$CK" --input "$T/many.txt" --out "$out" >/dev/null 2>"$T/stderr"; rc=$?
    [ $rc = 1 ] || fail "encode --out $out on a full disk: exit $rc, expected 1"
    grep -qF "$out" "$T/stderr" || fail "encode --out $out: the message does not name the file"
    [ "$(sha256sum < "$out")" = "$sum" ] || fail "encode --out $out: the old file was changed"
    ls "$T" | grep -q "emb.$ext.tmp" && fail "encode --out $out: a temporary file was left"
done

# 19: NUL byte
printf 'fine line\nbad\0line\n' > "$T/nul.txt"
for cmd in encode predict; do
    "$BIN" $cmd --model "$CK" --input "$T/nul.txt" >/dev/null 2>"$T/stderr"; rc=$?
    [ $rc = 2 ] && grep -qF "nul.txt:2: NUL byte at byte 3" "$T/stderr" || fail "$cmd NUL byte: rc $rc"
done

# 23: option values
for bad in "--max-len abc" "--max-len 0" "--threads -3" "--batch 0"; do
    "$BIN" encode --model "$CK" $bad < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
    [ $rc = 2 ] && grep -q "is not an integer in" "$T/stderr" || fail "encode $bad: rc $rc"
done
"$BIN" encode --model "$CK" --max-len < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -q "option '--max-len' needs a value" "$T/stderr" || fail "missing value: rc $rc"
"$BIN" encode --model "$CK" --frobnicate < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -q "unknown option '--frobnicate'" "$T/stderr" || fail "unknown option: rc $rc"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    for cmd in encode predict; do
        "$BIN" $cmd --model "$CK" --backend cuda < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
        [ $rc = 2 ] && grep -q "backend cuda: " "$T/stderr" || fail "$cmd --backend cuda without a GPU: rc $rc"
    done
fi
# (bf16 on the CPU is the cpu-bf16 numerics reference: tests/cli/train_bf16_cpu.sh)
"$BIN" encode --model "$CK" --precision fp16 < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -q "'fp16' is not fp32 or bf16" "$T/stderr" || fail "--precision fp16: rc $rc"

# 15: NaN in the weights
cp -r "$T/exp" "$T/nan"
python3 - "$T/nan/model.safetensors" <<'PY' || fail "could not poison the weights"
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
name = sorted(k for k in h if k.endswith("attention.self.query.weight"))[0]
lo = 8 + n + h[name]["data_offsets"][0]
b[lo + 4 * 5:lo + 4 * 6] = struct.pack("<f", float("nan"))
open(p, "wb").write(b)
print(name)
PY
for cmd in "encode --model" "predict --model" "export --out $T/nan-out --checkpoint"; do
    "$BIN" $cmd "$T/nan" < "$T/in.txt" >/dev/null 2>"$T/stderr"; rc=$?
    [ $rc = 2 ] && grep -q "attention.self.query.weight holds a non-finite value" "$T/stderr" \
        || fail "$cmd on NaN weights: rc $rc"
done
echo "inference_inputs: ok"
