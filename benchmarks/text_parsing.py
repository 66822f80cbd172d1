"""How long the service's own text parsers take on the worst text a customer or a model can send.

    python benchmarks/text_parsing.py [--sizes 8192,65536]

Every parser outside the offline model (the traces' masking, the help-centre query, the input checks of the API
and the desk, the log escaping, the model's tool-call intake; `testkit/text_parsers.py` lists them) on
each pathological input (long runs of whitespace, punctuation, digits, letters, repeated fragments). Prints the
slowest input per parser at each size, best of three runs. Target: linear, under 50 ms at 8 KB (the largest
message); the ratio column (time at the largest size over time at the smallest, divided by the size ratio) stays
near 1 for a linear parser and grows with the size for a quadratic one.
"""

from __future__ import annotations

import argparse
import time

from testkit.text_parsers import PARSERS, pathological


def best_of_three(parse: object, text: str) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        parse(text)  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8192,65536", help="comma-separated input sizes in characters")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print("slowest pathological input per parser, best of 3 (ms); target: < 50 ms at 8192 characters")
    print(f"  {'parser':30}" + "".join(f"{size:>12}" for size in sizes) + "   ratio  slowest input")
    for name, parse in sorted(PARSERS.items()):
        worst: list[tuple[float, str]] = []
        for size in sizes:
            worst.append(max((best_of_three(parse, text), shape) for shape, text in pathological(size).items()))
        ratio = (worst[-1][0] / max(worst[0][0], 1e-9)) / (sizes[-1] / sizes[0]) if len(sizes) > 1 else 1.0
        columns = "".join(f"{seconds * 1000:12.3f}" for seconds, _ in worst)
        print(f"  {name:30}{columns}   {ratio:5.2f}  {worst[-1][1]}")


if __name__ == "__main__":
    main()
