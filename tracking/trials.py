"""Live score history of a compile: every evaluation an optimizer runs becomes a stepped MLflow metric.

DSPy optimizers score candidates through `dspy.Evaluate`, whose calls reach callbacks; this one logs each score
as `trial_score` at the next step (and `trial_full_score` for full-validation passes), keeps the history for the
plot, and prints a progress line. Steps already logged by an interrupted run are not logged twice on resume.
"""

from __future__ import annotations

import sys
import time

from dspy.utils.callback import BaseCallback


class TrialLogger(BaseCallback):
    def __init__(self, run_id: str, full_size: int, start_step: int = 0):
        self.run_id, self.full_size = run_id, full_size
        self.start_step = start_step  # steps <= this were logged before an interruption
        self.history: list[dict] = []
        self._sizes: dict[str, int] = {}

    def on_evaluate_start(self, call_id, instance, inputs):
        devset = inputs.get("devset") or getattr(instance, "devset", None) or []
        self._sizes[call_id] = len(devset)

    def on_evaluate_end(self, call_id, outputs, exception=None):
        size = self._sizes.pop(call_id, 0)
        if exception is not None or outputs is None:
            return
        score = float(getattr(outputs, "score", outputs if isinstance(outputs, (int, float)) else 0.0))
        score = score / 100.0 if score > 1.0 else score  # dspy.Evaluate reports percentages
        step = len(self.history) + 1
        full = size >= self.full_size
        self.history.append({"step": step, "score": score, "examples": size, "full": full, "t": time.time()})
        if step > self.start_step:
            from mlflow import MlflowClient

            client = MlflowClient()
            client.log_metric(self.run_id, "trial_score", score, step=step)
            if full:
                client.log_metric(self.run_id, "trial_full_score", score, step=step)
        # Only scores on as many examples compare: OPRO's lucky 0.585 on 8 questions read as the best while its
        # best on its 24-question sample was 0.441.
        best = max(h["score"] for h in self.history if h["examples"] == size)
        print(f"  trial {step}: {score:.3f} on {size} examples{' (full)' if full else ''}; best so far on {size} "
              f"{best:.3f}", file=sys.stderr)


class IterationLogger:
    """For optimizers with iterations of their own (OPRO, MASPO): each iteration is an MLflow step
    (`iteration_best_score`) with its texts (meta-prompt, candidates, best prompt) under iterations/<step>/."""

    def __init__(self, run_id: str):
        self.run_id, self.step = run_id, 0
        self.scores: list[tuple[str, float]] = []

    def __call__(self, name: str, best_score: float, texts: dict) -> None:
        import json

        from mlflow import MlflowClient

        client = MlflowClient()
        self.step += 1
        self.scores.append((name, best_score))
        client.log_metric(self.run_id, "iteration_best_score", best_score, step=self.step)
        for filename, text in texts.items():
            body = text if isinstance(text, str) else json.dumps(text, indent=2)
            client.log_text(self.run_id, body, f"iterations/{self.step:03d}-{name}/{filename}")
        print(f"  iteration {name}: best score so far {best_score:.3f}", file=sys.stderr)


def plot_history(history: list[dict], baseline: float | None, compiled: float | None, title: str):
    """Score per trial (minibatch and full-validation passes), with the baseline and final scores as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if history:
        steps = [h["step"] for h in history]
        ax.plot(steps, [h["score"] for h in history], "o-", color="tab:blue", alpha=0.6, label="trial (minibatch)")
        full = [h for h in history if h["full"]]
        if full:
            ax.plot([h["step"] for h in full], [h["score"] for h in full], "s", color="tab:green", ms=8,
                    label="trial (full validation)")
        # The running best of the most frequent sample size, the larger on a tie (scores on different sizes do
        # not compare).
        sizes = [h["examples"] for h in history]
        size = max(set(sizes), key=lambda n: (sizes.count(n), n))
        same = [h for h in history if h["examples"] == size]
        best, running = [], float("-inf")
        for h in same:
            running = max(running, h["score"])
            best.append(running)
        ax.step([h["step"] for h in same], best, where="post", color="tab:green", alpha=0.5,
                label=f"best so far on {size} examples")
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", label=f"baseline (dev) {baseline:.3f}")
    if compiled is not None:
        ax.axhline(compiled, color="tab:red", ls=":", label=f"compiled (dev) {compiled:.3f}")
    ax.set_xlabel("optimizer evaluation #")
    ax.set_ylabel("metric")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_credit(credit: dict, title: str):
    """MASPO's credit report: per agent, the global-score change of its accepted prompts, its misalignment rate and
    the LM calls its turns spent (reports from before MASPO counted them per agent have no third panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(credit)
    spent = all("lm_calls" in credit[a] for a in agents)
    fig, axes = plt.subplots(1, 3 if spent else 2, figsize=(13 if spent else 9, 3.6))
    left, right = axes[0], axes[1]
    deltas = [credit[a]["global_delta"] for a in agents]
    left.bar(agents, deltas, color=["tab:green" if d >= 0 else "tab:red" for d in deltas])
    left.axhline(0, color="gray", lw=0.8)
    left.set_title("global score moved by accepted prompts", fontsize=9)
    right.bar(agents, [credit[a]["misalignment_rate"] for a in agents], color="tab:orange")
    right.set_ylim(0, 1)
    right.set_title("misalignment rate (local wins that lost downstream)", fontsize=9)
    if spent:
        axes[2].bar(agents, [credit[a]["lm_calls"] for a in agents], color="tab:blue")
        axes[2].set_title("LM calls spent on its turns", fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
