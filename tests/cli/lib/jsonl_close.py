"""jsonl_close.py A.jsonl B.jsonl [LABEL]: the two files hold the same JSON
lines, numbers compared to 1.5e-6 (predict prints 6 decimals: values a few
1e-7 apart, from another batching, can round to neighbouring last digits),
everything else (keys and their order, labels, tags, null) exactly. Prints
the largest difference; exits 1 naming the first place that differs."""
import json
import sys

TOL = 1.5e-6


def main():
    a = [json.loads(l) for l in open(sys.argv[1])]
    b = [json.loads(l) for l in open(sys.argv[2])]
    label = sys.argv[3] if len(sys.argv) > 3 else sys.argv[2]
    if len(a) != len(b):
        sys.exit(f"{label}: {len(a)} lines against {len(b)}")
    worst = [0.0]

    def cmp(x, y, where):
        if isinstance(x, float) or isinstance(y, float):
            if not (isinstance(x, (int, float)) and isinstance(y, (int, float))) or abs(x - y) > TOL:
                sys.exit(f"{label}: {where}: {x} against {y}")
            worst[0] = max(worst[0], abs(x - y))
        elif isinstance(x, dict) and isinstance(y, dict):
            if list(x) != list(y):
                sys.exit(f"{label}: {where}: keys {list(x)} against {list(y)}")
            for k in x:
                cmp(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                sys.exit(f"{label}: {where}: {len(x)} items against {len(y)}")
            for i, (u, v) in enumerate(zip(x, y)):
                cmp(u, v, f"{where}[{i}]")
        elif x != y:
            sys.exit(f"{label}: {where}: {x!r} against {y!r}")

    same = 0
    for i, (x, y) in enumerate(zip(a, b)):
        cmp(x, y, f"line {i + 1}")
        same += x == y
    print(f"  {label}: max |diff| {worst[0]:.3g}, {same} of {len(a)} lines identical")


main()
