#!/usr/bin/env python3
"""Reads a run folder's TensorBoard event file(s) with TensorBoard's own
reader and prints every scalar tag with its count and step range.

    python tests/reference/check_tensorboard.py RUN_DIR [--compare [--ignore KEY]...]

RUN_DIR holds events.out.tfevents.* (written by trainer/train/tb_events.c);
a path to one event file works too. With --compare, every number of the run's
metrics.jsonl ({"event": "train"|"eval", "step": N, key: value, ...}) must be
in the event file as tag "<event>/<key>" (or plain "<key>") at that step
(a text field, the unfreeze record's group G: "unfreeze/G" = 1),
equal up to the 6 significant digits jsonl keeps; exit 1 when one is missing
or differs, or when the event file has scalars that jsonl lacks (--ignore KEY:
a jsonl key not to compare, e.g. one not logged to TensorBoard, or
tokens_per_s, whose "%.1f" is coarser than the 6 digits assumed here).

A sample run folder: MTBERT_TB_KEEP=DIR build/test_tb_events writes one
(an event file and the matching metrics.jsonl) into DIR.

Exit 77 (skipped) when tensorboard is not importable: CI has no venv.
    python3 -m venv /work/venv && /work/venv/bin/pip install tensorboard
"""
import argparse
import json
import math
import os
import sys


def load_scalars(path):
    from tensorboard.backend.event_processing import event_accumulator

    # size_guidance 0 = keep every event (the default samples scalars down to 10000)
    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}


def jsonl_records(path):
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if line:
                yield lineno, json.loads(line)


def as_float(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):  # non-finite numbers are written as strings: "nan", "inf"
        try:
            return float(v)
        except ValueError:
            return None
    return None


def same(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    # jsonl has %.6g; the event file has float32 (7+ digits)
    return abs(a - b) <= 1e-5 * max(abs(a), abs(b)) + 1e-30


def compare(scalars, jsonl_path, ignore=()):
    index = {tag: {ev.step: ev.value for ev in evs} for tag, evs in scalars.items()}
    used = {tag: set() for tag in scalars}
    problems = []
    checked = 0
    for lineno, rec in jsonl_records(jsonl_path):
        kind = rec.get("event")
        step = rec.get("step")
        if kind is None or step is None:
            continue
        for key, raw in rec.items():
            if key in ("event", "step") or key in ignore:
                continue
            want = as_float(raw)
            names = (f"{kind}/{key}", key)
            if want is None:
                if not isinstance(raw, str):
                    continue
                # a text field (the unfreeze record's group G) is the scalar "unfreeze/G" = 1
                want, names = 1.0, (f"{kind}/{raw}",)
            tag = next((t for t in names if t in index), None)
            if tag is None:
                problems.append(f"line {lineno}: {kind}/{key} (step {step}): no such tag")
                continue
            if step not in index[tag]:
                problems.append(f"line {lineno}: {tag}: no value at step {step}")
                continue
            got = index[tag][step]
            used[tag].add(step)
            checked += 1
            if not same(got, want):
                problems.append(f"line {lineno}: {tag} @ {step}: event file {got!r}, jsonl {want!r}")
    for tag, steps in index.items():
        if tag in ignore or tag.split("/", 1)[-1] in ignore:  # an ignored key is not compared either way
            continue
        extra = sorted(set(steps) - used[tag])
        if extra:
            problems.append(f"{tag}: steps {extra[:5]}{' ...' if len(extra) > 5 else ''} are not in metrics.jsonl")
    return checked, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="run folder (or one events.out.tfevents.* file)")
    ap.add_argument("--compare", action="store_true", help="check every number of RUN_DIR/metrics.jsonl")
    ap.add_argument("--ignore", action="append", default=[], metavar="KEY",
                    help="a metrics.jsonl key not compared, whether or not the event file has it "
                         "(repeatable; e.g. tokens_per_s, which jsonl prints with one decimal only)")
    args = ap.parse_args()
    try:
        import tensorboard  # noqa: F401
        from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
    except ImportError as e:
        print(f"check_tensorboard: skipped: tensorboard is not importable ({e})", file=sys.stderr)
        return 77
    if not os.path.exists(args.run_dir):
        print(f"check_tensorboard: {args.run_dir}: no such file or folder", file=sys.stderr)
        return 2
    files = ([args.run_dir] if os.path.isfile(args.run_dir) else
             sorted(f for f in os.listdir(args.run_dir) if "tfevents" in f))
    if not files:
        print(f"check_tensorboard: {args.run_dir}: no events.out.tfevents.* file", file=sys.stderr)
        return 1
    print(f"tensorboard {tensorboard.__version__}; event files: {', '.join(os.path.basename(f) for f in files)}")
    scalars = load_scalars(args.run_dir)
    if not scalars:
        print("check_tensorboard: no scalars found", file=sys.stderr)
        return 1
    width = max(len(t) for t in scalars)
    for tag in sorted(scalars):
        evs = scalars[tag]
        print(f"{tag:<{width}}  {len(evs):5d} values  steps {evs[0].step}..{evs[-1].step}  last {evs[-1].value:.6g}")
    print(f"{len(scalars)} tags, {sum(len(v) for v in scalars.values())} values")
    if args.compare:
        jsonl = os.path.join(args.run_dir if os.path.isdir(args.run_dir) else os.path.dirname(args.run_dir),
                             "metrics.jsonl")
        if not os.path.exists(jsonl):
            print(f"check_tensorboard: {jsonl}: missing, nothing to compare", file=sys.stderr)
            return 1
        checked, problems = compare(scalars, jsonl, set(args.ignore))
        for p in problems[:50]:
            print(f"MISMATCH {p}")
        if len(problems) > 50:
            print(f"... {len(problems) - 50} more")
        print(f"compare with metrics.jsonl: {checked} numbers checked, {len(problems)} problems")
        if problems:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
