"""Every benchmark starts as a script from any folder: its imports resolve and `--help` runs nothing else."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = [p for p in sorted((Path(__file__).resolve().parents[1] / "bench").glob("*.py"))
         if '__name__ == "__main__"' in p.read_text()]  # scripts, not the helpers they share


@pytest.mark.parametrize("script", BENCH, ids=[s.name for s in BENCH])
def test_a_benchmark_script_answers_help_from_another_folder(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")


def test_the_report_prints_a_maspo_credit_report_old_and_new():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from report import maspo_credit

    credit = {"turns": 3, "candidates": 11, "accepted": [{}, {}], "global_delta": 0.0417, "local_wins": 2,
              "misalignment_rate": 0.0, "lm_calls": 412}
    new = {"credit": {"researcher.hop": credit}, "judge_calls": 78, "rounds": 2, "stopped": "budget",
           "lm_calls": 540, "validation": {"seed": 0.38, "optimized": 0.504}}
    text = maspo_credit({"compiles": {"maspo": {"optimizer_report": new}, "opro": {"optimizer_report": {}}}})
    assert "2 full rounds, stopped by budget, 540 LM calls, 78 judgments" in text
    assert "| researcher.hop | 3 | 11 | 412 | 2 | — | +0.042 | 2 | 0.00 |" in text
    assert "seed 0.380, optimized 0.504" in text
    before_calls = {k: v for k, v in credit.items() if k != "lm_calls"}  # reports before calls were per agent
    confirmed = {**new, "credit": {"researcher.hop": {**before_calls, "refused_on_confirmation": [{}]}}}
    assert "| researcher.hop | 3 | 11 | — | 2 | 1 | +0.042 |" in maspo_credit({"compiles": {"m": {
        "optimizer_report": confirmed}}})
    old = {k: v for k, v in new.items() if k not in ("rounds", "stopped", "lm_calls", "validation")}
    text = maspo_credit({"compiles": {"maspo": {"optimizer_report": old}}})
    assert "(78 judgments)" in text and "none (nothing accepted, or label-free before it had one)" in text
    judged = {**new, "validation": {"judged_wins": 9, "judged_losses": 3, "ties": 38, "p_value": 0.073, "alpha": 0.1}}
    assert ("the judge preferred the optimized answers 9 times, the seed's 3 (38 ties), p = 0.073 against 0.1"
            in maspo_credit({"compiles": {"m": {"optimizer_report": judged}}}))


def test_the_report_states_the_smallest_difference_a_comparison_detects():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from report import detectable

    def row(low, high):
        return {"f1_vs_baseline": {"mean": (low + high) / 2, "ci_low": low, "ci_high": high}}

    # Paired 95% intervals 0.14 wide are 3.92 standard errors: 80% power at 5% needs 2.8 of them, 0.100.
    comparison = {"leaderboard": [row(-0.04, 0.10), {}, row(0.0, 0.0), row(-0.07, 0.07), row(-0.10, 0.10)]}
    assert "about ±0.100 in f1" in detectable(comparison, "f1")
    assert detectable({"leaderboard": [row(0.0, 0.0)]}, "f1") == ""  # every candidate kept the baseline


def test_the_report_compares_each_compiled_program_with_each_edit_of_its_run():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from report import compiled_vs_edits

    scores = {"baseline": [0, 0, 0, 0], "my-edit": [1, 1, 0, 0], "20261204T000000Z-maspo-1": [1, 0, 0, 0]}
    [_, line] = compiled_vs_edits({"paired_scores": {"scores": scores}}, {"20261204T000000Z-maspo-1": "maspo"}, "f1")
    assert line.startswith("maspo vs my-edit (paired f1): -0.250 [") and line.endswith("(0 better, 1 worse)")
    assert compiled_vs_edits({"paired_scores": {"scores": {"baseline": [0], "x": [1]}}}, {"x": "maspo"}, "f1") == []


def test_an_arm_is_labelled_by_the_flags_that_make_it_another_method_or_draw():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from compile_compare import arm_label

    assert arm_label(["maspo", "--label-free", "--prompt-model", "local-1.5b"]) == "maspo-label-free@local-1.5b"
    assert arm_label(["mipro-instructions", "--optimizer-seed", "1", "--budget", "medium"]) == \
        "mipro-instructions-seed1"


def test_selection_power_counts_the_samples_that_rank_a_program_above_the_baseline(tmp_path):
    scores = {"baseline": [0.0, 1.0, 0.0, 1.0], "always-better": [1.0, 1.0, 1.0, 1.0],
              "kept-seed": [0.0, 1.0, 0.0, 1.0], "one-worse": [0.0, 0.0, 0.0, 1.0]}
    source = tmp_path / "cmp.json"
    source.write_text(json.dumps({"comparison": {"paired_scores": {"metric": "f1", "scores": scores}}}))
    script = Path(__file__).resolve().parents[1] / "bench" / "selection_power.py"
    done = subprocess.run([sys.executable, str(script), str(source), "--sizes", "1,4", "--draws", "200",
                           "--race", "1,2", "--final", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {r["candidate"]: r for r in json.loads((tmp_path / "selection_power-cmp.json").read_text())["rows"]}
    assert set(rows) == {"always-better", "one-worse"}  # a program identical to the seed is no candidate
    assert rows["always-better"]["samples"]["4"] == {"above": 1.0, "tie": 0.0}
    assert rows["one-worse"]["samples"]["4"] == {"above": 0.0, "tie": 0.0}
    assert 0.6 < rows["one-worse"]["samples"]["1"]["tie"] < 0.9  # 3 of 4 questions tie
    # OPRO's race: ahead at 1 and 2 questions, then a final check on a third. "always-better" gains on 2 of 4
    # questions, so it survives when the first one drawn is one of them.
    assert 0.35 < rows["always-better"]["race"]["survives"] < 0.65
    assert rows["always-better"]["race"]["adopted"] < rows["always-better"]["race"]["survives"]
    assert rows["one-worse"]["race"] == {"survives": 0.0, "adopted": 0.0, "adopted_one_stage": 0.0}  # ties drop it


def test_selection_power_explains_a_results_file_without_paired_scores(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"comparison": {"entries": []}}))
    script = Path(__file__).resolve().parents[1] / "bench" / "selection_power.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "old.json")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "has no paired_scores" in done.stderr and "re-run its command" in done.stderr
