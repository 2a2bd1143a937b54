"""Where a turn's time goes, early and late in one long conversation: Rasa + the action server + the seed
directory, over REST on loopback, with cProfile switched on inside the Rasa process for the profiled turns only.

    MODEL=models/<fingerprint>.tar.gz python -m bench.profile_turn [--turns 200] [--stores rasa,ours,ours-narrow10]

For each tracker store it starts the servers (`ours`: endpoints.yml as shipped, bot.rasa_stores.TrackerStoreFromEnv;
`rasa`: Rasa's own SQLTrackerStore on SQLite, as this project ran before; `memory`: Rasa's InMemoryTrackerStore,
what a bare Rasa does; `ours-narrowN`: ours, with the policies given only the last N user turns — an experiment
patched into the measured process only, see bench/narrow_history.py; `ours-whole`: ours with bot/rasa_speed.py's
changes undone in the measured process and the whole domain sent with every action — the "before" of that module;
`ours-noreuse`: ours with TEDPolicy running its network for every prediction). It plays one conversation of
--turns turns cycling ordinary messages (no crisis wording) and times every turn, with stage timers on for the first cycle of
turns and the last one (the same messages in the same order, so the two windows differ only in how long the
conversation is); then plays an identical conversation with cProfile on for the same windows. It prints, per
store: latencies, the wall time of each stage of a turn (timers around Rasa's and our methods; inclusive, per
turn, profiler off), and the top cumulative cProfile entries, early vs late. Writes bench/profile.md's figures
to the console only; --keep DIR keeps the .prof files (for `python -m pstats`) and each store's tracker.db.
Ports: Rasa on --rasa-port, the action server on --actions-port (loopback).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.directory_search import machine
from tests.servers import ROOT, Servers, model_path, wait_for

# One cycle of ordinary turns: the form from a first message to suggestions, a question, a change of area and
# format, thanks. The profiled windows are whole cycles, so early and late see the same messages.
CYCLE = ("hi",
         "any groups for dads in Fife?",
         "my partner is pregnant",
         "what is peer support?",
         "anything online instead?",
         "what about Dundee?",
         "are you a real person?",
         "thanks")

# Stage timers: (label, module, class or None, attribute). Inclusive wall time, counted once when nested.
STAGES = (
    ("Rasa turn (MessageProcessor.handle_message)", "rasa.core.processor", "MessageProcessor", "handle_message"),
    ("tracker store: retrieve", "tracker stores", None, "retrieve"),
    ("tracker store: save (incl. streaming to the broker)", "tracker stores", None, "save"),
    ("  tracker store: stream_events (Rasa: retrieves again to diff)", "tracker stores", None, "stream_events"),
    ("NLU pipeline (parse_message)", "rasa.core.processor", "MessageProcessor", "parse_message"),
    ("policies (_predict_next_with_tracker)", "rasa.core.processor", "MessageProcessor", "_predict_next_with_tracker"),
    ("  RulePolicy", "rasa.core.policies.rule_policy", "RulePolicy", "predict_action_probabilities"),
    ("  MemoizationPolicy", "rasa.core.policies.memoization", "MemoizationPolicy", "predict_action_probabilities"),
    ("  TEDPolicy", "rasa.core.policies.ted_policy", "TEDPolicy", "predict_action_probabilities"),
    ("    TEDPolicy: featurising the tracker", "rasa.core.policies.ted_policy", "TEDPolicy", "_featurize_tracker"),
    ("  tracker.past_states", "rasa.shared.core.trackers", "DialogueStateTracker", "past_states"),
    ("  tracker.applied_events (all callers)", "rasa.shared.core.trackers", "DialogueStateTracker", "applied_events"),
    ("tracker.copy (Rasa, before each action)", "rasa.shared.core.trackers", "DialogueStateTracker", "copy"),
    ("custom action round trip (RemoteAction.run)", "rasa.core.actions.action", "RemoteAction", "run"),
    ("  the tracker as JSON for the action server", "rasa.core.actions.action", "RemoteAction", "_action_call_format"),
    ("  jsonschema check of the action server's reply", "rasa.core.actions.action", "RemoteAction",
     "_validate_action_result"),
    ("event broker publish", "bot.escalation.broker", "EscalationEventBroker", "publish"),
    ("channel guard: privacy after the turn (thread)", "bot.privacy.turns", None, "after_turn"),
)
EVENTS_AT_ACTION_CALL = "events sent to the action server (last call)"


# --- inside the Rasa process ------------------------------------------------------------------------------
class StageTimers:
    """Wall-clock totals per stage since the window opened; nested calls of one stage count once."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}  # label → [milliseconds, calls]
        self.depth: dict[str, int] = {}
        self.notes: dict[str, int] = {}

    def reset(self) -> None:
        self.totals, self.notes = {}, {}

    @contextlib.contextmanager
    def timing(self, label: str):
        outermost = self.depth.get(label, 0) == 0
        self.depth[label] = self.depth.get(label, 0) + 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self.depth[label] -= 1
            if outermost:
                total = self.totals.setdefault(label, [0.0, 0])
                total[0] += (time.perf_counter() - started) * 1000
                total[1] += 1

    def wrap(self, label: str, function):
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def timed(*args, **kwargs):
                with self.timing(label):
                    return await function(*args, **kwargs)
        else:
            @functools.wraps(function)
            def timed(*args, **kwargs):
                with self.timing(label):
                    return function(*args, **kwargs)
        return timed

    def install(self) -> None:
        import importlib

        from rasa.core.actions.action import RemoteAction
        from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, TrackerStore

        from bot.rasa_stores import TrackerStoreFromEnv
        call_format = RemoteAction._action_call_format

        def counted(action, tracker, domain):
            body = call_format(action, tracker, domain)
            self.notes[EVENTS_AT_ACTION_CALL] = len(body["tracker"]["events"])
            return body
        RemoteAction._action_call_format = counted
        for label, module_name, class_name, attribute in STAGES:
            if module_name == "tracker stores":  # each store's own method; the label counts once when nested
                for owner in (TrackerStore, SQLTrackerStore, InMemoryTrackerStore, TrackerStoreFromEnv):
                    if attribute in vars(owner):
                        setattr(owner, attribute, self.wrap(label, vars(owner)[attribute]))
                continue
            module = importlib.import_module(module_name)
            owner = getattr(module, class_name) if class_name else module
            setattr(owner, attribute, self.wrap(label, getattr(owner, attribute)))


