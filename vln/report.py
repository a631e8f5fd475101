"""A run at a glance: one self-contained HTML page of its config, curves, results and episodes.

``write_run_report(run_dir)`` (what ``scripts/report.py RUN`` and the end of training call)
writes ``RUN/report.html`` with

- the run's ``config.json``, as a table;
- ``curves.png`` (loss and success per phase, with held-out success), embedded;
- SR, SPL, NE, OSR, nDTW, SDTW and PL per split, each with its 95% bootstrap interval over
  the episodes of the run's per-episode CSVs;
- the failure breakdown of ``eval.json`` (``vln.breakdown``);
- a gallery of up to ``GALLERY_SIZE`` evaluation episodes, successes and failures of every
  category present, each with its instruction, its metrics and its H.264 video recorded
  through ``vln.rollout`` (attention and the map drawn in), filterable by outcome.

The videos lie beside the page in ``RUN/report/``; everything else (the curves, the style,
the filter script) is inside it. It opens from ``file://`` with no network. ``write_report``
is the same page from results in hand (``scripts/evaluate.py --report``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vln.breakdown import CATEGORIES, UNKNOWN, display_order
from vln.metrics import METRIC_NAMES

REPORT_NAME = "report.html"
GALLERY_SIZE = 12  # each episode is re-run and encoded once: the page's main cost
OUTCOMES = ("success", *CATEGORIES, UNKNOWN)  # the gallery's filter order
# eval.json's summary names -> the per-episode column each mean is taken over.
_COLUMN = {"success_rate": "success", "oracle_success_rate": "oracle_success"}
_SHORT = {"success_rate": "SR", "spl": "SPL", "navigation_error": "NE", "oracle_success_rate": "OSR", "ndtw": "nDTW",
          "sdtw": "SDTW", "path_length": "PL", "episodes": "episodes"}
_SPLIT_LABEL = {"unseen": "unseen", "seen": "seen", "train": "held-out seeds"}


def write_run_report(run_dir: str | os.PathLike, agent=None, gallery: int = GALLERY_SIZE) -> Path:
    """Write ``run_dir/report.html`` (and its videos in ``run_dir/report/``) from the run's files.

    ``agent``: the run's final agent where it is in memory (else ``agent.keras`` is loaded).
    A run whose per-episode CSVs are missing (evaluated before they were kept) is evaluated
    again on eval.json's episodes. Returns the page's path.
    """
    from vln.evaluation import evaluate, read_episode_rows, run_episodes_file
    from vln.run_log import write_curves

    run_dir = Path(run_dir)
    config_path, eval_path = run_dir / "config.json", run_dir / "eval.json"
    if not config_path.is_file():
        raise ValueError(f"{run_dir} holds no run: no config.json")
    config = json.loads(config_path.read_text())
    results = json.loads(eval_path.read_text()) if eval_path.is_file() else {}
    if agent is None and (run_dir / "agent.keras").is_file():
        from vln.checkpoint import load_checkpoint

        agent = load_checkpoint(run_dir)[0]
    splits = [results.get("split", "unseen")] + (["seen"] if results.get("split", "unseen") != "train" else [])
    evaluations: dict[str, tuple[dict[str, Any], list[dict[str, Any]] | None]] = {}
    for split in splits if results else ():
        summary = results if split == splits[0] else results.get("seen", {})
        csv_path = run_dir / run_episodes_file(split)
        if csv_path.is_file():
            rows = read_episode_rows(csv_path)
        elif agent is not None:
            _, rows = evaluate(agent, config["env"], int(summary.get("episodes") or config["eval_episodes"]),
                               config["eval_seed"], split, config.get("env_kwargs"), config.get("num_envs", 32),
                               config.get("max_words") or None)
        else:
            rows = None
        evaluations[split] = (summary, rows)
    if (run_dir / "metrics.csv").is_file() and not (run_dir / "curves.png").is_file():
        write_curves(run_dir)
    curves = run_dir / "curves.png"
    facts = {k: results[k] for k in ("train_time_s", "wall_time_s", "train_frames", "env_frames") if k in results}
    return write_report(run_dir / REPORT_NAME, evaluations, policy=agent, env=config["env"],
                        env_kwargs=config.get("env_kwargs"), max_words=config.get("max_words") or None,
                        config=config, curves=curves if curves.is_file() else None, facts=facts,
                        before_rl=results.get("before_rl"), title=f"vln run: {run_dir.resolve().name}", gallery=gallery)


def write_report(path: str | os.PathLike, evaluations: Mapping[str, tuple[Mapping[str, Any], Sequence[Mapping[str, Any]] | None]],
                 *, policy=None, env: str | None = None, env_kwargs: Mapping[str, Any] | None = None,
                 max_words: int | None = None, config: Mapping[str, Any] | None = None,
                 curves: str | os.PathLike | None = None, facts: Mapping[str, Any] | None = None,
                 before_rl: Mapping[str, Any] | None = None, title: str = "vln report",
                 gallery: int = GALLERY_SIZE) -> Path:
    """Write the page to ``path`` and its videos into the folder of the same name without ``.html``.

    Args:
        evaluations: {split: (summary as ``vln.evaluation.evaluate`` gives it, its per-episode
            rows or None)}, the headline split first. Rows give the intervals and the gallery.
        policy, env, env_kwargs, max_words: what the gallery re-runs (None policy: no gallery).
        config: a run's ``config.json``; curves: a ``curves.png`` to embed; facts: a few
            numbers shown beside the config (train time, frames); before_rl: eval.json's
            ``before_rl``, shown as rows without intervals.
        gallery: at most this many episodes in the gallery.
    """
    from vln.checkpoint import atomic_write_text

    path = Path(path)
    media = path.with_suffix("")
    t0 = time.perf_counter()
    episodes: list[dict[str, Any]] = []
    note = ""
    if policy is not None and env is not None and gallery > 0:
        try:
            episodes = record_gallery(policy, env, evaluations, media, env_kwargs=env_kwargs, max_words=max_words,
                                      size=gallery)
        except Exception as exc:  # noqa: BLE001 - a page without videos beats no page
            warnings.warn(f"report gallery left out: {exc}", stacklevel=2)
            note = f"No gallery: {exc}"
    parts = [_config_section(config, facts), _curves_section(curves), _results_section(evaluations, before_rl),
             _breakdown_section(evaluations), _gallery_section(episodes, media.name, note)]
    page = _PAGE.format(title=html.escape(title), style=_STYLE, script=_SCRIPT,
                        body="\n".join(p for p in parts if p),
                        footer=html.escape(f"written by vln.report in {time.perf_counter() - t0:.1f} s; "
                                           f"videos in {media.name}/ beside this page"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path


# ----------------------------------------------------------------------------- the gallery
def choose_episodes(rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]], size: int = GALLERY_SIZE) -> list[dict[str, Any]]:
    """Up to ``size`` episodes: one of each outcome present in turn (successes, then each
    failure category), the splits alternating within an outcome, first seeds first.

    Each chosen row is returned with its ``split``.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for outcome in OUTCOMES:
        per_split = [[{**r, "split": split} for r in rows if _outcome(r) == outcome]
                     for split, rows in rows_by_split.items()]
        merged = [r for tier in zip_longest_all(per_split) for r in tier]
        if merged:
            groups[outcome] = merged
    chosen: list[dict[str, Any]] = []
    depth = 0
    while len(chosen) < size and any(depth < len(g) for g in groups.values()):
        for group in groups.values():
            if depth < len(group) and len(chosen) < size:
                chosen.append(group[depth])
        depth += 1
    return chosen


