"""Draws the PNG plot of one `sluice-bench soak` result from its JSON file (nothing else is read).

    soak.py NAME.soak.json   ->   NAME.soak.png   (path printed)

Four panels over the run's minutes, with worker 1's kills as vertical lines (dashed: the kill also deleted
its local state, so it restored from S3): each worker's RSS and, where the result has the cache figures, its
RSS minus its caches (block cache, table readers, read cache); the consumer group's lag; the mean duration
of the checkpoints each worker completed between two samples; the checkpoint bytes uploaded between two
samples and the objects in the checkpoint store.
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


def rest(samples, w):
    """(minutes, RSS minus caches) of worker `w`, for the samples that have RSS and all three caches."""
    keys = ("rss_mib", "block_cache_mib", "table_readers_mib", "read_cache_mib")
    out = []
    for s in samples:
        vals = [s.get(k, [])[w] if w < len(s.get(k, [])) else None for k in keys]
        if None not in vals:
            out.append((s["t_secs"] / 60.0, vals[0] - sum(vals[1:])))
    return out


def uploaded(samples):
    """(minutes, MiB uploaded by both workers since the previous sample)."""
    return [(s["t_secs"] / 60.0, sum(v for v in s["uploaded_mib"] if v is not None))
            for s in samples if "uploaded_mib" in s]


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
    fig, (rss, lag, ckpt, store) = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    for w, (label, color) in enumerate(WORKERS):
        draw(rss, series(samples, "rss_mib", w), color=color, label=label)
        draw(rss, rest(samples, w), color=color, linestyle="--", label=f"{label}: RSS minus caches")
        draw(ckpt, series(samples, "checkpoint_mean_ms", w), color=color, marker=".", linestyle="none",
             label=label)
    draw(lag, series(samples, "lag"), color="tab:red")
    draw(store, uploaded(samples), color="tab:green", marker=".", linestyle="none", label="uploaded, MiB")
    objects = store.twinx()
    draw(objects, series(samples, "store_objects") if "store_objects" in samples[0] else [], color="tab:purple",
         label="objects in the store")
    objects.set_ylabel("objects in the store", color="tab:purple")
    for ax in (rss, lag, ckpt, store):
        for k in result["kills"]:
            ax.axvline(k["t_secs"] / 60.0, color="gray", alpha=0.4, linestyle="--" if k["lost_disk"] else ":")
        ax.grid(True, alpha=0.3)
    rss.set_ylabel("RSS, MiB")
    rss.legend(loc="upper left", fontsize=8)
    lag.set_ylabel("lag, input records")
    ckpt.set_ylabel("checkpoint duration, ms\n(mean per sample)")
    store.set_ylabel("checkpoint upload, MiB\n(both workers, per sample)", color="tab:green")
    store.set_xlabel("minutes since the workers started")
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