NARROW_PREDICTION = "BENCH_NARROW_PREDICTION"  # the ours-narrowN experiment: N user turns
WHOLE_HISTORY = "BENCH_WHOLE_HISTORY"  # ours-whole: Rasa as it is, without bot/rasa_speed.py
NO_TED_REUSE = "BENCH_NO_TED_REUSE"  # ours-noreuse: ours, but TEDPolicy runs its network for every prediction


def undo_rasa_speed() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor

    from bot import rasa_speed
    MessageProcessor._predict_next_with_tracker = rasa_speed._rasa_predict_next_with_tracker
    RemoteAction._action_call_format = rasa_speed._rasa_action_call_format
    RemoteAction._validate_action_result = rasa_speed._rasa_validate_action_result
    undo_ted_reuse()


def undo_ted_reuse() -> None:
    from rasa.core.policies.ted_policy import TEDPolicy

    from bot import rasa_speed
    TEDPolicy.predict_action_probabilities = rasa_speed._rasa_ted_predict


def narrow_prediction(keep_turns: int) -> None:
    """The experiment only: policies predict from the last `keep_turns` user turns (bench/narrow_history.py)."""
    from rasa.core.processor import MessageProcessor

    from bench.narrow_history import narrowed
    predict = MessageProcessor._predict_next_with_tracker

    def predict_from_recent_turns(processor, tracker):
        if tracker.followup_action:  # Rasa clears it on the tracker it is given: the real one
            return predict(processor, tracker)
        return predict(processor, narrowed(tracker.sender_id, list(tracker.events), keep_turns,
                                           processor.domain.slots))
    MessageProcessor._predict_next_with_tracker = predict_from_recent_turns


