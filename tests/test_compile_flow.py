"""compile.py end to end with a scripted LM (fast): artifact, manifest, MLflow runs, registry, loading."""

import json
from pathlib import Path

import dspy
import mlflow
import pytest

import compile as compile_script
import lm as lms
from compiled import load_compiled, read_verified
from compiled.artifact import LATEST
from tests.fakes import scripted_lm


scripted_agent_lms = {}  # the `scripted` fixture's LMs: the task model's and each agent model's


@pytest.fixture
def scripted(monkeypatch, hotpot_sample, isolated_cache, tmp_path):
    """lm.configure returns a scripted DummyLM; artifacts and MLflow go to tmp_path."""
    from data import hotpotqa
    import compiled.artifact as artifact_module

    examples = hotpotqa.load(str(hotpot_sample)).examples
    fake = scripted_lm(examples)
    agent_fakes = {}  # a scripted LM per model an agent runs on: tests see which calls reached which model

    def for_spec(spec):
        if spec.spec == "local":
            return fake
        if spec.spec not in agent_fakes:
            agent_fakes[spec.spec] = scripted_lm(examples)
            agent_fakes[spec.spec].model = f"scripted/{spec.spec}"  # usage is reported per model name
        return agent_fakes[spec.spec]

    def configure(model="local", prompt_model=None, api_base=None, prompt_api_base=None, check=True,
                  agent_models=None):
        spec = lms.ModelSpec(model, api_base)
        dspy.configure(lm=fake, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False), track_usage=True)
        agent_specs = {a: lms.ModelSpec(m) for a, m in (agent_models or {}).items()}
        return lms.LMPair(fake, fake, spec, spec, agent_specs, {a: for_spec(s) for a, s in agent_specs.items()})

    monkeypatch.setattr(lms, "configure", configure)
    monkeypatch.setattr(lms, "make_lm", lambda spec, **kw: for_spec(spec))
    scripted_agent_lms.update(fake=fake, agents=agent_fakes)
    monkeypatch.setattr(artifact_module, "ARTIFACTS_ROOT", tmp_path / "artifacts")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    yield uri, tmp_path / "artifacts"
    mlflow.end_run()


def test_compile_writes_a_verified_artifact_and_registers_it(scripted, capsys):
    uri, root = scripted
    result = compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri, "--json",
                                  "--alias", "production"])
    out = json.loads(capsys.readouterr().out)
    assert out["artifact"] == result["artifact"]
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    assert manifest["optimizer"] == "bootstrap" and manifest["seed"] == 0
    assert manifest["splits"]["train_size"] == 8 and manifest["splits"]["dev_size"] == 4
    assert set(manifest["scores"]) == {"baseline_dev", "compiled_dev"}
    assert manifest["packages"]["dspy"] == dspy.__version__
    model_dir = root / "researcher_writer" / "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert (model_dir / LATEST).read_text().strip() == manifest["artifact_id"]
    state = json.loads((model_dir / manifest["artifact_id"] / "program.json").read_text())
    assert state["researcher.hop"]["demos"] or state["writer.write"]["demos"]
    assert manifest["unchanged"] is False and out["unchanged"] is False  # demos were added

    mlflow.set_tracking_uri(uri)
    run = mlflow.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["optimizer"] == "bootstrap"
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
                                  search_all_experiments=True, output_format="list")
    assert sorted(c.info.run_name for c in children) == ["baseline-dev", "compiled-dev"]
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"score_history.png", "artifact", "estimate.json"} <= files
    assert result["registered_model"] == "researcher_writer/1"
    # The program's one-line description is the run's note and the registered model's description in the UI.
    from programs.researcher_writer import SPEC

    assert SPEC.description.startswith("Two-agent multi-hop QA")
    assert run.data.tags["mlflow.note.content"] == SPEC.description
    assert mlflow.MlflowClient().get_registered_model("researcher_writer").description == SPEC.description

    for source in (result["artifact"], str(model_dir / LATEST), "models:/researcher_writer@production"):
        program = load_compiled(source, tracking_uri=uri)
        assert program.manifest["content_sha256"] == manifest["content_sha256"]
        saved = [len(state[k]["demos"]) for k in state if k != "metadata"]
        assert [len(p.demos) for p in program.predictors()] == saved


