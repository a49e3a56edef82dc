"""Optimize a team's prompts from conversation logs and feedback (cf. LangMem's multi-prompt optimizer), checked
by re-running instead of trusted on the LM's word.

1. Feedback: given where present (`{"score": ..}`, `{"comment": ..}`), inferred from the conversation by the
   prompt model where absent.
2. Attribution: one call over the team's prompts and the conversations that went wrong (each assistant message
   tagged with the step that wrote it when the trajectory comes from a program's trace) names the prompts
   responsible, most important first, with reasons. Nothing went wrong -> nothing changes, no further call.
3. Rewrite: each responsible prompt (up to `max_updates`) gets a minimal edit: the prompt model writes the one
   sentence that fixes the problems and it is added to the unchanged prompt; the similarity is reported.
4. Check: when the prompts belong to a program and the trajectories carry its inputs, those inputs are re-run
   with the current and the updated prompt, and a pairwise judge compares the final outputs. An update is kept
   only if it wins more comparisons than it loses (the win rate is reported), so a bad rewrite is not shipped.

`optimize(trajectories, prompts)` returns the prompt list with the same names, in the same order.
"""

from __future__ import annotations

import difflib
import random

import dspy
from dspy.teleprompt import Teleprompter

from data.trajectories import Trajectory, parse
from optimizers.judge import PairwiseJudge
from optimizers.proposals import program_description
from programs.instructions import with_instructions
from runtime import UserError, first_line


class InferFeedback(dspy.Signature):
    """Read a conversation between a user and an AI team. Judge how well the team served the user: 1.0 if the
    user got what they needed, 0.0 if not. Name the main problem, or write none."""

    conversation: str = dspy.InputField()
    score: float = dspy.OutputField(desc="from 0.0 to 1.0")
    problem: str = dspy.OutputField(desc="the main problem in one sentence, or none")


class AttributeProblems(dspy.Signature):
    """An AI team's prompts and some conversations that went wrong, with their feedback, are below. Decide which
    prompts caused the problems and must change, most important first, and why. Name only prompts whose change
    would fix a problem: a prompt whose step did its job stays as it is."""

    prompts: str = dspy.InputField(desc="each prompt's name and text")
    conversations: str = dspy.InputField(desc="conversations with feedback")
    responsible: list[str] = dspy.OutputField(desc="names of the prompts to change, most important first")
    reasons: str = dspy.OutputField(desc="for each named prompt, what it should do differently")


class RewritePrompt(dspy.Signature):
    """Improve one prompt of an AI team with a minimal edit: write the one new instruction sentence that, added
    to the prompt, fixes the problems described. Do not repeat the prompt."""

    prompt_name: str = dspy.InputField()
    current_prompt: str = dspy.InputField()
    problems: str = dspy.InputField()
    added_sentence: str = dspy.OutputField(desc="one imperative sentence")


def check_prompts(prompts) -> list[dict]:
    if not isinstance(prompts, list) or not prompts:
        raise UserError("prompts must be a non-empty list of {\"name\": ..., \"prompt\": ...}")
    names = set()
    for k, p in enumerate(prompts):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("prompt"), str):
            raise UserError(f"prompt {k} must be an object with string 'name' and 'prompt'")
        if p["name"] in names:
            raise UserError(f"prompt name {p['name']!r} appears twice: names must be unique")
        names.add(p["name"])
    return prompts