def serve(profile_dir: Path, rasa_args: list[str]) -> None:
    """Run `rasa` with measuring windows. SIGUSR1 opens one, named by profile_dir/window ({"name", "profile"}):
    stage timers always, cProfile too if asked; SIGUSR2 closes it, writing <name>.json (and <name>.prof)."""
    import cProfile
    if os.environ.get(WHOLE_HISTORY):
        undo_rasa_speed()  # before the timers wrap the methods
    if os.environ.get(NO_TED_REUSE):
        undo_ted_reuse()
    timers = StageTimers()
    timers.install()
    if os.environ.get(NARROW_PREDICTION):
        narrow_prediction(int(os.environ[NARROW_PREDICTION]))
    state: dict = {}

    def open_window(_signum, _frame):
        state.update(json.loads((profile_dir / "window").read_text()))
        timers.reset()
        (profile_dir / "open").touch()
        if state["profile"]:
            state["profiler"] = cProfile.Profile()
            state["profiler"].enable()

    def close_window(_signum, _frame):
        profiler = state.pop("profiler", None)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_dir / f"{state['name']}.prof")
        (profile_dir / f"{state['name']}.json").write_text(json.dumps({"stages": timers.totals,
                                                                        "notes": timers.notes}))
        (profile_dir / "open").unlink()

    signal.signal(signal.SIGUSR1, open_window)
    signal.signal(signal.SIGUSR2, close_window)
    from rasa.__main__ import main as rasa_main
    sys.argv = ["rasa", *rasa_args]
    rasa_main()