def test_same_seed_same_program_and_never_an_overwrite(scripted):
    from pathlib import Path

    uri, root = scripted
    args = ["--train-size", "6", "--val-size", "2", "--tracking-uri", uri]
    first = compile_script.main([*args, "--seed", "0"])
    again = compile_script.main([*args, "--seed", "0"])
    other = compile_script.main([*args, "--seed", "1"])
    assert len({first["artifact"], again["artifact"], other["artifact"]}) == 3  # never overwritten
    hashes = [read_verified(Path(r["artifact"]))["content_sha256"] for r in (first, again, other)]
    assert hashes[0] == hashes[1], "the same seed gives the same program"
    assert hashes[0] != hashes[2], "seed 0 is a seed like any other: seed 1 draws other training examples"


def test_the_optimizer_seed_varies_the_optimizer_not_the_data(scripted):
    from pathlib import Path

    uri, root = scripted
    args = ["--train-size", "6", "--val-size", "2", "--tracking-uri", uri, "--seed", "0"]
    plain = read_verified(Path(compile_script.main(args)["artifact"]))
    varied = read_verified(Path(compile_script.main([*args, "--optimizer-seed", "1"])["artifact"]))
    assert (plain["optimizer_seed"], varied["optimizer_seed"]) == (0, 1) and varied["seed"] == 0
    assert varied["splits"] == plain["splits"]  # the same train, dev and test examples


def test_a_tampered_artifact_is_refused(scripted):
    from runtime import UserError

    uri, root = scripted
    result = compile_script.main(["--train-size", "4", "--val-size", "2", "--tracking-uri", uri])
    state = __import__("pathlib").Path(result["artifact"]) / "program.json"
    state.write_text(state.read_text().replace("shortest possible span", "longest possible essay"))
    with pytest.raises(UserError, match="does not match the content hash"):
        load_compiled(result["artifact"])