def zip_longest_all(lists: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """[[a0, b0], [a1, b1], [a2], ...]: the i-th items of each list that has one."""
    return [[lst[i] for lst in lists if i < len(lst)] for i in range(max((len(lst) for lst in lists), default=0))]


def _outcome(row: Mapping[str, Any]) -> str:
    outcome = row.get("outcome")
    if outcome:
        return str(outcome)
    return "success" if _number(row.get("success")) else UNKNOWN


def record_gallery(policy, env: str, evaluations: Mapping[str, tuple[Any, Sequence[Mapping[str, Any]] | None]],
                   media: Path, *, env_kwargs: Mapping[str, Any] | None = None, max_words: int | None = None,
                   size: int = GALLERY_SIZE) -> list[dict[str, Any]]:
    """Re-run the chosen episodes through ``vln.rollout`` with a video each, into ``media``.

    Returns the rollout's row of each (its own metrics and ``outcome``), with ``split`` and
    ``video`` (the file's name inside ``media``).
    """
    from vln.recording import rollout

    rows = {split: rows for split, (_, rows) in evaluations.items() if rows}
    chosen = choose_episodes(rows, size)
    media.mkdir(parents=True, exist_ok=True)
    for old in media.glob("*.mp4"):  # a report written again shows only its own episodes
        old.unlink()
    out = []
    for pick in chosen:
        split = pick["split"]
        row = rollout(policy, env, episodes=1, video_dir=media, seed=int(pick["seed"]),
                      split=split,
                      env_kwargs=dict(env_kwargs or {}), num_envs=1, max_words=max_words,
                      name_prefix=f"{split}-{_outcome(pick)}", title=split)[0]
        row["split"] = split
        row["video"] = Path(row["video"]).name
        out.append(row)
    return out


def _gallery_section(episodes: Sequence[Mapping[str, Any]], media: str, note: str) -> str:
    if not episodes:
        return f'<section id="gallery"><h2>Episodes</h2><p>{html.escape(note or "No episodes to show.")}</p></section>'
    present = [o for o in OUTCOMES if any(e["outcome"] == o for e in episodes)]
    buttons = "".join(f'<button data-filter="{o}">{html.escape(o.replace("_", " "))} '
                      f'({sum(e["outcome"] == o for e in episodes)})</button>' for o in present)
    buttons += '<button data-filter="failure">all failures</button>'
    cards = []
    for e in episodes:
        stats = [("steps", e.get("steps")), ("SPL", e.get("spl")), ("nDTW", e.get("ndtw")),
                 ("NE", e.get("navigation_error")), ("return", e.get("return"))]
        facts = "".join(f"<span>{k} {_fmt(v)}</span>" for k, v in stats if v is not None)
        cards.append(
            f'<figure class="card {"ok" if e["outcome"] == "success" else "fail"}" data-outcome="{html.escape(e["outcome"])}">'
            f'<video src="{html.escape(media)}/{html.escape(e["video"])}" controls muted loop playsinline '
            f'preload="auto"></video>'
            f'<figcaption><b>{html.escape(e["outcome"].replace("_", " "))}</b> · {html.escape(e["split"])} · '
            f'seed {e["seed"]}<q>{html.escape(str(e.get("mission", "")))}</q><div class="facts">{facts}</div>'
            f'</figcaption></figure>')
    return (f'<section id="gallery"><h2>Episodes</h2><p>Greedy rollouts of evaluation episodes, re-run with '
            f'video: the first-person view, the map with the path so far, the instruction shaded by attention.</p>'
            f'<div class="filters"><button data-filter="all" class="on">all ({len(episodes)})</button>{buttons}'
            f'<span id="shown"></span></div><div class="grid">{"".join(cards)}</div></section>')


# ----------------------------------------------------------------------------- the other sections
def _config_section(config: Mapping[str, Any] | None, facts: Mapping[str, Any] | None) -> str:
    if not config and not facts:
        return ""
    # Config values as written (1e-4 stays 1e-4), not rounded like the metrics.
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(f'{v:g}' if isinstance(v, float) else _fmt(v))}</td></tr>"
                   for k, v in {**(facts or {}), **(config or {})}.items())
    return f'<section id="config"><h2>Config</h2><table class="kv">{rows}</table></section>'