# --- the driver -------------------------------------------------------------------------------------------
@dataclass
class ProfiledServers(Servers):
    """Rasa started through `serve` above, with a given endpoints file."""
    endpoints: Path = ROOT / "endpoints.yml"
    profile_dir: Path = Path()
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> "ProfiledServers":
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                    "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                    "DATABASE_URL": f"sqlite:///{self.workdir / 'directory.db'}",
                    "TRACKER_STORE_URL": f"sqlite:///{self.workdir / 'tracker.db'}",
                    "ASSISTANT_VAR_DIR": str(self.workdir), "ACTIONS_PORT": str(self.actions_port),
                    "RASA_AUTH_TOKEN": self.rasa_token, "ACTION_SERVER_TOKEN": self.actions_token,
                    # One conversation of hundreds of quick turns: far beyond the per-minute limits.
                    "RATE_LIMIT_PER_CONVERSATION": "100000", "RATE_LIMIT_PER_CLIENT": "100000", **self.extra_env}
        subprocess.run([sys.executable, "-m", "bot.directory", "init"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True)
        self.start_actions()
        self._spawn("rasa", [sys.executable, "-m", "bench.profile_turn", "serve", str(self.profile_dir), "--",
                             "run", "--model", model_path(), "--enable-api", f"--auth-token={self.rasa_token}",
                             "--interface", "127.0.0.1", "--port", str(self.rasa_port),
                             "--endpoints", str(self.endpoints), "--credentials", str(ROOT / "credentials.yml")])
        wait_for(f"{self.rasa_url}/webhooks/rest/", self.processes["rasa"], 300, self.workdir / "rasa.log")
        return self

    def measured(self, window: str, say, profile: bool) -> None:
        """Run `say()` inside a measuring window of the Rasa process (stage timers; cProfile if `profile`)."""
        rasa = self.processes["rasa"]
        (self.profile_dir / "window").write_text(json.dumps({"name": window, "profile": profile}))
        rasa.send_signal(signal.SIGUSR1)
        _wait_for_path(self.profile_dir / "open", present=True)
        try:
            say()
        finally:
            rasa.send_signal(signal.SIGUSR2)
            _wait_for_path(self.profile_dir / "open", present=False)


def _wait_for_path(path: Path, present: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while path.exists() != present:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Rasa process did not answer the profiling signal ({path.name})")
        time.sleep(0.01)


def endpoints_for(store: str, workdir: Path, whole_domain: bool = False) -> Path:
    """endpoints.yml with the tracker store to measure (and, whole_domain, the domain sent with every action)."""
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    if whole_domain:
        endpoints["action_endpoint"].pop("enable_selective_domain", None)
    if store == "rasa":
        endpoints["tracker_store"] = {"type": "sql", "dialect": "sqlite", "db": str(workdir / "tracker.db")}
    elif store == "memory":
        endpoints.pop("tracker_store")
    path = workdir / "endpoints.yml"
    path.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    return path


def play(servers: Servers, sender: str, turn: int) -> float:
    text = CYCLE[(turn - 1) % len(CYCLE)]
    started = time.perf_counter()
    replies = servers.say(sender, text)
    elapsed = (time.perf_counter() - started) * 1000
    if not replies:
        raise RuntimeError(f"no reply at turn {turn}")
    return elapsed


@dataclass
class Result:
    store: str
    latencies: list[float]  # ms, turn 1 first
    first_turns: list[float]  # turn 1 of each fresh conversation (warm-up excluded)
    profile_dir: Path
    windows: dict[str, range]


def converse(servers: ProfiledServers, windows: dict[str, range], turns: int, profile: bool) -> list[float]:
    """One new conversation of `turns` turns; each window's turns inside a measuring window. Latencies in ms."""
    sender, latencies = f"long-{uuid.uuid4().hex[:8]}", []
    turn = 1
    while turn <= turns:
        window = next((name for name, span in windows.items() if span.start == turn), None)
        if window:
            span = windows[window]
            servers.measured(f"{window}-{'profile' if profile else 'stages'}",
                             lambda: latencies.extend(play(servers, sender, t) for t in span), profile)
            turn = span.stop
        else:
            latencies.append(play(servers, sender, turn))
            turn += 1
    return latencies


def measure(store: str, turns: int, rasa_port: int, actions_port: int) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"profile-turn-{store}-"))
    profile_dir = workdir / "profiles"
    profile_dir.mkdir()
    store_name, _, narrow = store.partition("-narrow")
    whole = store_name.endswith("-whole")
    no_reuse = store_name.endswith("-noreuse")
    store_name = store_name.removesuffix("-whole").removesuffix("-noreuse")
    servers = ProfiledServers(workdir, rasa_port=rasa_port, actions_port=actions_port,
                              endpoints=endpoints_for(store_name, workdir, whole_domain=whole), profile_dir=profile_dir,
                              extra_env={**({NARROW_PREDICTION: narrow} if narrow else {}),
                                         **({WHOLE_HISTORY: "1"} if whole else {}),
                                         **({NO_TED_REUSE: "1"} if no_reuse else {})})
    servers.start()
    cycle = len(CYCLE)
    late_start = ((turns - cycle) // cycle) * cycle + 1  # the last whole cycle
    windows = {"early": range(1, cycle + 1), "late": range(late_start, late_start + cycle)}
    try:
        for turn in range(1, cycle + 1):  # warm-up: the first call of each model and action is slower
            play(servers, "warm-up", turn)
        latencies = converse(servers, windows, turns, profile=False)
        converse(servers, windows, windows["late"].stop - 1, profile=True)
        first_turns = [latencies[0]] + [play(servers, f"first-{uuid.uuid4().hex[:8]}", 1) for _ in range(4)]
    finally:
        servers.stop()
    return Result(store, latencies, first_turns, profile_dir, windows)


def stage_table(result: Result) -> list[str]:
    per_window = {}
    for window, span in result.windows.items():
        data = json.loads((result.profile_dir / f"{window}-stages.json").read_text())
        per_turn = {label: (ms / len(span), calls / len(span)) for label, (ms, calls) in data["stages"].items()}
        per_window[window] = (per_turn, data["notes"])
    lines = ["| stage (wall, inclusive) | early ms/turn | calls/turn | late ms/turn | calls/turn |",
             "|---|---:|---:|---:|---:|"]
    for label, *_ in STAGES:
        early = per_window["early"][0].get(label)
        late = per_window["late"][0].get(label)
        if early is None and late is None:
            continue
        early, late = early or (0.0, 0.0), late or (0.0, 0.0)
        lines.append(f"| {label} | {early[0]:.1f} | {early[1]:.1f} | {late[0]:.1f} | {late[1]:.1f} |")
    early_events = per_window["early"][1].get(EVENTS_AT_ACTION_CALL, 0)
    late_events = per_window["late"][1].get(EVENTS_AT_ACTION_CALL, 0)
    lines.append(f"| {EVENTS_AT_ACTION_CALL} | {early_events} | | {late_events} | |")
    return lines


def profile_table(result: Result, top: int) -> list[str]:
    """The late window's top cumulative entries, beside the same functions early (ms per turn)."""
    stats = {window: pstats.Stats(str(result.profile_dir / f"{window}-profile.prof")).stats
             for window in result.windows}
    turns = {window: len(span) for window, span in result.windows.items()}

    def per_turn(window):  # function → (cumulative ms per turn, calls per turn)
        return {f"{Path(file).name}:{line} {name}": (cumulative * 1000 / turns[window], calls / turns[window])
                for (file, line, name), (_, calls, _, cumulative, _) in stats[window].items()}
    early, late = per_turn("early"), per_turn("late")
    # Plumbing whose cumulative time is just the turn's (sanic's request task, dask's scheduler, our timers).
    noise = ("<built-in method select.epoll.poll>", "timed", "run_forever", "_run_once", "_run", "serve", "rasa_main",
             "main", "<module>", "run_until_complete", "connection_task", "http1", "handle_request", "local.py:",
             "core.py:82 _execute_task", "dask.py:82 run")
    ranked = [key for key in sorted(late, key=lambda k: late[k][0], reverse=True)
              if not any(key.endswith(" " + n) or n in key for n in noise)][:top]
    lines = ["| function (file:line name) | early cum ms/turn | calls/turn | late cum ms/turn | calls/turn |",
             "|---|---:|---:|---:|---:|"]
    for key in ranked:
        e = early.get(key, (0.0, 0.0))
        lines.append(f"| `{key}` | {e[0]:.1f} | {e[1]:.0f} | {late[key][0]:.1f} | {late[key][1]:.0f} |")
    return lines


def latency_lines(result: Result) -> list[str]:
    lat, early, late = result.latencies, result.windows["early"], result.windows["late"]
    early_median = statistics.median(lat[early.start - 1:early.stop - 1])
    late_median = statistics.median(lat[late.start - 1:late.stop - 1])
    first = statistics.median(result.first_turns)
    return [f"- one conversation of {len(lat)} turns: p50 {statistics.median(lat):.0f} ms; turn 1 {lat[0]:.0f} ms "
            f"(median over {len(result.first_turns)} fresh conversations {first:.0f} ms); turn {len(lat)} "
            f"{lat[-1]:.0f} ms",
            f"- median of turns {early.start}–{early.stop - 1}: {early_median:.0f} ms; of turns {late.start}–"
            f"{late.stop - 1}: {late_median:.0f} ms (ratio {late_median / early_median:.2f})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--stores", default="rasa,ours",
                        help="comma-separated: ours, rasa, memory, ours-narrowN, ours-whole, ours-noreuse")
    parser.add_argument("--rasa-port", type=int, default=5210)
    parser.add_argument("--actions-port", type=int, default=5211)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="keep the .prof files and each store's tracker.db here")
    args = parser.parse_args()
    if args.turns < 2 * len(CYCLE):
        parser.error(f"--turns must be at least {2 * len(CYCLE)}")
    print(f"# Profile of a turn: {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"Cycle of {len(CYCLE)} messages; profiled windows: turns 1–{len(CYCLE)} (early) and the last whole cycle "
          f"up to turn {args.turns} (late).\n")
    for store in args.stores.split(","):
        result = measure(store, args.turns, args.rasa_port, args.actions_port)
        late = result.windows["late"]
        print(f"## Tracker store: {store}\n")
        print("\n".join(latency_lines(result)))
        print(f"\nStages (wall ms per turn, profiler off; early = turns 1–{len(CYCLE)}, late = turns "
              f"{late.start}–{late.stop - 1}):\n")
        print("\n".join(stage_table(result)))
        print(f"\nTop {args.top} cumulative (cProfile, Rasa process's event loop thread, ms per turn; "
              f"profiler overhead included):\n")
        print("\n".join(profile_table(result, args.top)))
        print()
        workdir = result.profile_dir.parent
        if args.keep:  # the profiles, and the conversations (SQLite) for bench/narrow_history.py
            args.keep.mkdir(parents=True, exist_ok=True)
            for kept in [*result.profile_dir.glob("*.prof"), workdir / "tracker.db"]:
                if kept.exists():
                    shutil.copyfile(kept, args.keep / f"{store}-{kept.name}")
        shutil.rmtree(workdir, ignore_errors=True)
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        separator = sys.argv.index("--")
        serve(Path(sys.argv[2]), sys.argv[separator + 1:])
    else:
        main()
