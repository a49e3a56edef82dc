"""OPRO: large language models as optimizers (Yang et al., 2023, arXiv 2309.03409), as a DSPy Teleprompter.

The paper's loop, per predictor of a program:
- a meta-prompt holds a description of the task, the trajectory of the best instructions so far with their
  training scores in ascending order (the best last, nearest where the model writes; up to 20), a few task
  exemplars (3), and the meta-instruction to write a different instruction that scores higher;
- each step samples 8 candidate instructions from the prompt model at temperature 1.0, scores every one with
  the task model at temperature 0 on a training sample, and adds them all to the trajectory;
- the final choice among the best few is made on the validation split.

Multi-predictor programs: by default each predictor's instruction is optimized in turn against the whole
program's metric (`mode="sequential"`); `mode="joint"` proposes all instructions together.

Iteration controls, as hosted prompt optimizers (Datadog, LangMem) offer them: `max_iterations`, a
`stopping_condition` over the summary metrics, a `labelize` function that sorts examples into groups so the
exemplars shown are diverse (successes, failures, partial answers), `jobs` (parallel examples), `runs_per_record`
(repeat each example to average noise), `summary_evaluators` and `compute_score` (fold them into the score),
and always continuing from the best instructions so far.

Additions to the paper's meta-prompt, for weak (1-2B) prompt models: `show_summary` adds the best instructions'
summary metrics and, for a classifier, how often each class was output and expected; `tips` ends each sample's
meta-prompt with a different style tip (optimizers/proposals.py), so a step's 8 samples are not 8 paraphrases;
near copies of instructions already scored are not scored again; and a later step's exemplars show what that
step received beyond the task's inputs (the writer's passages), as MIPROv2's and GEPA's proposers see a
predictor's own inputs. The final choice always includes the seed and, in sequential mode, each predictor's best
candidate.
With `race=n` (compile.py's recipe: 8) a candidate is scored on n sample examples (in an order of its own), then
on twice as many, and so on, only while it stays ahead of the best so far on the same examples (MIPROv2 likewise
scores on minibatches and fully evaluates only the promising): a step can try 8 candidates at the cost of ~3 full
scorings; only a candidate ahead of the best on the whole sample becomes the best, and only one ahead of the seed
on it (or still ahead when the budget ended its race) a finalist.
A later step's candidate replays the best's recorded calls of the steps before it (optimizers/replay.py, as MASPO
re-runs from an agent onward), so it costs only the calls from that step on: about half a run for
researcher_writer's writer. `max_program_runs` counts runs in whole-run equivalents of those calls and stops the
loop before a candidate the budget cannot afford. The result (`OPRO.result`)
keeps `best_prompt`, `best_score`, `best_iteration`, `total_iterations`, why the loop `stopped`, the full history
and a `summary()` table.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import dspy
from dspy.teleprompt import Teleprompter

from optimizers.proposals import (CONTEXT_CHARS, Proposer, example_inputs, expected_fields, fields_text,
                                  program_description, received_fields, step_role, unusable)
from optimizers.replay import RecordedEvaluate, Run, recording
from programs.instructions import instructions_of, with_instructions

META_INSTRUCTION = ("Write a new instruction that is different from all the instructions above and has a score as "
                    "high as possible. Write only the instruction, in square brackets.")


@dataclass
class Candidate:
    instructions: dict[str, str]  # predictor name -> instruction (the whole program's, after this candidate)
    score: float  # on the training sample
    iteration: int
    target: str  # the predictor it changed ("*" for joint proposals, "" for the seed)
    summary: dict = field(default_factory=dict)
    val_score: float | None = None
    examples: int = 0  # training examples it was scored on (fewer than the sample when the race dropped it)
    cut: bool = False  # still ahead of the best when the run budget ended its race: not beaten, just unfinished


@dataclass
class IterationRecord:
    iteration: int
    target: str
    meta_prompt: str
    candidates: list[Candidate]
    best_score: float
    best_prompt: dict[str, str]
    summary: dict


def categorical_fields(examples: list) -> list[str]:
    """Label fields with few distinct values (a classifier's yes/no); ids and free-form answers are not."""
    values: dict[str, set] = {}
    for ex in examples:
        for k, v in ex.labels().items():
            values.setdefault(k, set()).add(str(v))
    return sorted(k for k, seen in values.items() if len(seen) <= max(2, len(examples) // 5))


def scoring_sample(trainset: list, n: int | None, rng: random.Random) -> list:
    """A shuffled sample of n examples, stratified when the labels are categorical (a classifier's yes/no).

    A plain shuffle of 8 from a 54/46 training set gave 8 examples of one class (seed 0 on hallucination): every
    instruction that ever flags anything then scores below the seed, and the search learns nothing."""
    pool = list(trainset)
    rng.shuffle(pool)
    if not n or n >= len(pool):
        return pool
    fields = categorical_fields(pool)
    if not fields:
        return pool[:n]
    groups: dict[tuple, list] = {}
    for ex in pool:
        groups.setdefault(tuple(str(ex.labels().get(k)) for k in fields), []).append(ex)
    sample, queues = [], list(groups.values())
    while len(sample) < n:  # round robin over the classes, in the shuffled order within each
        for queue in queues:
            if queue and len(sample) < n:
                sample.append(queue.pop(0))
    return sample


def _key(instructions: dict[str, str]) -> tuple:
    return tuple(sorted(instructions.items()))


def call_share(runs: list[Run], target: str) -> float:
    """The share of a whole run's step calls that a candidate for `target` makes, the calls before the step's
    first one being replayed: 1 for the first step, about 1/2 for researcher_writer's writer."""
    total = sum(len(r.events) for r in runs)
    return sum(r.calls_from(target) for r in runs) / total if total else 1.0


class OPROResult:
    def __init__(self):
        self.history: list[IterationRecord] = []
        self.best: Candidate | None = None
        self.best_iteration = 0
        self.final_choice: list[Candidate] = []
        self.stopped = ""  # why the loop ended: max_iterations, budget or stopping_condition

    @property
    def best_prompt(self) -> dict[str, str]:
        return dict(self.best.instructions) if self.best else {}

    @property
    def best_score(self) -> float:
        return self.best.score if self.best else float("nan")

    @property
    def total_iterations(self) -> int:
        return max((h.iteration for h in self.history), default=0)

    def get_history(self) -> list[IterationRecord]:
        return list(self.history)

    def get_score_history(self) -> list[float]:
        return [h.best_score for h in self.history]

    def get_prompt_history(self) -> list[dict[str, str]]:
        return [h.best_prompt for h in self.history]

    def summary(self) -> str:
        """A score-progression table: one row per step, with the best instruction it produced."""
        lines = ["iteration | target | candidates | best of step | best so far | instruction",
                 "---|---|---|---|---|---"]
        for h in self.history:
            if not h.candidates:  # every proposal unusable or a near copy of one already scored
                lines.append(f"{h.iteration} | {h.target} | 0 | — | {h.best_score:.3f} | (no new instruction)")
                continue
            top = max(h.candidates, key=lambda c: c.score)
            text = top.instructions.get(top.target, " / ".join(top.instructions.values())).replace("\n", " ")
            lines.append(f"{h.iteration} | {h.target or 'seed'} | {len(h.candidates)} | {top.score:.3f} | "
                         f"{h.best_score:.3f} | {text[:100]}")
        if self.best is not None:
            val = f", validation {self.best.val_score:.3f}" if self.best.val_score is not None else ""
            lines.append(f"\nbest: training score {self.best.score:.3f} (iteration {self.best_iteration}){val}")
        return "\n".join(lines)


def default_labelize(example, prediction, score: float) -> str:
    if prediction is None:
        return "error"
    return "success" if score >= 0.999 else "failure" if score <= 0.0 else "partial"


class OPRO(Teleprompter):
    def __init__(self, metric: Callable, *, prompt_model=None, task_model=None, candidates_per_step: int = 8,
                 temperature: float = 1.0, max_iterations: int = 3, trajectory_size: int = 20, exemplars: int = 3,
                 train_sample: int | None = 10, mode: str = "sequential", final_candidates: int = 3,
                 stopping_condition: Callable[[dict], bool] | None = None,
                 labelize: Callable = default_labelize, jobs: int = 1, runs_per_record: int = 1,
                 summary_evaluators: dict[str, Callable] | None = None,
                 compute_score: Callable[[dict], float] | None = None, seed: int = 0,
                 on_iteration: Callable[[IterationRecord], None] | None = None, task_description: str | None = None,
                 show_summary: bool = True, max_program_runs: int | None = None, tips: bool = True,
                 race: int | None = None):
        if mode not in ("sequential", "joint"):
            raise ValueError(f"mode must be 'sequential' or 'joint', not {mode!r}")
        self.metric, self.prompt_model, self.task_model = metric, prompt_model, task_model
        self.candidates_per_step, self.temperature = candidates_per_step, temperature
        self.max_iterations, self.trajectory_size, self.exemplars = max_iterations, trajectory_size, exemplars
        self.train_sample, self.mode, self.final_candidates = train_sample, mode, final_candidates
        self.stopping_condition, self.labelize = stopping_condition, labelize
        self.jobs, self.runs_per_record = jobs, runs_per_record
        self.summary_evaluators, self.compute_score = summary_evaluators or {}, compute_score
        self.seed, self.on_iteration, self.task_description = seed, on_iteration, task_description
        self.show_summary, self.tips, self.race = show_summary, tips, race
        self._race_rng = random.Random(f"{seed}-race")  # its own stream: proposals and exemplars do not shift
        # A budget of program runs (scoring and the final validation): the loop stops before a candidate it cannot
        # afford, so steps that drop unusable or repeated proposals leave room for more steps, not unspent budget.
        self.max_program_runs, self.runs_spent = max_program_runs, 0.0
        self._runs: dict[tuple, Run] = {}  # (instructions, rollout, example) -> its recorded run
        self._run_calls: float | None = None  # step calls of one whole program run (from the seed's runs)
        self._shares: dict[str, float] = {}  # per step, the share of a run's calls its candidates make
        self.result = OPROResult()
        self._proposer = Proposer(prompt_model, temperature)

    # --- scoring -------------------------------------------------------------------------------------------
    def _run(self, student, instructions: dict[str, str], examples: list, target: str | None = None,
             base: dict[str, str] | None = None) -> list:
        """(example, prediction or None, metric) rows of the program with these instructions. Given the `base`
        instructions they differ from at step `target` only, each example replays base's recorded calls before
        the step's first one: a writer candidate costs the writer's calls, not the researcher's again."""
        program, key = recording(student, instructions), _key(instructions)
        rows, fresh = [], 0
        for run in range(self.runs_per_record):
            # Run 0 is the plain call (cacheable, resumable); further runs vary the rollout to sample anew.
            lm = dspy.settings.lm if run == 0 else dspy.settings.lm.copy(rollout_id=run)
            replays = None
            if base is not None and target != "*":
                base_key = _key(base)
                replays = [self._runs[(base_key, run, id(ex))].before(target) for ex in examples]
            scoring = RecordedEvaluate(devset=examples, metric=self.metric, replays=replays, num_threads=self.jobs)
            with dspy.context(lm=lm):
                scoring(program)
            for ex, r in zip(examples, scoring.runs):
                self._runs[(key, run, id(ex))] = r
                rows.append((ex, r.prediction if isinstance(r.prediction, dspy.Prediction) else None, r.score))
                fresh += r.fresh
        if self._run_calls is None:  # the first run (the seed's): a whole program run's step calls
            self._run_calls = max(fresh / max(len(rows), 1), 1.0)
        if target not in (None, "*") and rows:  # what this step's candidates really cost: replays can end early
            observed = fresh / (len(rows) * self._run_calls)
            self._shares[target] = max(self._shares.get(target, 0.0), observed)
        self.runs_spent += fresh / self._run_calls if fresh else 0
        return rows

    def _summarize(self, rows: list) -> tuple[float, dict]:
        """The mean metric, the summary evaluators, and the score (`compute_score` of them, if given)."""
        summary = {"score": sum(r[2] for r in rows) / max(len(rows), 1)}
        summary.update({name: fn(rows) for name, fn in self.summary_evaluators.items()})
        return (float(self.compute_score(summary)) if self.compute_score else summary["score"]), summary

    def _score(self, student, instructions: dict[str, str], examples: list) -> tuple[float, dict, list]:
        rows = self._run(student, instructions, examples)
        return (*self._summarize(rows), rows)

    def rungs(self, n: int) -> list[int]:
        """How many sample examples a candidate has been scored on at each check of the race: doubling from
        `race` to the whole sample (8, 16, 24 for 24); the whole sample at once without a race."""
        if not self.race or self.race >= n:
            return [n]
        sizes = [self.race]
        while sizes[-1] < n:
            sizes.append(min(2 * sizes[-1], n))
        return sizes

    def _race_order(self, sample: list) -> list:
        """The order a candidate meets the sample's examples in: its own shuffle. With one fixed order, a draw
        whose first 8 the seed already answered well (researcher_writer, optimizer seed 1: F1 0.81 there, 0.62 on
        all 24) left every candidate at best tied there, and ties are dropped."""
        order = list(sample)
        self._race_rng.shuffle(order)
        return order

    def _race(self, student, instructions: dict[str, str], target: str, sample: list, best: Candidate,
              best_rows: list, affordable: Callable[[float], bool]) -> tuple[float, dict, list, int, bool] | None:
        """Scores a candidate on growing prefixes of its order of the sample while it stays ahead of the best so
        far on the same examples (successive halving in the style of MIPROv2's minibatches, on the paired difference).

        A candidate dropped after n examples is given the best's score plus its paired difference on those n: an
        estimate on the best's scale, so the meta-prompt's ascending order stays meaningful. On 8 questions one
        flipped answer is 0.125: researcher_writer's OPRO (600 calls, 8-example sample) made a researcher
        paraphrase its best at 0.458 vs the seed's 0.375, and it lost to the seed on validation. The last item
        says the budget ended the race while the candidate was ahead. None when the budget cannot afford the first
        rung."""
        order = self._race_order(sample)
        rows, done, cut = [], 0, False
        for size in self.rungs(len(sample)):
            if not affordable(self._cost(target, size - done)):
                cut = done > 0  # ahead at the last check (a candidate behind has left the loop already)
                break
            rows += self._run(student, instructions, order[done:size], target, best.instructions)
            done = size
            score, summary = self._summarize(rows)
            if done == len(sample):
                return score, summary, rows, done, False
            prefix = {id(ex) for ex in order[:done]}
            best_prefix, _ = self._summarize([r for r in best_rows if id(r[0]) in prefix])
            if score <= best_prefix:
                break
        if not done:
            return None
        return best.score + score - best_prefix, summary, rows, done, cut

    def _cost(self, target: str, examples: int) -> float:
        """The program runs a candidate for `target` spends on this many examples (its replayed calls are free)."""
        return examples * self.runs_per_record * self._shares.get(target, 1.0)

    # --- the meta-prompt -----------------------------------------------------------------------------------
    def _task_text(self, student, target: str) -> str:
        described = program_description(student, self.task_description)
        if target == "*":
            steps = "\n".join(f"- {name}: takes {', '.join(p.signature.input_fields)}; produces "
                              f"{', '.join(p.signature.output_fields)}" for name, p in student.named_predictors())
            return f"{described}\n\nThe program's steps:\n{steps}"
        return f"{described}\n\n{step_role('step', target, dict(student.named_predictors())[target].signature)}"

    def _step_calls(self, instructions: dict[str, str], target: str, examples: list) -> dict:
        """What step `target` received and wrote on each example (its last call), from the recorded runs of these
        instructions. Empty for a joint proposal or a step that sees only the example's own inputs."""
        if target == "*":
            return {}
        found = {}
        for ex in examples:
            run = self._runs.get((_key(instructions), 0, id(ex)))
            calls = run.calls.get(target) if run else None
            if calls and not set(calls[-1][0]) <= set(ex.inputs()):
                found[id(ex)] = calls[-1]
        return found

    def _exemplar_text(self, rows: list, rng: random.Random, instructions: dict[str, str], target: str) -> str:
        groups: dict[str, list] = {}
        for ex, pred, score in rows:
            groups.setdefault(self.labelize(ex, pred, score), []).append((ex, pred, score))
        picked, names = [], sorted(groups)
        while len(picked) < self.exemplars and any(groups.values()):
            for name in names:  # round robin over the groups: diverse cases, not just the common one
                if groups[name] and len(picked) < self.exemplars:
                    picked.append((name, groups[name].pop(rng.randrange(len(groups[name])))))
        # A later step's exemplar shows what that step read (the writer's passages): the question and the gold
        # answer alone cannot show a proposer why the step answered as it did.
        steps = self._step_calls(instructions, target, [ex for _, (ex, _, _) in picked])
        blocks = []
        for label, (ex, pred, score) in picked:
            inputs = fields_text(ex.inputs(), None)  # the task's own inputs, whole (the paper's exemplars)
            expected = fields_text(expected_fields(ex))
            program_output = {k: v for k, v in (pred.items() if pred is not None else [])
                              if isinstance(v, (str, int, float))}
            step = ""
            if id(ex) in steps:
                received, wrote = steps[id(ex)]
                step = f"step '{target}' received:\n{fields_text(received_fields(received, ex), CONTEXT_CHARS)}\n"
                if any(program_output.get(k) != v for k, v in wrote.items()):
                    step += f"step '{target}' wrote:\n{fields_text(dict(wrote.items()))}\n"
            # No square brackets here: proposals are read from brackets, and a small model echoes these headers.
            blocks.append(f"Exemplar ({label}, score {score:.2f})\ninput:\n{inputs}\n{step}program output:\n"
                          f"{fields_text(program_output) or '(error)'}\nexpected output:\n{expected}")
        return "\n\n".join(blocks)

    def _meta_prompt(self, student, target: str, trajectory: list[Candidate], best: Candidate, rows: list,
                     rng) -> str:
        ranked = sorted(trajectory, key=lambda c: c.score)[-self.trajectory_size:]  # ascending: best last
        if target == "*":
            past = "\n\n".join("text:\n" + "\n".join(f"{n}: [{t}]" for n, t in c.instructions.items()) +
                               f"\nscore:\n{100 * c.score:.0f}" for c in ranked)
            ask = ("Write new instructions for every step, different from all those above and scoring as high as "
                   "possible, one line per step in the form `step name: [instruction]`.")
        else:
            past = "\n\n".join(f"text:\n{c.instructions[target]}\nscore:\n{100 * c.score:.0f}" for c in ranked)
            ask = META_INSTRUCTION
        return (f"{self._task_text(student, target)}\n\nI have some instructions along with their corresponding "
                f"scores. The instructions are arranged in ascending order based on their scores, where higher "
                f"scores indicate better quality.\n\n{past}\n\n{self._outcome_text(best.summary, rows)}"
                f"The following exemplars show the task: the input, "
                f"what the program wrote with the best instructions so far, and the expected output.\n\n"
                f"{self._exemplar_text(rows, rng, best.instructions, target)}\n\n{ask}")

    def _outcome_text(self, summary: dict, rows: list) -> str:
        """What the best instructions so far do on the whole sample (the Datadog loop shows its proposer the
        summary evaluations): the summary metrics, and for a classifier how often each class was predicted and
        expected. Three exemplars cannot show that the 1.5B detector answers "no" to all 13 (hallucination)."""
        if not self.show_summary or not rows:
            return ""
        lines = [f"- {name}: {value:.2f}" for name, value in summary.items()
                 if name != "score" and isinstance(value, (int, float))]
        for name in categorical_fields([ex for ex, _, _ in rows]):
            predicted = Counter(str(pred.get(name)) for _, pred, _ in rows if pred is not None)
            expected = Counter(str(ex.get(name)) for ex, _, _ in rows)
            lines.append(f"- {name}: the program output " + ", ".join(f"{v} {n} times" for v, n in
                         sorted(predicted.items())) + "; expected " +
                         ", ".join(f"{v} {n} times" for v, n in sorted(expected.items())))
        if not lines:
            return ""
        return "On the training examples, the best instruction so far gives:\n" + "\n".join(lines) + "\n\n"

    def _propose(self, meta_prompt: str, student, target: str, base: dict[str, str],
                 scored: list[Candidate], inputs=()) -> list[dict[str, str]]:
        """The step's new candidates: parsed from the samples, none a (near) copy of one already scored or of
        another in this step, none quoting one of the training sample's `inputs` (its exemplars are shown)."""
        predictors = dict(student.named_predictors())
        # In a multi-step program, a step's proposal that restates what the whole program does is no instruction.
        program = program_description(student, self.task_description) if len(predictors) > 1 else None
        if target != "*":
            # The meta-prompt asks for a different instruction; a near copy would spend a step's scoring budget to
            # learn nothing (the 1.5B model often changes one word).
            exclude = [base[target], *(c.instructions[target] for c in scored)]
            return [{**base, target: instruction} for instruction in
                    self._proposer.instructions(meta_prompt, self.candidates_per_step, exclude=exclude,
                                                tips=self.tips, fields=predictors[target].signature.fields,
                                                program=program, inputs=inputs)]
        proposals, seen = [], {tuple(sorted(c.instructions.items())) for c in scored}
        for text in self._proposer.sample(meta_prompt, self.candidates_per_step, tips=self.tips):
            new = {}
            for name in base:
                match = re.search(rf"{re.escape(name)}\s*:\s*\[([^\[\]]+)\]", text)
                if match and not unusable(match.group(1).strip(), predictors[name].signature.fields, program,
                                          inputs):
                    new[name] = match.group(1).strip()
            candidate = {**base, **new}
            key = tuple(sorted(candidate.items()))
            if new and key not in seen and candidate != base:
                seen.add(key)
                proposals.append(candidate)
        return proposals

    # --- the loop ------------------------------------------------------------------------------------------
    def compile(self, student, *, trainset, valset=None, **kwargs):
        self.runs_spent, self._runs, self._run_calls, self._shares = 0.0, {}, None, {}  # a second compile starts anew
        self.result = OPROResult()
        rng = random.Random(self.seed)
        sample = scoring_sample(trainset, self.train_sample, rng)
        lm = self.task_model or dspy.settings.lm
        names = [n for n, _ in student.named_predictors()]
        with dspy.context(lm=lm):
            seed_instructions = instructions_of(student)
            score, summary, rows = self._score(student, seed_instructions, sample)
            seed_runs = [self._runs[(_key(seed_instructions), 0, id(ex))] for ex in sample]
            self._shares = {name: call_share(seed_runs, name) for name in names}
            best = Candidate(seed_instructions, score, 0, "", summary, examples=len(sample))
            trajectories = {t: [best] for t in (["*"] if self.mode == "joint" else names)}
            self.result.best, self.result.best_iteration = best, 0
            self._record(IterationRecord(0, "", "", [best], best.score, best.instructions, summary))
            def reserve() -> int:
                # The final choice's validation runs: for the finalists so far and the next one (the candidate
                # about to be scored may become one). A fixed reserve for final_candidates was never spent by a
                # compile that found no finalist: a third of researcher_writer's 600 calls.
                contenders = self._contenders([c for t in trajectories.values() for c in t], valset)
                return min(self.final_candidates, len(contenders) + 1) * len(valset or [])

            def affordable(runs: float) -> bool:  # (slack: the spent runs are sums of fractions)
                return (self.max_program_runs is None
                        or self.runs_spent + runs + reserve() <= self.max_program_runs + 1e-9)

            def first_rung(target: str) -> float:
                return self._cost(target, self.rungs(len(sample))[0])

            self.result.stopped = "max_iterations"
            shown = example_inputs(sample)  # the proposer's exemplars come from the sample
            for iteration in range(1, self.max_iterations + 1):
                for target in trajectories:
                    if not affordable(first_rung(target)):
                        continue  # a later step's candidates may cost less than this one's
                    meta = self._meta_prompt(student, target, trajectories[target], best, rows, rng)
                    scored = []
                    for instructions in self._propose(meta, student, target, best.instructions, trajectories[target],
                                                      shown):
                        raced = self._race(student, instructions, target, sample, best, rows, affordable)
                        if raced is None:
                            break
                        s, summ, r, n, cut = raced
                        scored.append((Candidate(instructions, s, iteration, target, summ, examples=n, cut=cut), r))
                    trajectories[target] += [c for c, _ in scored]
                    whole = [(c, r) for c, r in scored if c.examples == len(sample)]  # only these can lead
                    if whole:
                        top, top_rows = max(whole, key=lambda pair: pair[0].score)
                        if top.score > best.score:  # always continue from the best so far
                            best, rows = top, top_rows
                            self.result.best, self.result.best_iteration = best, iteration
                    self._record(IterationRecord(iteration, target, meta, [c for c, _ in scored], best.score,
                                                 dict(best.instructions), best.summary))
                if not any(affordable(first_rung(t)) for t in trajectories):
                    self.result.stopped = "budget"
                    break
                if self.stopping_condition and self.stopping_condition(best.summary):
                    self.result.stopped = "stopping_condition"
                    break
            chosen = self._final_choice(student, [c for t in trajectories.values() for c in t], valset)
        self.result.best, self.result.best_iteration = chosen, chosen.iteration
        program = with_instructions(student, chosen.instructions)
        program.optimizer_report = self.report()
        return program

    def report(self) -> dict:
        """The trajectory (every scored candidate, per step) and the summary table, for the artifact's manifest."""
        steps = [{"iteration": h.iteration, "target": h.target or "seed", "best_score": h.best_score,
                  "candidates": [{"score": c.score, "examples": c.examples, "cut": c.cut,
                                  "instruction": c.instructions.get(c.target, c.instructions)}
                                 for c in h.candidates]} for h in self.result.history]
        finalists = [{"train_score": c.score, "val_score": c.val_score, "instructions": c.instructions}
                     for c in self.result.final_choice]
        return {"best_prompt": self.result.best_prompt, "best_score": self.result.best_score,
                "best_iteration": self.result.best_iteration, "total_iterations": self.result.total_iterations,
                "stopped": self.result.stopped, "program_runs": round(self.runs_spent, 1),
                "trajectory": steps, "finalists": finalists, "summary": self.result.summary()}

    def _final_choice(self, student, candidates: list[Candidate], valset) -> Candidate:
        """The best few on the training sample, and the seed, compared on validation; the seed wins ties.

        A small training sample ranks by noise: on hallucination (13 examples, 1.5B proposer) the top candidate
        was an example pasted as an instruction, worse than the seed on validation. The finalists are each
        predictor's best first, then the best overall: on researcher_writer both finalists were researcher
        paraphrases (ties on 8 questions go to the earlier step) and no writer candidate was ever validated. The
        seed's validation score is the baseline evaluation compile.py has just run, usually served by the cache."""
        seed = next(c for c in candidates if c.iteration == 0)
        ranked = self._contenders(candidates, valset)
        per_target = list({c.target: c for c in reversed(ranked)}.values())  # each target's best
        finalists = []
        for c in [*sorted(per_target, key=lambda c: -c.score), *ranked]:
            if len(finalists) < self.final_candidates and all(c is not f for f in finalists):
                finalists.append(c)
        if not valset or not finalists:
            self.result.final_choice = [seed] if valset else []  # nothing to validate: the seed stands
            return max([*finalists, seed], key=lambda c: (c.score, c is seed))
        finalists.append(seed)
        for c in finalists:
            c.val_score, _, _ = self._score(student, c.instructions, list(valset))
        self.result.final_choice = finalists
        return max(finalists, key=lambda c: (c.val_score, c is seed, c.score))

    def _contenders(self, candidates: list[Candidate], valset) -> list[Candidate]:
        """The candidates the final choice may validate, best first, one per set of instructions (not the seed)."""
        unique = {}
        for c in sorted(candidates, key=lambda c: -c.score):
            unique.setdefault(tuple(sorted(c.instructions.items())), c)
        seed = next(c for c in candidates if c.iteration == 0)
        ranked = [c for c in unique.values() if c is not seed]
        if self.race:
            # Only candidates ahead of the seed on the whole sample: one the race dropped has lost to the best on
            # its prefix, and one behind on all of it would be chosen by the final check alone (researcher_writer,
            # optimizer seed 1: 0.621 vs 0.624 on 24 training questions, 0.571 vs 0.380 on 15 validation ones,
            # -0.027 on 300 test questions). A candidate the budget cut while ahead has lost nothing: it competes
            # with its estimate (hallucination, optimizer seed 0: 0.773 on 16 of 24 was never validated).
            ranked = [c for c in ranked if (c.examples == seed.examples or (c.cut and valset)) and c.score > seed.score]
        return ranked

    def _record(self, record: IterationRecord) -> None:
        self.result.history.append(record)
        if self.on_iteration:
            self.on_iteration(record)


# --- the compile.py recipe -------------------------------------------------------------------------------------

from optimizers.base import CompileContext, Plan, Recipe  # noqa: E402
from runtime import UserError  # noqa: E402


RACE = 8  # training examples every candidate is scored on before the race drops it or goes on


class Opro(Recipe):
    name = "opro"
    summary = "OPRO: the prompt model writes 8 new instructions per step from the scored trajectory (needs medium)"
    mode = "sequential"
    candidates_per_step = 8
    final_candidates = 2

    def plan(self, budget, n_train, n_val, n_predictors):
        steps = 1 if self.mode == "joint" else n_predictors
        final = self.final_candidates * n_val  # (+ the seed's validation run: compile.py's baseline, cached)
        # The paper scores on a sizable training sample; 8 examples score in steps of 1/8, so one flipped answer
        # makes a new best. So candidates race on a 24-example sample (8, 16, 24), dropped at the first check
        # where they are not ahead of the best: most cost 8 runs, and only a candidate ahead on all 24 leads.
        race, sample = min(RACE, n_train), min(3 * RACE, n_train)
        per_iteration = steps * self.candidates_per_step * race  # every candidate dropped at the first check
        if (budget.program_runs - sample - final) // per_iteration < 1:
            raise UserError(f"budget {budget.name} ({budget.program_runs} program runs) is too small for {self.name}: "
                            f"one iteration needs {sample + final + per_iteration}; use --budget medium or heavy, "
                            f"--max-calls, or a smaller --val-size")
        # The loop spends the whole run cap: steps often score fewer than 8 (unparseable or repeated proposals),
        # so up to twice the iterations that a full cap allows may fit (and their proposals are counted).
        runs = budget.program_runs
        iterations = 2 * -(-(runs - sample - final) // per_iteration)
        return Plan({"mode": self.mode, "candidates_per_step": self.candidates_per_step, "train_sample": sample,
                     "race": race, "max_iterations": iterations, "max_program_runs": runs,
                     "final_candidates": self.final_candidates, "temperature": 1.0, "exemplars": 3,
                     "trajectory_size": 20},
                    program_runs=runs, prompt_calls=iterations * steps * self.candidates_per_step)

    def compile(self, plan, ctx: CompileContext, student, trainset, valset):
        p = plan.params

        def log(record: IterationRecord):
            if ctx.on_iteration:
                candidates = "\n\n".join(f"score {c.score:.3f} ({c.examples} examples): "
                                           f"{c.instructions.get(c.target, c.instructions)}" for c in record.candidates)
                texts = {"meta_prompt.txt": record.meta_prompt, "candidates.md": candidates,
                         "best_prompt.json": record.best_prompt}
                ctx.on_iteration(f"{record.iteration}-{record.target or 'seed'}", record.best_score, texts)

        optimizer = OPRO(ctx.metric, prompt_model=ctx.prompt_lm, task_model=ctx.task_lm,
                         candidates_per_step=p["candidates_per_step"], temperature=p["temperature"],
                         max_iterations=p["max_iterations"], trajectory_size=p["trajectory_size"],
                         exemplars=p["exemplars"], train_sample=p["train_sample"], mode=p["mode"],
                         final_candidates=p["final_candidates"], jobs=ctx.threads, seed=ctx.seed,
                         summary_evaluators=ctx.summary_evaluators, compute_score=ctx.compute_score,
                         max_program_runs=p.get("max_program_runs"), race=p.get("race"), on_iteration=log)
        return optimizer.compile(student, trainset=trainset, valset=valset)


class OproJoint(Opro):
    name = "opro-joint"
    summary = "OPRO proposing all predictors' instructions together in one meta-prompt"
    mode = "joint"
