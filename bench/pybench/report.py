"""results.md (medians and ratios), raw.csv and chart.png from the recorded rows."""
from __future__ import annotations

import math
import os
import subprocess
from collections import OrderedDict

from pybench.common import have, log, median
from pybench.poolers import column_order
from pybench.record import Recorder

HIGHER_IS_BETTER = {"tps", "mib_per_s", "logins_per_s"}
SECTION_TITLES = OrderedDict([
    ("throughput", "Throughput (pgbench -T, tx/s, higher is better)"),
    ("latency", "Latency at a fixed offered rate (pgbench -R, per-transaction log)"),
    ("pooler_cpu", "Pooler CPU during the throughput runs (cores busy; lower = cheaper)"),
    ("cost", "Cost per transaction (pgbench -S -t: fixed transactions)"),
    ("memory", "Memory per idle client"),
    ("backpressure", "Big result (~1 KiB rows): slow and fast readers"),
])


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def aggregate(rec: Recorder) -> "OrderedDict[tuple, dict]":
    """(section, workload, metric) -> {target: (median, ok count, fail count, unit)}."""
    groups: OrderedDict[tuple, dict] = OrderedDict()
    for row in rec.rows:
        key = (row["section"], row["workload"], row["metric"])
        cell = groups.setdefault(key, {}).setdefault(row["target"], {"values": [], "fails": 0,
                                                                      "unit": row["unit"]})
        if row["status"] == "ok" and row["value"] != "":
            cell["values"].append(float(row["value"]))
        elif row["status"] != "ok":
            cell["fails"] += 1
        if row["unit"]:
            cell["unit"] = row["unit"]
    out: OrderedDict[tuple, dict] = OrderedDict()
    for key, cells in groups.items():
        out[key] = {t: (median(c["values"]), len(c["values"]), c["fails"], c["unit"])
                    for t, c in cells.items()}
    return out


def ratio(cells: dict, a: str, b: str) -> float | None:
    if a in cells and b in cells and cells[a][0] and cells[b][0]:
        return cells[a][0] / cells[b][0]
    return None


def cell_text(cell) -> str:
    value, ok, fails, _ = cell
    if fails and not ok:
        return f"**FAIL** ({fails}/{fails})"
    text = fmt(value)
    if fails:
        text += f" (**{fails} FAIL**)"
    return text


def markdown(rec: Recorder, meta: list[str], micro: list[dict]) -> str:
    agg = aggregate(rec)
    lines = ["# Reservoir vs PgBouncer vs direct: benchmark results", ""]
    lines += [f"- {m}" for m in meta] + [""]
    lines += ["Medians over the rounds (a failed measurement counts as FAIL, not as a value). "
              "R/B = Reservoir ÷ PgBouncer, R/D = Reservoir ÷ direct, both of the medians "
              "(for throughput >1 favours Reservoir; for costs, latency and memory <1 does). "
              "`reservoir` runs with workers=1, `reservoir-wN` with workers=N (wN/B is its "
              "ratio to PgBouncer), `reservoir-nopoll` with workers=1 and busy_poll = 0 (the "
              "default, auto, polls only while the machine has CPU to spare). "
              "See bench/README.md for what each row measures.", ""]
    for section, title in SECTION_TITLES.items():
        keys = [k for k in agg if k[0] == section]
        if not keys:
            continue
        cols = column_order({t for k in keys for t in agg[k]})
        ratios = [("R/B", "reservoir", "pgbouncer")]
        ratios += [(f"{t[len('reservoir-'):]}/B", t, "pgbouncer") for t in cols
                   if t.startswith("reservoir-")]
        ratios += [("R/D", "reservoir", "direct")] if "direct" in cols else []
        lines += [f"## {title}", ""]
        lines.append("| workload | metric | " + " | ".join(cols + [r[0] for r in ratios]) + " |")
        lines.append("|---|---|" + "---:|" * (len(cols) + len(ratios)))
        for key in keys:
            cells = agg[key]
            unit = next((c[3] for c in cells.values() if c[3]), "")
            metric = key[2] + (f" ({unit})" if unit else "")
            row = [key[1], metric] + [cell_text(cells[t]) if t in cells else "" for t in cols]
            row += [fmt(ratio(cells, mine, other)) for _, mine, other in ratios]
            lines.append("| " + " | ".join(row) + " |")
        if section == "throughput":
            prep = agg.get(("throughput", "select_prepared_c100", "tps"), {})
            ext = agg.get(("throughput", "select_extended_c100", "tps"), {})
            if "reservoir" in prep and ext:
                vs_b = ratio({"a": prep["reservoir"], **ext}, "a", "pgbouncer")
                vs_r = ratio({"a": prep["reservoir"], **ext}, "a", "reservoir")
                lines += ["", f"Prepared statements (100 clients): Reservoir -M prepared ÷ "
                              f"PgBouncer -M extended = **{fmt(vs_b)}**; ÷ Reservoir's own "
                              f"-M extended = **{fmt(vs_r)}** (PgBouncer 1.18 cannot run "
                              "-M prepared in transaction mode)."]
            key = ("throughput", "pooler_bound_c100", "tps")
            if key in agg:
                scaling = "; ".join(
                    f"workers={t[len('reservoir-w'):]} ÷ workers=1 = "
                    f"**{fmt(ratio(agg[key], t, 'reservoir'))}**"
                    for t in column_order(set(agg[key])) if t.startswith("reservoir-w"))
                d = ratio(agg[key], "direct", "reservoir")
                lines += ["", f"Multi-core: on the pooler-bound workload {scaling}; "
                              f"direct ÷ Reservoir(workers=1) = {fmt(d)} "
                              "(>1 means the pooler, not PostgreSQL, limits throughput)."]
        lines.append("")
    if micro:
        lines += ["## Micro-benchmarks (Google Benchmark, build/bench/micro_bench)", "",
                  "| benchmark | time/iteration | throughput |", "|---|---:|---:|"]
        for b in micro:
            tput = ""
            if b.get("bytes_per_second"):
                tput = f"{b['bytes_per_second'] / 2**20:,.0f} MiB/s"
            if b.get("items_per_second"):
                tput += (", " if tput else "") + f"{b['items_per_second'] / 1e6:,.1f} M msgs/s"
            lines.append(f"| {b['name']} | {fmt(b['real_time'])} {b['time_unit']} | {tput} |")
        lines.append("")
    lines += ["## Failures", ""]
    if not rec.failures:
        lines += ["None: every measurement completed.", ""]
    for f in rec.failures:
        lines += [f"### {f.section} / {f.workload} / {f.target} (round {f.round + 1})", "",
                  f"- command: `{f.command}`", f"- problem: {f.problem}", ""]
        if f.log_excerpt.strip():
            lines += ["```", f.log_excerpt.strip()[-4000:], "```", ""]
    if any(rec.pooler_warnings.values()):
        lines += ["## Warnings logged by the poolers (all runs, by message)", ""]
        for target, msgs in rec.pooler_warnings.items():
            for msg, n in sorted(msgs.items(), key=lambda kv: -kv[1])[:10]:
                lines.append(f"- {target}: {n}× `{msg}`")
        lines.append("")
    if rec.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in rec.notes] + [""]
    return "\n".join(lines)