def test_eval_compares_artifacts_with_the_baseline(scripted, capsys):
    import eval as eval_script

    uri, root = scripted
    compiled = compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri])
    capsys.readouterr()
    result = eval_script.main(["--artifact", compiled["artifact"], "--baseline", "--split", "test", "--limit", "4",
                               "--tracking-uri", uri, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [e["candidate"] for e in out["entries"]] == ["baseline", compiled["artifact"].rsplit("/", 1)[1]]
    assert {row["candidate"] for row in out["leaderboard"]} == {e["candidate"] for e in out["entries"]}
    compiled_row = next(r for r in out["leaderboard"] if r["candidate"] != "baseline")
    assert "f1_vs_baseline" in compiled_row
    paired = out["paired_scores"]  # per test example, in one order, for analyses without the MLflow store
    assert paired["metric"] == "f1" and set(paired["scores"]) == {e["candidate"] for e in out["entries"]}
    mean = next(e for e in out["entries"] if e["candidate"] == "baseline")["metrics"]["f1"]["mean"]
    assert len(paired["scores"]["baseline"]) == 4 and sum(paired["scores"]["baseline"]) / 4 == pytest.approx(mean,
                                                                                                        abs=1e-3)
    mlflow.set_tracking_uri(uri)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(result["mlflow_run_id"])}
    assert {"leaderboard.md", "leaderboard.json"} <= files


def test_eval_measures_a_hand_edit_of_the_instructions_against_the_program_as_declared(scripted, capsys,
                                                                                        tmp_path):
    import eval as eval_script

    uri, _ = scripted
    edit = tmp_path / "terse-writer.json"
    edit.write_text(json.dumps({"writer.write": "Answer in one word, copied from the passages."}))
    scripted_agent_lms["fake"].system_prompts.clear()
    eval_script.main(["--instructions", str(edit), "--baseline", "--split", "test", "--limit", "4",
                      "--tracking-uri", uri, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [e["candidate"] for e in out["entries"]] == ["baseline", "terse-writer"]
    delta = next(r for r in out["leaderboard"] if r["candidate"] == "terse-writer")["f1_vs_baseline"]
    assert delta["better"] + delta["worse"] <= 4
    edited = [p for p in scripted_agent_lms["fake"].system_prompts if "Answer in one word, copied from" in p]
    assert len(edited) == 4  # the edited candidate's writer calls, one per question; the baseline's kept theirs
    mlflow.set_tracking_uri(uri)
    run = out["entries"][1]["mlflow_run_id"]
    logged = mlflow.artifacts.load_dict(f"runs:/{run}/instructions.json")
    assert logged["writer.write"] == "Answer in one word, copied from the passages."


@pytest.mark.parametrize("name, content, message", [
    ("edit", '{"editor.write": "Answer."}', "no predictor named 'editor.write'"),
    ("edit", '{"writer.write": ', "is not valid JSON"),
    ("edit", '["Answer."]', "must be a JSON object of predictor name"),
    ("baseline", '{"writer.write": "Answer."}', "two candidates are named alike"),
])
def test_a_bad_instructions_file_is_one_clear_error(scripted, capsys, tmp_path, name, content, message):
    import eval as eval_script

    uri, _ = scripted
    edit = tmp_path / f"{name}.json"
    edit.write_text(content)
    with pytest.raises(SystemExit) as exit_:
        eval_script.main(["--instructions", str(edit), "--baseline", "--split", "test", "--limit", "4",
                          "--tracking-uri", uri])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_served_program_answers_and_rejects_bad_requests(scripted):
    from fastapi.testclient import TestClient

    from serve import create_app

    uri, root = scripted
    compiled = compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri])
    client = TestClient(create_app(load_compiled(compiled["artifact"])))
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["inputs"] == ["question"]
    assert health["content_sha256"]
    from data import hotpotqa
    from tests.conftest import HOTPOT_SAMPLE

    ex = hotpotqa.load(str(HOTPOT_SAMPLE)).examples[0]  # the scripted LM answers even-numbered rows correctly
    reply = client.post("/predict", json={"question": ex.question})
    assert reply.status_code == 200 and reply.json()["answer"] == ex.answer
    assert client.post("/predict", json={"query": "wrong field"}).status_code == 422


@pytest.mark.parametrize("optimizer", ["mipro-instructions", "mipro", "gepa"])
def test_every_registered_optimizer_compiles(scripted, optimizer):
    uri, root = scripted
    result = compile_script.main(["--optimizer", optimizer, "--train-size", "8", "--val-size", "4",
                                  "--max-calls", "90", "--tracking-uri", uri])
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    assert manifest["optimizer"] == optimizer
    # 90 calls / 2 calls per run = 45 runs, less what the prompt model's planned calls take
    budget = manifest["budget"]
    assert budget["max_calls"] == 90 and budget["program_runs"] <= 45
    assert 2 * manifest["plan"]["program_runs"] + manifest["plan"]["prompt_calls"] <= 90


def test_opro_compiles_and_logs_every_iteration(scripted):
    uri, root = scripted
    result = compile_script.main(["--optimizer", "opro", "--train-size", "8", "--val-size", "2",
                                  "--max-calls", "400", "--tracking-uri", uri])
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    history = client.get_metric_history(result["mlflow_run_id"], "iteration_best_score")
    steps = [m.step for m in history]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 3  # the seed, then one step per predictor...
    folders = {a.path for a in client.list_artifacts(result["mlflow_run_id"], "iterations")}
    assert {"iterations/001-0-seed", "iterations/002-1-researcher.hop", "iterations/003-1-writer.write"} <= folders
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    assert manifest["optimizer_report"]["stopped"] in ("budget", "max_iterations")  # ...until the run cap is spent
    assert manifest["optimizer_report"]["program_runs"] <= manifest["optimizer_params"]["max_program_runs"] + 2
    texts = {a.path.rsplit("/", 1)[1] for a in client.list_artifacts(result["mlflow_run_id"],
                                                                      "iterations/002-1-researcher.hop")}
    assert texts == {"meta_prompt.txt", "candidates.md", "best_prompt.json"}


def test_an_artifact_of_another_program_version_is_refused(scripted):
    import json
    from pathlib import Path

    from compiled.artifact import sha256_file
    from runtime import UserError

    uri, root = scripted
    result = compile_script.main(["--train-size", "4", "--val-size", "2", "--tracking-uri", uri])
    folder = Path(result["artifact"])
    state = json.loads((folder / "program.json").read_text())
    state["writer.write"]["signature"]["fields"].insert(1, {"prefix": "Notes:", "description": "old field"})
    (folder / "program.json").write_text(json.dumps(state))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["content_sha256"] = sha256_file(folder / "program.json")  # a consistent artifact, but of old code
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="compiled for another version of program 'researcher_writer'"):
        load_compiled(result["artifact"])