def _curves_section(curves: str | os.PathLike | None) -> str:
    if curves is None or not Path(curves).is_file():
        return ""
    data = base64.b64encode(Path(curves).read_bytes()).decode("ascii")
    return ('<section id="curves"><h2>Learning curves</h2><p>Loss and success per phase against training '
            'frames; dashed: greedy success on held-out episodes.</p>'
            f'<img alt="learning curves" src="data:image/png;base64,{data}"></section>')


def _results_section(evaluations: Mapping[str, tuple[Mapping[str, Any], Any]], before_rl: Mapping[str, Any] | None) -> str:
    from vln.stats import mean_interval

    if not evaluations:
        return ""
    head = "".join(f"<th>{_SHORT[m]}</th>" for m in METRIC_NAMES)
    body = []
    for split, (summary, rows) in evaluations.items():
        cells = []
        for m in METRIC_NAMES:
            value = summary.get(m)
            if m == "episodes":
                cells.append(f"<td>{_fmt(value)}</td>")
                continue
            ci = mean_interval([r.get(_COLUMN.get(m, m), math.nan) for r in rows], resamples=4000) if rows else None
            interval = f'<br><small>[{_fmt(ci[0])}, {_fmt(ci[1])}]</small>' if ci else ""
            cells.append(f"<td>{_fmt(value)}{interval}</td>")
        body.append(f"<tr><th>{html.escape(_SPLIT_LABEL.get(split, split))}</th>{''.join(cells)}</tr>")
    for split, summary in _before_rl_rows(before_rl):
        cells = "".join(f"<td>{_fmt(summary.get(m))}</td>" for m in METRIC_NAMES)
        body.append(f'<tr class="muted"><th>{html.escape(split)}, before RL</th>{cells}</tr>')
    return ('<section id="results"><h2>Results</h2><p>Means over the evaluation episodes, with 95% bootstrap '
            'intervals over episodes in brackets. NE and PL in cells; the rest are rates.</p>'
            f'<table class="results"><tr><th></th>{head}</tr>{"".join(body)}</table></section>')


