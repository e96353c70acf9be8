"""How well an audit CSV finds the wrong labels of a label table whose true labels are known.

    .venv/bin/python benchmarks/audit_against_truth.py runs/pipelines/crowd_audit.csv \
        --labels runs/pipelines/esc_crowd_noisy_s4/crowd/labels.csv --truth runs/demo/esc10/labels.csv

A clip's label is wrong when its row in ``--labels`` differs from ``--truth``; only clips of
``--source`` count. Clips are ranked by their first row in the audit; wrong clips the audit does
not list count as found at no rank (they lower the average precision).
"""

from __future__ import annotations

import argparse

from earmark.audit import read_audit
from earmark.data.table import read_labels


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("audit")
    parser.add_argument("--labels", required=True, help="the labels the audited run trained on")
    parser.add_argument("--truth", required=True, help="the true labels of the same clips")
    parser.add_argument("--source", default="noisy", help="only clips of this source count")
    args = parser.parse_args()
    given = read_labels(args.labels)
    truth = read_labels(args.truth).with_classes(given.class_names).select(clip_ids=given.clip_ids.tolist())
    audited = given.source == args.source
    wrong = set(given.clip_ids[audited & ~(given.positive == truth.positive).all(1)].tolist())
    order = list(dict.fromkeys(item.clip for item in read_audit(args.audit)))
    ranks = sorted(order.index(clip) + 1 for clip in wrong if clip in order)
    precision_sum = sum((k + 1) / rank for k, rank in enumerate(ranks))
    print(
        f"{int(audited.sum())} {args.source} clips, {len(wrong)} wrongly labeled; "
        f"the audit lists {len(order)}"
    )
    print(f"ranks of the wrong labels: {', '.join(map(str, ranks))}; not listed: {len(wrong) - len(ranks)}")
    print(
        f"average precision {precision_sum / max(len(wrong), 1):.3f} "
        f"(base rate {len(wrong) / audited.sum():.3f})"
    )


if __name__ == "__main__":
    main()