def test_maspo_compiles_with_a_credit_report_logged_to_mlflow(scripted):
    uri, root = scripted
    result = compile_script.main(["--optimizer", "maspo", "--train-size", "8", "--val-size", "2",
                                  "--max-calls", "400", "--tracking-uri", uri])
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    credit = manifest["optimizer_report"]["credit"]
    assert set(credit) == {"researcher.hop", "writer.write"} and all(c["candidates"] > 0 for c in credit.values())
    mlflow.set_tracking_uri(uri)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(result["mlflow_run_id"])}
    assert "credit_report.png" in files


def test_label_free_is_refused_by_optimizers_that_need_labels(scripted, capsys):
    uri, root = scripted
    with pytest.raises(SystemExit) as exited:
        compile_script.main(["--label-free", "--train-size", "4", "--val-size", "2", "--tracking-uri", uri])
    assert exited.value.code == 2
    assert "error: --label-free is not supported by bootstrap: use maspo" in capsys.readouterr().err


def test_maspo_label_free_compiles_from_inputs_alone(scripted):
    uri, root = scripted
    result = compile_script.main(["--optimizer", "maspo", "--label-free", "--train-size", "8", "--val-size", "2",
                                  "--max-calls", "400", "--tracking-uri", uri])
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    assert manifest["label_free"] is True and manifest["optimizer_report"]["label_free"] is True


def test_trajectories_optimizer_from_a_log_file_writes_a_new_artifact(scripted, hotpot_sample, tmp_path):
    from data import hotpotqa

    uri, root = scripted
    examples = hotpotqa.load(str(hotpot_sample)).examples[:4]
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": ex.question},
                                                       {"role": "assistant", "content": "unknown"}],
                                          "inputs": {"question": ex.question},
                                          "feedback": {"score": 0.0, "comment": "wrong answer"}})
                              for ex in examples))
    result = compile_script.main(["--optimizer", "trajectories", "--from-logs", str(logs), "--train-size", "4",
                                  "--val-size", "2", "--tracking-uri", uri])
    manifest = read_verified(__import__("pathlib").Path(result["artifact"]))
    report = manifest["optimizer_report"]
    assert report["trajectories"] == 4 and report["attribution"]["responsible"] == ["writer.write"]
    assert manifest["unchanged"] is (not report["changes"]["writer.write"]["kept"]) and result["unchanged"] is True
    check = report["changes"]["writer.write"]["check"]
    assert check["reruns"] == 4 and check["wins"] + check["losses"] + check["ties"] == 4

    # bench/trajectories_compare.py's LangMem arm: the same edits, all applied, in a folder of its own.
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from trajectories_compare import unchecked_artifact

    change = report["changes"]["writer.write"]
    unchecked = unchecked_artifact(Path(result["artifact"]), tmp_path / "store")
    assert not change["kept"]  # the scripted judge does not prefer the new outputs
    state = json.loads((unchecked / "program.json").read_text())
    assert state["writer.write"]["signature"]["instructions"] == change["after"]
    assert read_verified(unchecked)["optimizer"] == "trajectories-unchecked"
    assert str(unchecked).startswith(str(tmp_path / "store"))  # never the project's store or its `latest`


def test_langmem_example_from_the_command_line(scripted, capsys):
    from pathlib import Path

    uri, root = scripted
    examples = Path(__file__).resolve().parents[1] / "examples"
    compile_script.main(["--optimizer", "trajectories", "--from-logs", str(examples / "langmem_team.jsonl"),
                         "--prompts", str(examples / "langmem_prompts.json"), "--json", "--tracking-uri", uri])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [p["name"] for p in printed["prompts"]] == ["researcher", "writer"]
    assert printed["report"]["trajectories"] == 2 and printed["mlflow_run_id"]


