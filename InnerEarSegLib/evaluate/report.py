"""Write a study report: CSV tables, Markdown and HTML with plots (each file written atomically)."""
from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path

from ..labels import STRUCTURE_KEYS
from ..atomic_write import atomic_output_path, write_text_atomic
from .study import LikertAnalysis

PLOTS = {"dice_subgroups": "Dice per subgroup", "likert_bars": "Likert distribution",
         "dice_vs_likert": "Dice against Likert score"}


def _fmt(v, digits=2) -> str:
    if v is None:
        return "NA"
    if isinstance(v, float):
        return "NA" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = list(rows[0]) if rows else []
    for r in rows:
        fields += [k for k in r if k not in fields]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _save_figure_atomic(fig, path: Path) -> None:
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")


def make_plots(out_dir: Path, rows: list[dict], groups_members: dict[str, list[str]],
               likert: LikertAnalysis, pairs: list[tuple[int, float]]) -> dict[str, Path]:
    """Dice box plots per subgroup, Likert bars, Dice against Likert; returns name -> PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_case = {r["case_id"]: r.get("labyrinth_dice", math.nan) for r in rows}
    out = {}
    names = [g for g, m in groups_members.items() if m]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.2))
    data = [[by_case[c] for c in groups_members[g] if not math.isnan(by_case[c])] for g in names]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), [f"{g}\n(n={len(d)})" for g, d in zip(names, data)], fontsize=8)
    ax.set_ylabel("labyrinth Dice")
    ax.set_ylim(0, 1.02)
    ax.set_title("Dice per subgroup (Table 3)")
    out["dice_subgroups"] = out_dir / "dice_subgroups.png"
    _save_figure_atomic(fig, out["dice_subgroups"])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    counts = [likert.levels[k]["n"] for k in (1, 2, 3, 4)]
    ax.bar([1, 2, 3, 4], counts, color=["#009E73", "#56B4E9", "#E69F00", "#D55E00"])
    ax.set_xticks([1, 2, 3, 4])
    ax.set_xlabel(f"Likert score ({likert.source})")
    ax.set_ylabel("ears")
    ax.set_title("Likert distribution (Table 5)")
    out["likert_bars"] = out_dir / "likert_bars.png"
    _save_figure_atomic(fig, out["likert_bars"])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    if pairs:
        import numpy as np

        rng = np.random.default_rng(0)
        ls = np.array([p[0] for p in pairs], float)
        ax.scatter(ls + rng.uniform(-0.12, 0.12, len(ls)), [p[1] for p in pairs], s=12, alpha=0.7)
    means = [likert.levels[k]["mean_dice"] for k in (1, 2, 3, 4)]
    ax.plot([1, 2, 3, 4], means, "k_", markersize=25, label="mean")
    ax.set_xticks([1, 2, 3, 4])
    ax.set_xlabel(f"Likert score ({likert.source})")
    ax.set_ylabel("labyrinth Dice")
    ax.set_title(f"Spearman rho = {_fmt(likert.rho)} (p = {_fmt(likert.p_value, 3)})", fontsize=9)
    out["dice_vs_likert"] = out_dir / "dice_vs_likert.png"
    _save_figure_atomic(fig, out["dice_vs_likert"])
    plt.close(fig)
    return out


def markdown_report(rows, subgroup_rows, likert: LikertAnalysis, plots: dict[str, Path], *, title: str) -> str:
    """The report as Markdown (tables in the layout of the seed paper's Tables 3 and 5)."""
    lines = [f"# {title}", "", f"{len(rows)} cases.", "", "## Dice per subgroup (as Table 3)", "",
             "| Subset | n | Mean DSC (SD) | Median | Min | Max |", "|---|---|---|---|---|---|"]
    for s in subgroup_rows:
        lines.append(f"| {s['subgroup']} | {s['n']} | {_fmt(s['mean'])} ({_fmt(s['sd'])}) | {_fmt(s['median'])} "
                     f"| {_fmt(s['min'])} | {_fmt(s['max'])} |")
    lines += ["", f"## Likert score and Dice (as Tables 4-5; scores: {likert.source})", "",
              "| Likert score | 1 | 2 | 3 | 4 | Spearman rho | p-value |", "|---|---|---|---|---|---|---|"]
    lv = likert.levels
    lines.append("| n (%) | " + " | ".join(f"{lv[k]['n']} ({lv[k]['percent']:.0f}%)" for k in (1, 2, 3, 4))
                 + f" | {_fmt(likert.rho)} | {_fmt(likert.p_value, 4)} |")
    lines.append("| Mean DSC | " + " | ".join(_fmt(lv[k]["mean_dice"]) for k in (1, 2, 3, 4)) + " | | |")
    keys = [k for k in ("labyrinth", *STRUCTURE_KEYS) if rows and f"{k}_dice" in rows[0]]
    lines += ["", "## Per case", "", "| case | likert | " + " | ".join(f"{k} Dice" for k in keys)
              + " | HD95 (mm) | MSD (mm) |", "|---" * (len(keys) + 4) + "|"]
    for r in rows:
        lines.append(f"| {r['case_id']} | {_fmt(r.get('likert'))} | "
                     + " | ".join(_fmt(r.get(f'{k}_dice')) for k in keys)
                     + f" | {_fmt(r.get('labyrinth_hd95_mm'))} | {_fmt(r.get('labyrinth_msd_mm'))} |")
    lines.append("")
    for name, path in plots.items():
        lines += [f"![{PLOTS[name]}]({path.name})", ""]
    return "\n".join(lines)


def html_report(markdown_text: str, *, title: str) -> str:
    """A self-contained HTML page: the Markdown tables rendered as HTML tables, images linked."""
    body, table = [], []

    def flush():
        if table:
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table
                     if not set(line.replace("|", "").strip()) <= {"-"}]
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{html.escape(c)}</{'th' if i == 0 else 'td'}>"
                                 for c in row) + "</tr>" for i, row in enumerate(cells)) + "</table>")
            table.clear()

    for line in markdown_text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<p><img src="{html.escape(src[:-1])}" alt="{html.escape(alt)}"></p>')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = "body{font-family:sans-serif;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(out_dir: str | Path, rows, subgroup_rows, likert: LikertAnalysis, groups_members,
                 pairs, *, title: str = "InnerEarSeg study report") -> dict[str, Path]:
    """Write per_case.csv, subgroups.csv, likert.csv, report.md, report.html and the PNG plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"per_case": out / "per_case.csv", "subgroups": out / "subgroups.csv", "likert": out / "likert.csv",
             "markdown": out / "report.md", "html": out / "report.html"}
    write_text_atomic(paths["per_case"], _csv_text(rows))
    write_text_atomic(paths["subgroups"], _csv_text(subgroup_rows))
    lik_rows = [{"likert": k, **v} for k, v in likert.levels.items()]
    lik_rows.append({"likert": "spearman", "n": likert.n, "percent": "", "mean_dice": "",
                     "rho": likert.rho, "p_value": likert.p_value})
    write_text_atomic(paths["likert"], _csv_text(lik_rows))
    plots = make_plots(out, rows, groups_members, likert, pairs)
    md = markdown_report(rows, subgroup_rows, likert, plots, title=title)
    write_text_atomic(paths["markdown"], md)
    write_text_atomic(paths["html"], html_report(md, title=title))
    paths.update(plots)
    return paths