def _conversation(t: Trajectory, limit: int = 1500) -> str:
    lines = []
    for m in t.messages:
        who = f"{m['role']} [{m['step']}]" if m.get("step") else m["role"]
        lines.append(f"{who}: {m['content']}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + " …"


class TrajectoryOptimizer(Teleprompter):
    def __init__(self, prompt_model=None, task_model=None, *, max_updates: int = 2, bad_below: float = 0.7,
                 check_limit: int = 20, min_similarity: float = 0.2, seed: int = 0):
        self.prompt_model, self.task_model = prompt_model, task_model
        self.max_updates, self.bad_below, self.check_limit = max_updates, bad_below, check_limit
        self.min_similarity, self.seed = min_similarity, seed
        self._infer = dspy.Predict(InferFeedback, max_tokens=80)
        self._attribute = dspy.Predict(AttributeProblems, max_tokens=300)
        self._rewrite = dspy.Predict(RewritePrompt, max_tokens=400)
        self._judge = PairwiseJudge(prompt_model)
        self.report: dict = {}

    # --- 1. feedback --------------------------------------------------------------------------------------
    def _feedback(self, t: Trajectory) -> dict:
        given = dict(t.feedback or {})
        if given:
            return {"score": given.get("score"), "comment": given.get("comment", ""), "inferred": False}
        try:
            out = self._infer(conversation=_conversation(t))
            problem = (out.problem or "").strip()
            score = min(max(float(out.score), 0.0), 1.0)
            return {"score": score, "comment": "" if problem.lower().rstrip(".") == "none" else problem,
                    "inferred": True}
        except Exception as exc:  # noqa: BLE001  (no inference: the trajectory counts as unjudged)
            return {"score": None, "comment": "", "inferred": True, "error": first_line(exc, 120)}

    def _went_wrong(self, fb: dict) -> bool:
        return (fb["score"] is not None and fb["score"] < self.bad_below) or (
            bool(fb["comment"]) and (fb["score"] is None or fb["score"] < 1.0))

    # --- 2. attribution -----------------------------------------------------------------------------------
    def _attribution(self, prompts, bad: list[tuple[Trajectory, dict]]) -> tuple[dict[str, str], str]:
        prompt_text = "\n\n".join(f"name: {p['name']}\nprompt: {p['prompt']}" for p in prompts)
        conversations = "\n\n".join(
            f"conversation {k}:\n{_conversation(t)}\nfeedback: score {fb['score'] if fb['score'] is not None else '?'}"
            f"{'; ' + fb['comment'] if fb['comment'] else ''}" for k, (t, fb) in enumerate(bad[:6], 1))
        try:
            out = self._attribute(prompts=prompt_text, conversations=conversations)
        except Exception as exc:  # noqa: BLE001
            return {}, f"attribution reply unusable ({first_line(exc, 120)}): nothing changed"
        known = [p["name"] for p in prompts]
        named = []
        for item in out.responsible or []:
            name = next((k for k in known if k.lower() == str(item).strip().strip("'\"").lower()), None)
            if name and name not in named:
                named.append(name)
        reasons = (out.reasons or "").strip()
        return {name: reasons for name in named[: self.max_updates]}, reasons

    # --- 3. rewrite ---------------------------------------------------------------------------------------
    def _rewritten(self, name: str, current: str, reasons: str, bad) -> tuple[str | None, float, str]:
        comments = "; ".join(fb["comment"] for _, fb in bad if fb["comment"])[:600]
        problems = f"{reasons}\nUser feedback: {comments or 'low scores'}"
        try:
            added = (self._rewrite(prompt_name=name, current_prompt=current, problems=problems).added_sentence or "")
        except Exception as exc:  # noqa: BLE001
            return None, 0.0, f"rewrite reply unusable ({first_line(exc, 120)})"
        # The edit is applied here, not by the LM: a small model asked for the whole prompt echoes it unchanged
        # (measured on LangMem's example), and an added sentence is minimal by construction.
        added = added.strip()
        new = current if not added or added in current else f"{current.rstrip()} {added}"
        similarity = difflib.SequenceMatcher(None, current, new).ratio()
        if not new or new == current:
            return None, similarity, "no change proposed"
        if similarity < self.min_similarity:
            return None, similarity, f"not a minimal edit (similarity {similarity:.2f} < {self.min_similarity})"
        return new, similarity, ""

    # --- 4. the re-run check ------------------------------------------------------------------------------
    def _check(self, program, name: str, new: str, trajectories: list[Trajectory], feedback: list[dict]) -> dict:
        runs = [(t, fb) for t, fb in zip(trajectories, feedback) if t.inputs][: self.check_limit]
        rng = random.Random(self.seed)
        updated = with_instructions(program, {name: new})
        goal = program_description(program)
        wins = losses = ties = 0
        with dspy.context(lm=self.task_model or dspy.settings.lm):
            for t, fb in runs:
                before, after = self._final(program, t.inputs), self._final(updated, t.inputs)
                note = f" A user's feedback on the current version: {fb['comment']}" if fb["comment"] else ""
                verdict = self._judge(f"{goal}{note}", "\n".join(f"{k}: {v}" for k, v in t.inputs.items()),
                                      before, after, rng)
                wins, losses, ties = wins + (verdict == 1.0), losses + (verdict == 0.0), ties + (verdict == 0.5)
        decided = wins + losses
        return {"reruns": len(runs), "wins": wins, "losses": losses, "ties": ties,
                "win_rate": round(wins / decided, 3) if decided else None, "kept": wins > losses}

    @staticmethod
    def _final(program, inputs: dict) -> str:
        try:
            out = program(**inputs)
        except Exception as exc:  # noqa: BLE001  (a failing run is an output the judge can weigh)
            return f"(failed: {first_line(exc, 80)})"
        return "; ".join(f"{k}: {v}" for k, v in out.items() if isinstance(v, (str, int, float, bool)))

    # --- the whole pass -----------------------------------------------------------------------------------
    def optimize(self, trajectories, prompts, program=None) -> list[dict]:
        prompts = check_prompts(prompts)
        trajs = [t if isinstance(t, Trajectory) else parse(t, f"trajectory {k}") for k, t in enumerate(trajectories)]
        with dspy.context(lm=self.prompt_model or dspy.settings.lm):
            feedback = [self._feedback(t) for t in trajs]
            bad = [(t, fb) for t, fb in zip(trajs, feedback) if self._went_wrong(fb)]
            attribution, reasons = self._attribution(prompts, bad) if bad else ({}, "no conversation went wrong")
            current = {p["name"]: p["prompt"] for p in prompts}
            changes = {}
            for name, why in attribution.items():
                new, similarity, note = self._rewritten(name, current[name], why, bad)
                changes[name] = {"before": current[name], "after": new, "similarity": round(similarity, 3),
                                 "reason": why, **({"skipped": note} if note else {})}
        for name, change in changes.items():
            if change["after"] is None:
                change["kept"] = False
            elif program is not None and any(t.inputs for t in trajs):
                change["check"] = self._check(program, name, change["after"], trajs, feedback)
                change["kept"] = change["check"]["kept"]
            else:
                change["kept"] = True  # nothing to re-run: the LM's judgment alone, as in LangMem
                change["check"] = None
        self.report = {
            "trajectories": len(trajs), "went_wrong": len(bad),
            "feedback": [{"id": t.id, **fb} for t, fb in zip(trajs, feedback)],
            "attribution": {"responsible": list(attribution), "reasons": reasons}, "changes": changes,
            "judge_calls": self._judge.calls}
        return [{**p, "prompt": changes[p["name"]]["after"]} if changes.get(p["name"], {}).get("kept") else dict(p)
                for p in prompts]

    def compile(self, student, *, trainset=None, valset=None, trajectories=None, **kwargs):
        if not trajectories:
            raise UserError("the trajectory optimizer needs trajectories (compile.py --from-logs FILE_OR_EXPERIMENT)")
        prompts = [{"name": n, "prompt": p.signature.instructions} for n, p in student.named_predictors()]
        updated = self.optimize(trajectories, prompts, program=student)
        program = with_instructions(student, {p["name"]: p["prompt"] for p in updated})
        program.optimizer_report = self.report
        return program


# --- the compile.py recipe -------------------------------------------------------------------------------------

from optimizers.base import CompileContext, Plan, Recipe  # noqa: E402


class Trajectories(Recipe):
    name = "trajectories"
    summary = ("prompts rewritten from conversation logs + feedback (--from-logs): attribution per prompt, minimal "
               "edits, kept only if a judge prefers the re-run outputs")
    needs_logs = True
    check_limit = 20

    def plan(self, budget, n_train, n_val, n_predictors):
        runs = min(self.check_limit, budget.program_runs // (2 * n_predictors) or 1)
        return Plan({"max_updates": min(2, n_predictors), "check_limit": runs, "min_similarity": 0.2,
                     "bad_below": 0.7}, program_runs=2 * runs * min(2, n_predictors),
                    prompt_calls=runs + 1 + 2 + runs * 2)

    def compile(self, plan, ctx: CompileContext, student, trainset, valset):
        import data.trajectories as logs

        fields = {n: (set(p.signature.input_fields), set(p.signature.output_fields))
                  for n, p in student.named_predictors()}
        trajectories = logs.load(ctx.from_logs, fields)
        p = plan.params
        optimizer = TrajectoryOptimizer(ctx.prompt_lm, ctx.task_lm, max_updates=p["max_updates"],
                                        check_limit=p["check_limit"], min_similarity=p["min_similarity"],
                                        bad_below=p["bad_below"], seed=ctx.seed)
        return optimizer.compile(student, trajectories=trajectories)