def test_an_agent_on_its_own_model_keeps_it_through_the_optimizer_the_artifact_and_loading(scripted):
    uri, root = scripted
    result = compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri, "--json",
                                  "--agent-model", "writer=local-1.5b"])
    task_lm, writer_lm = scripted_agent_lms["fake"], scripted_agent_lms["agents"]["local-1.5b"]
    # BootstrapFewShot copies the student with reset_copy(), which drops predictor LMs: the writer must still
    # have run on its own model in the baseline, the optimizer and the compiled evaluation, and only there.
    assert writer_lm.fields_asked and set(writer_lm.fields_asked) == {("answer",)}
    assert ("answer",) not in task_lm.fields_asked and ("next_query",) in task_lm.fields_asked
    folder = Path(result["artifact"])
    assert folder.parent.name == "qwen2.5-coder-0.5b-instruct-q4_k_m+writer=qwen2.5-coder-1.5b-instruct-q4_k_m"
    manifest = read_verified(folder)
    assert manifest["agent_models"] == {"writer": "local-1.5b"} and result["agent_models"] == manifest["agent_models"]
    assert manifest["usage"]["money_usd"] == 0.0  # both models are local: no unknown price
    state = json.loads((folder / "program.json").read_text())
    assert all(state[k]["lm"] is None for k in ("researcher.hop", "writer.write"))  # models live in the manifest

    program = load_compiled(result["artifact"])
    assert program.writer.write.lm is writer_lm and program.researcher.hop.lm is task_lm
    program = load_compiled(result["artifact"], model="local")  # one model for the whole program
    assert program.writer.write.lm is task_lm


def test_an_unknown_agent_name_is_refused_before_any_work(scripted, capsys):
    uri, root = scripted
    with pytest.raises(SystemExit) as exit_:
        compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri,
                             "--agent-model", "editor=local-1.5b"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no agent 'editor'" in err and "researcher, writer" in err
    assert not root.exists() or not any(root.rglob("manifest.json"))


def test_program_options_build_the_compiled_program_and_the_loaded_one_alike(scripted):
    uri, root = scripted
    result = compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri, "--json",
                                  "--program-option", "k=2"])
    manifest = read_verified(Path(result["artifact"]))
    assert manifest["program_options"] == {"k": 2} and result["program_options"] == {"k": 2}
    demos = [d for p in json.loads((Path(result["artifact"]) / "program.json").read_text()).values()
             for d in p.get("demos", []) if "passages" in d]
    # The writer's bootstrapped demos were traced with 2 passages per hop, not the default 3.
    assert demos and max(len(d["passages"]) for d in demos if d.get("augmented")) <= 4
    program = load_compiled(result["artifact"])
    assert program.researcher.k == 2


def test_an_lm_outage_mid_compile_stops_it_and_resume_finishes_the_same_run(scripted, monkeypatch, capsys):
    from lm.outage import LMOutage
    from tests.fakes import ScriptedLM

    uri, root = scripted
    answer = ScriptedLM.__call__
    server = {"up": False}

    def down_after_the_baseline(self, *args, **kwargs):  # the baseline's 4 questions x 2 calls went through
        if not server["up"] and self.calls >= 10:
            raise LMOutage("the model stopped answering (3 calls failed in a row; last: ConnectionError)")
        return answer(self, *args, **kwargs)

    monkeypatch.setattr(ScriptedLM, "__call__", down_after_the_baseline)
    with pytest.raises(SystemExit) as exit_:
        compile_script.main(["--train-size", "8", "--val-size", "4", "--tracking-uri", uri])
    assert exit_.value.code == 2
    assert "rerun with --resume" in capsys.readouterr().err.strip().splitlines()[-1]
    model_dir = root / "researcher_writer" / "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert [p.name for p in model_dir.iterdir()] == [".inflight"], "no artifact from a stopped compile"
    mlflow.set_tracking_uri(uri)
    (stopped,) = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                    filter_string="tags.kind = 'compile'")
    assert stopped.info.status == "FAILED", "no run is left dangling"

    server["up"] = True
    result = compile_script.main(["--resume", "--json", "--tracking-uri", uri])
    assert result["mlflow_run_id"] == stopped.info.run_id
    assert mlflow.get_run(stopped.info.run_id).info.status == "FINISHED"
    assert read_verified(Path(result["artifact"]))["splits"]["train_size"] == 8  # the stopped compile's settings
    baselines = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                   filter_string="attributes.run_name = 'baseline-dev'")
    assert len(baselines) == 1, "the resumed compile kept the baseline it had, instead of evaluating it again"
