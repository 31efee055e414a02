"""Per-layer sparsity of a learned mask as an SVG bar chart (no plotting library needed).
   python3 scripts/plot_layer_sparsity.py RUN.layers.md OUT.svg [TITLE]
Reads the table `patchlm learn` / `prune` prints (| layer | shape | sparsity | ...) and draws, for every decoder
block, one bar per projection (q, k, v, o, gate, up, down) with the share of pruned weights."""
import re
import sys

PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
COLORS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#dd8452"]


def read(path):
    rows = {}
    for line in open(path):
        m = re.match(r"\| model\.layers\.(\d+)\.\w+\.(\w+)\.weight \| \S+ \| ([\d.]+) \|", line)
        if m:
            rows[(int(m.group(1)), m.group(2))] = float(m.group(3))
    if not rows:
        sys.exit(f"plot_layer_sparsity: no layer rows in {path}")
    return rows


def svg(rows, title):
    blocks = max(b for b, _ in rows) + 1
    bar, gap, h, top, left = 3, 4, 220, 40, 50
    width = left + blocks * (len(PROJ) * bar + gap) + 20
    y = lambda s: top + h - s / 0.6 * h  # axis 0 .. 60 %
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + h + 70}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="20" font-size="13">{title}</text>']
    for s in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(s):.1f}" y2="{y(s):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(s) + 4:.1f}" text-anchor="end">{int(s * 100)}%</text>')
    for b in range(blocks):
        x0 = left + b * (len(PROJ) * bar + gap)
        for i, p in enumerate(PROJ):
            s = rows.get((b, p))
            if s is not None:
                out.append(f'<rect x="{x0 + i * bar}" y="{y(s):.1f}" width="{bar}" height="{y(0) - y(s):.1f}" fill="{COLORS[i]}"/>')
        if b % 5 == 0:
            out.append(f'<text x="{x0}" y="{top + h + 14}">{b}</text>')
    out.append(f'<text x="{left}" y="{top + h + 30}">decoder block</text>')
    for i, p in enumerate(PROJ):
        out.append(f'<rect x="{left + 150 + i * 75}" y="{top + h + 45}" width="10" height="10" fill="{COLORS[i]}"/>')
        out.append(f'<text x="{left + 164 + i * 75}" y="{top + h + 54}">{p.replace("_proj", "")}</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    open(sys.argv[2], "w").write(svg(read(sys.argv[1]), sys.argv[3] if len(sys.argv) > 3 else sys.argv[1]))
