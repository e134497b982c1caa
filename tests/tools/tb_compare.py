#!/usr/bin/env python3
"""Checks a run's TensorBoard scalars against its metrics.jsonl (stdlib only;
tests/cli/tensorboard.sh).

    tb_compare.py METRICS_JSONL TB_READ_OUTPUT [--require TAG]...

TB_READ_OUTPUT is what build/tb_read printed for the run's event files in
name order (as TensorBoard reads them). A "session S START" line drops every
point read so far whose step is >= S (TensorBoard's purge on a restart).
What is left must be exactly the jsonl's numbers: each field KEY of a record
{"event": E, "step": S, ...} is the scalar "E/KEY" at step S, and a string
field that is not a number (the unfreeze record's group G) is "E/G" = 1.
A jsonl number and the float32 scalar agree when they differ by no more than
half a unit of the number's last printed digit plus float32 rounding (so
"%.1f" and "%.6g" fields are both held to what they print); "nan" and "inf"
(quoted in jsonl) must match exactly. Every scalar must come from a jsonl
field, no (tag, step) twice. --require TAG: that tag must be present.
Exit 0, or 1 listing the problems."""
import json
import math
import re
import sys


def tolerance(text, value):
    m = re.fullmatch(r"-?(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", text)
    if not m:
        raise ValueError(f"not a JSON number: {text!r}")
    decimals = len(m.group(2) or "")
    exp = int(m.group(3) or 0)
    return 0.5 * 10.0 ** (exp - decimals) + abs(value) * 2.0 ** -23


class Num(str):
    """A JSON number, kept as the text jsonl printed."""


def as_number(raw):
    """(text, value) of a jsonl field, or None for a string that is no number."""
    if isinstance(raw, Num):
        return str(raw), float(raw)
    if raw in ("nan", "inf", "-inf"):  # non-finite numbers are quoted strings in jsonl
        return raw, float(raw)
    return None


def read_tb(path):
    points = {}  # (tag, step) -> value
    problems = []
    for line in open(path):
        f = line.split()
        if not f or f[0] in ("file", "version"):
            continue
        if f[0] == "session":
            if f[2] == "START":
                s = int(f[1])
                points = {k: v for k, v in points.items() if k[1] < s}
            continue
        if f[0] != "scalar" or len(f) != 4:
            problems.append(f"tb_read: unexpected line {line.strip()!r}")
            continue
        key = (f[2], int(f[1]))
        if key in points:
            problems.append(f"{key[0]} @ {key[1]}: twice in the event files")
        points[key] = float(f[3])
    return points, problems


def main():
    args = sys.argv[1:]
    required = []
    while "--require" in args:
        i = args.index("--require")
        required.append(args[i + 1])
        del args[i:i + 2]
    jsonl_path, tb_path = args
    points, problems = read_tb(tb_path)
    used = set()
    checked = 0
    for lineno, line in enumerate(open(jsonl_path), 1):
        rec = json.loads(line, parse_float=Num, parse_int=Num)
        event, step = rec.pop("event"), int(rec.pop("step"))
        for k, raw in rec.items():
            num = as_number(raw)
            if num is None:
                if not isinstance(raw, str):
                    problems.append(f"line {lineno}: {k}: neither a number nor a string")
                    continue
                tag, text, want = f"{event}/{raw}", "1", 1.0
            else:
                tag, (text, want) = f"{event}/{k}", num
            key = (tag, step)
            if key not in points:
                problems.append(f"line {lineno}: {tag} @ {step}: not in the event files")
                continue
            used.add(key)
            got = points[key]
            checked += 1
            if math.isnan(want) or math.isinf(want):
                ok = (math.isnan(got) and math.isnan(want)) or got == want
            else:
                ok = abs(got - want) <= tolerance(text, want)
            if not ok:
                problems.append(f"line {lineno}: {tag} @ {step}: event file {got!r}, jsonl {text}")
    for key in sorted(set(points) - used):
        problems.append(f"{key[0]} @ {key[1]}: in the event files, not in metrics.jsonl")
    tags = {t for t, _ in points}
    for t in required:
        if t not in tags:
            problems.append(f"{t}: required, not in the event files")
    for p in problems[:40]:
        print("MISMATCH", p)
    print(f"tb_compare: {checked} numbers checked, {len(points)} scalars, {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