def _before_rl_rows(before: Mapping[str, Any] | None) -> list[tuple[str, Mapping[str, Any]]]:
    if not before:
        return []
    split = before.get("split", "unseen")
    out = [(_SPLIT_LABEL.get(split, split), before)]
    if split != "train" and isinstance(before.get("seen"), Mapping):
        out.append(("seen", before["seen"]))
    return out


def _breakdown_section(evaluations: Mapping[str, tuple[Mapping[str, Any], Any]]) -> str:
    blocks = []
    for split, (summary, _) in evaluations.items():
        b = summary.get("breakdown")
        if not b:
            continue
        fails = b.get("failures", {})
        counts = fails.get("counts", {})
        rows = "".join(f"<tr><th>{html.escape(c.replace('_', ' '))}</th><td>{counts[c]}</td>"
                       f"<td>{_fmt(fails.get('share_of_failures', {}).get(c))}</td></tr>"
                       for c in OUTCOMES if c in counts)
        parts = [f'<table><caption>why {fails.get("episodes", 0)} of {b.get("episodes", 0)} episodes failed</caption>'
                 f'<tr><th>category</th><th>episodes</th><th>share</th></tr>{rows}</table>']
        for key, label in (("by_num_rooms", "rooms"), ("by_num_distractors", "distractors"),
                           ("by_start_doors", "the start room's doors"), ("by_instruction_length", "instruction words")):
            groups = b.get(key)
            if groups:
                cells = "".join(f"<tr><th>{html.escape(g)}</th><td>{groups[g].get('episodes')}</td>"
                                f"<td>{_fmt(groups[g].get('success_rate'))}</td></tr>" for g in display_order(key, groups))
                parts.append(f"<table><caption>success by {label}</caption>"
                             f"<tr><th>{label}</th><th>episodes</th><th>SR</th></tr>{cells}</table>")
        route = b.get("route_progress")
        if route:
            parts.append(f'<table><caption>route doors passed</caption><tr><th>mean fraction</th>'
                         f'<td>{_fmt(route.get("mean_fraction"))}</td></tr><tr><th>all doors</th>'
                         f'<td>{_fmt(route.get("all_doors_rate"))}</td></tr></table>')
        blocks.append(f'<h3>{html.escape(_SPLIT_LABEL.get(split, split))}</h3><div class="tables">{"".join(parts)}</div>')
    if not blocks:
        return ""
    return ('<section id="breakdown"><h2>Failure breakdown</h2><p>Each failure in the first category that applies: '
            'timeout (never stopped), wrong room, at a distractor, in the goal room but not at the goal.</p>'
            + "".join(blocks) + "</section>")


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# ----------------------------------------------------------------------------- page
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{title}</title><style>{style}</style></head>
<body><header><h1>{title}</h1><nav><a href="#config">config</a> <a href="#curves">curves</a>
<a href="#results">results</a> <a href="#breakdown">breakdown</a> <a href="#gallery">episodes</a></nav></header>
<main>{body}</main><footer>{footer}</footer><script>{script}</script></body></html>
"""

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
header{background:#1d2a3a;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}
nav a{color:#9cc4ff;margin-right:10px}main{padding:8px 24px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 16px 16px;margin:14px 0}
h2{font-size:17px;margin:8px 0}h3{font-size:15px;margin:10px 0 4px}
table{border-collapse:collapse;margin:4px 16px 8px 0}th,td{padding:2px 8px;border-bottom:1px solid #eceff2;text-align:left}
caption{text-align:left;font-weight:600;padding:2px 0}.tables{display:flex;flex-wrap:wrap;align-items:flex-start}
table.kv{display:block;columns:3;column-gap:24px}table.kv tr{display:table;width:100%;table-layout:fixed;break-inside:avoid}
table.kv th{width:48%}table.kv td{overflow-wrap:anywhere}
.results td,.results th{white-space:nowrap}small{color:#66707a}.muted{color:#66707a}img{max-width:100%}
.filters button{margin:0 6px 8px 0;padding:4px 10px;border:1px solid #9aa5b1;border-radius:14px;background:#fff;cursor:pointer}
.filters button.on{background:#1d2a3a;color:#fff}#shown{color:#66707a;margin-left:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.card{margin:0;border:2px solid #ccc;border-radius:6px;padding:6px;background:#fafbfc}.card.ok{border-color:#3a9a5b}
.card.fail{border-color:#c8553d}.card video{width:100%;display:block;background:#000}.card[hidden]{display:none}
q{display:block;margin:4px 0;font-style:italic}.facts span{margin-right:10px;color:#3c4650}
footer{color:#66707a;padding:4px 24px 16px}
"""

# Plain JS, no library: the outcome filter.
_SCRIPT = """
(function(){
  var buttons=document.querySelectorAll('.filters button'), cards=document.querySelectorAll('.card');
  function show(filter){
    var n=0;
    cards.forEach(function(c){
      var o=c.getAttribute('data-outcome');
      var on=filter==='all'||o===filter||(filter==='failure'&&o!=='success');
      c.hidden=!on; if(on){n++;}
      if(!on){var v=c.querySelector('video'); if(v){v.pause();}}
    });
    buttons.forEach(function(b){b.classList.toggle('on',b.getAttribute('data-filter')===filter);});
    var s=document.getElementById('shown'); if(s){s.textContent='showing '+n+' of '+cards.length;}
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){show(b.getAttribute('data-filter'));});});
  show('all');
})();
"""
