"""Print FAQ matching accuracy on the dev, held-out and blind sets, and match latency.

Usage: python benchmarks/faq_accuracy.py [DEV_SET [HELDOUT_SET [BLIND_SET [BLIND_2 [BLIND_3]]]]]

DEV_SET defaults to ../shared/faq-dev.yaml beside the repository (skipped when absent),
HELDOUT_SET to tests/data/faq-heldout.yaml, BLIND_SET to tests/data/faq-blind.yaml (written
last, by someone who saw neither the content, the matcher nor the other sets; not used for
tuning), BLIND_2 to tests/data/faq-blind-2.yaml and BLIND_3 to tests/data/faq-blind-3.yaml.
All were written blind; all but the last were later used to improve content or matcher, so
BLIND_3 is the honest estimate. Thresholds are those of config.yaml, as the bot uses them.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a plain script, so the repository root is not on sys.path by itself.
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from faq.content import load_faq  # noqa: E402  (needs the sys.path line above)
from faq.evaluation import EvalReport, evaluate, load_question_set  # noqa: E402
from faq.matching import FaqMatcher, Thresholds  # noqa: E402

DEV_SET = ROOT.parent / "shared" / "faq-dev.yaml"
HELDOUT_SET = ROOT / "tests" / "data" / "faq-heldout.yaml"
BLIND_SET = ROOT / "tests" / "data" / "faq-blind.yaml"
BLIND_SET_2 = ROOT / "tests" / "data" / "faq-blind-2.yaml"
BLIND_SET_3 = ROOT / "tests" / "data" / "faq-blind-3.yaml"
CONTENT = ROOT / "faq" / "content"


def print_report(name: str, report: EvalReport) -> None:
    print(f"\n== {name}: {report.summary()}")
    for failure in report.failures:
        print(
            f"  [{failure.kind}] {failure.question!r}: expected {failure.expected}, "
            f"got {failure.got} ({failure.band}, {failure.score:.1f})"
        )


def main(argv: list[str]) -> int:
    dev_path = Path(argv[1]) if len(argv) > 1 else DEV_SET
    heldout_path = Path(argv[2]) if len(argv) > 2 else HELDOUT_SET
    blind_path = Path(argv[3]) if len(argv) > 3 else BLIND_SET
    blind_2_path = Path(argv[4]) if len(argv) > 4 else BLIND_SET_2
    blind_3_path = Path(argv[5]) if len(argv) > 5 else BLIND_SET_3
    started = time.perf_counter()
    configured = load_config(ROOT / "config.yaml", environ={}).faq.thresholds
    thresholds = Thresholds(configured.answer, configured.suggest, configured.margin)
    matcher = FaqMatcher(load_faq(CONTENT), thresholds)
    print(f"matcher built in {(time.perf_counter() - started) * 1000:.0f} ms; {thresholds}")

    questions: list[str] = []
    sets = (
        ("dev", dev_path),
        ("held-out", heldout_path),
        ("blind", blind_path),
        ("blind-2", blind_2_path),
        ("blind-3", blind_3_path),
    )
    for name, path in sets:
        if not path.exists():
            print(f"\n== {name}: {path} not found, skipped")
            continue
        question_set = load_question_set(path)
        questions += [question for question, _ in question_set]
        print_report(f"{name} ({path})", evaluate(matcher, question_set))

    if questions:
        timings = []
        for _ in range(3):
            for question in questions:
                started = time.perf_counter()
                matcher.match(question)
                timings.append((time.perf_counter() - started) * 1000)
        p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
        print(
            f"\nlatency over {len(timings)} matches: mean {statistics.fmean(timings):.2f} ms, "
            f"p95 {p95:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
