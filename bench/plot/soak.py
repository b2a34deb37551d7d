"""Draws the PNG plot of one `sluice-bench soak` result from its JSON file (nothing else is read).

    soak.py NAME.soak.json   ->   NAME.soak.png   (path printed)

Three panels over the run's minutes, with worker 1's kills as vertical lines (dashed: the kill also deleted
its local state, so it restored from S3): each worker's RSS, the consumer group's lag, and the mean duration
of the checkpoints each worker completed between two samples.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402

WORKERS = [("worker 0 (runs throughout)", "tab:blue"), ("worker 1 (killed)", "tab:orange")]


def series(samples, key, w=None):
    """(minutes, value) for every sample with a value (per worker `w` when the field is a list)."""
    out = []
    for s in samples:
        v = s[key] if w is None else (s[key][w] if w < len(s[key]) else None)
        if v is not None:
            out.append((s["t_secs"] / 60.0, v))
    return out


def draw(ax, points, **style):
    if points:
        ax.plot([t for t, _ in points], [v for _, v in points], **style)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: soak.py RESULT.json")
    src = Path(sys.argv[1])
    result = json.loads(src.read_text())
    samples, cfg = result["samples"], result["soak"]
    if not samples:
        raise SystemExit("soak.py: no samples in the result")
    fig, (rss, lag, ckpt) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for w, (label, color) in enumerate(WORKERS):
        draw(rss, series(samples, "rss_mib", w), color=color, label=label)
        draw(ckpt, series(samples, "checkpoint_mean_ms", w), color=color, marker=".", linestyle="none",
             label=label)
    draw(lag, series(samples, "lag"), color="tab:red")
    for ax in (rss, lag, ckpt):
        for k in result["kills"]:
            ax.axvline(k["t_secs"] / 60.0, color="gray", alpha=0.4, linestyle="--" if k["lost_disk"] else ":")
        ax.grid(True, alpha=0.3)
    rss.set_ylabel("RSS, MiB")
    rss.legend(loc="upper left", fontsize=8)
    lag.set_ylabel("lag, input records")
    ckpt.set_ylabel("checkpoint duration, ms\n(mean per sample)")
    ckpt.set_xlabel("minutes since the workers started")
    v = result["verified"]
    fig.suptitle(
        f"Soak: {cfg['records_per_sec']:,} records/s for {cfg['minutes']} min, {len(result['kills'])} kills; "
        f"{v['input_records']:,} records: {v['duplicates']} duplicates, {v['losses']} losses, "
        f"{v['mismatches']} mismatches\ncommit {cfg['provenance']['commit'][:10]}, {cfg['profile']} build, "
        f"{cfg['machine']}",
        fontsize=9,
    )
    fig.tight_layout()
    stem = str(src.with_suffix("") if src.suffix == ".json" else src)
    path = Path(f"{stem}.png" if stem.endswith(".soak") else f"{stem}.soak.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(path)


if __name__ == "__main__":
    main()