def chart(rec: Recorder, path: str, workdir: str) -> str:
    """Two panels: throughput per workload and target; Reservoir's advantage over PgBouncer
    for every compared row (median ratio, oriented so that >1 favours Reservoir, on a log2
    axis so that 2x better and 2x worse are the same height)."""
    if not have("gnuplot"):
        return "gnuplot not installed: no chart"
    agg = aggregate(rec)
    tput = os.path.join(workdir, "chart_tput.dat")
    adv = os.path.join(workdir, "chart_adv.dat")
    n_tput = n_adv = 0
    lows: list[float] = [-1.0, 1.0]
    columns = column_order({t for (section, _, metric), cells in agg.items()
                            if section == "throughput" and metric == "tps" for t in cells})
    with open(tput, "w") as f:
        for (section, workload, metric), cells in agg.items():
            if section == "throughput" and metric == "tps":
                vals = [cells[t][0] if t in cells and cells[t][0] else None
                        for t in columns]
                n_tput += 1
                f.write(workload.replace("_", "-") + " " +
                        " ".join("NaN" if v is None else f"{v:.1f}" for v in vals) + "\n")
    with open(adv, "w") as f:
        for (section, workload, metric), cells in agg.items():
            r = ratio(cells, "reservoir", "pgbouncer")
            if r is None or section == "pooler_cpu" or metric == "mib_per_s":
                continue
            if metric not in HIGHER_IS_BETTER:
                r = 1 / r
            color = 0x2e8b57 if r >= 1 else 0xc0392b
            label = f"{workload}:{metric.replace('_per_', '/')}".replace("_", "-")
            f.write(f"{n_adv} {math.log2(r):.4f} {color} {label}\n")
            lows.append(math.log2(r))
            n_adv += 1
    if not (n_tput or n_adv):
        return "no data for a chart"
    def title(target: str) -> str:
        if target.startswith("reservoir-bp"):
            return f"reservoir (busy-poll={target[len('reservoir-bp'):]}us)"
        if target.startswith("reservoir"):
            return f"reservoir (workers={target[len('reservoir-w'):] or 1})"
        return target
    series = ", ".join(f"'{tput}' using {i + 2}" + (":xtic(1)" if i == 0 else "") +
                       f" title '{title(t)}'" for i, t in enumerate(columns))
    tput_plot = f"""set title 'Throughput (median tx/s; higher is better)'
set ylabel 'tx/s'
set style data histograms
set style histogram clustered gap 1
set key outside top center horizontal
plot {series}
"""
    adv_plot = f"""set title "Reservoir vs PgBouncer per row (up: Reservoir better, by that factor; costs, latency and memory inverted)"
set ylabel 'advantage (log scale)'
set key off
set style data boxes
set boxwidth 0.7
set xrange [-0.6:{n_adv - 0.4}]
set yrange [{math.floor(min(lows)) - 0.2}:{math.ceil(max(lows)) + 0.2}]
set ytics ('1/32' -5, '1/16' -4, '1/8' -3, '1/4' -2, '1/2' -1, '1' 0, '2' 1, '4' 2, '8' 3, '16' 4)
plot '{adv}' using 1:2:3:xtic(4) with boxes lc rgb variable
"""
    script = f"""
set terminal pngcairo size 1400,1200 font ",10"
set output '{path}'
set multiplot layout {2 if n_tput and n_adv else 1},1
set style fill solid 0.85 border -1
set grid ytics
set xtics rotate by -35 nomirror
set bmargin 11
set rmargin 18
set datafile missing 'NaN'
{tput_plot if n_tput else ""}
{adv_plot if n_adv else ""}
unset multiplot
"""
    gp = os.path.join(workdir, "chart.gp")
    with open(gp, "w") as f:
        f.write(script)
    res = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if res.returncode != 0:
        log(f"gnuplot failed: {res.stderr[-500:]}")
        return f"gnuplot failed: {res.stderr.strip()[-300:]}"
    return ""
