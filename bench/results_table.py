"""The speed table of docs/speed_by_cpu.md, from the committed results of ``bench/cpu_paths.py --json``.

    python bench/results_table.py            # print the table (Markdown)
    python bench/results_table.py --check    # exit 1 if docs/speed_by_cpu.md does not hold exactly this table

One column group per result file (bench/results/cpu_paths-*.json), named by its CPU, date and commit: the paths'
best seconds and their speed over the released code's faster form (eager or tf.function) measured in that run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = Path(__file__).resolve().parents[1] / "docs" / "speed_by_cpu.md"
BEGIN, END = "<!-- table: bench/results_table.py -->", "<!-- end of table -->"
RELEASED = ("tf-eager", "tf-function")


def load() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("cpu_paths-*.json"))]


def cpu_label(result: dict) -> str:
    machine = result["machine"]
    extras = [f for f in ("avx512_bf16", "amx_tile") if f in machine["flags"]]
    return (f"{machine['model']}, {machine['vendor']} ({', '.join(extras) or 'no bf16/AMX'}), "
            f"{result['threads']} threads; {result['date']}, commit {_short(result['commit'])}")


def _short(commit: str | None) -> str:
    """``5a8a97952`` (``+``: run with changes not yet committed)."""
    return "unknown" if not commit else commit[:9] + ("+" if commit.endswith("+") else "")


def table(results: list[dict]) -> str:
    lines = []
    for result in results:
        paths = {k: v for k, v in result["paths"].items() if v}
        released = min((paths[k]["best"] for k in RELEASED if k in paths), default=None)
        peak = max(v["peak_gflops"] for v in paths.values())
        heading = (f"**{cpu_label(result)}**; {result['size_hw'][0]}x{result['size_hw'][1]}, fp32 peak (best "
                   f"kernel) {peak:.0f} GFLOP/s")
        lines += [heading, "",
                  "| path | best s | x the released code's faster form | % of peak | PSNR dB vs PyTorch fp32 |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in sorted(paths.items(), key=lambda item: item[1]["best"]):
            ratio = f"{released / r['best']:.2f}" if released else "-"
            quality = f"{r['psnr_db']:.1f}" if "psnr_db" in r else "-"
            lines.append(f"| {name} | {r['best']:.2f} | {ratio} | {100 * r['gflops'] / r['peak_gflops']:.0f} | "
                         f"{quality} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help=f"compare with the table in {PAGE.name}")
    args = p.parse_args()
    text = table(load())
    if not args.check:
        print(text, end="")
        return 0
    page = PAGE.read_text()
    if BEGIN not in page or END not in page:
        print(f"{PAGE}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    shown = page.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"
    if shown != text:
        print(f"{PAGE}: its table is not the committed results' (python bench/results_table.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
