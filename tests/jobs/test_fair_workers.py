"""Workers shared fairly between people (owners) and providers: a grid cannot take every worker, a
provider at its limit or in a cooldown holds no worker, and the place shown is what the policy serves first.

The jobs here run through an injected executor that waits on an event per job: nothing sleeps and
no assertion depends on timing; a job ends exactly when the test lets it."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from lib.generation import ClientSettings, GenerationRequest, Outcome
from lib.jobs import FairPolicy, JobRunner, JobSpec
from lib.limits import LimiterRegistry
from lib.store import Store
from tests.support.clock import FakeClock
from tests.support.wait_until import wait_until

REQ = GenerationRequest(prompt="a kite over dunes", model="gpt-image-2", size="1024x1024")
SLOW = ClientSettings(provider="custom", base_url="http://127.0.0.1:9/v1", max_concurrency=8)  # a slow gateway
FAST = ClientSettings(provider="sandbox", base_url="http://127.0.0.2:9/v1", max_concurrency=4)


class Gate:
    """An executor: each job runs until the test releases it; ``started`` lists the jobs in the order they began."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._release: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.open = False  # at the end of a test: every job, started or not, ends at once

    def _event(self, run_id: str) -> threading.Event:
        with self._lock:
            event = self._release.setdefault(run_id, threading.Event())
            if self.open:
                event.set()
            return event

    def __call__(self, job) -> Outcome:
        with self._lock:
            self.started.append(job.run_id)
        self._event(job.run_id).wait(30)
        return Outcome(
            ok=True, run_id=job.run_id, requested_model="m", model="m", images=[], attempts=[], events=[], error=None, latency_ms=1
        )

    def release(self, job) -> None:
        self._event(job.run_id).set()
        assert job.wait(10)


@pytest.fixture
def gate():
    return Gate()


@pytest.fixture
def make_runner(tmp_path, gate):
    runners = []

    def make(workers: int = 8, **kw) -> JobRunner:
        store = Store(tmp_path / "fair.db")
        runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=workers, execute=gate, watch=False, **kw)
        runners.append(runner)
        return runner

    yield make
    with gate._lock:
        gate.open = True
        for event in gate._release.values():
            event.set()
    for runner in runners:
        runner.shutdown(5)


def specs(settings: ClientSettings, n: int, owner: str) -> list[JobSpec]:
    return [JobSpec(settings=settings, request=REQ, kind="compare", owner=owner) for _ in range(n)]


def running(runner: JobRunner, n: int) -> None:
    wait_until(
        lambda: sum(j.status == "running" for j in runner.jobs()) == n,
        timeout=10,
        interval=0.005,
        message=lambda: f"{sum(j.status == 'running' for j in runner.jobs())} running, not {n}",
    )


def test_a_grid_leaves_workers_for_someone_elses_generate_on_another_provider(make_runner):
    runner = make_runner(workers=8)
    grid = runner.submit_batch(specs(SLOW, 20, owner="alice"))
    running(runner, 6)  # a quarter of the workers stays free of any one owner
    assert sum(j.status == "queued" for j in grid.jobs) == 14
    mine = runner.submit(JobSpec(settings=FAST, request=REQ, owner="bob"))
    running(runner, 7)
    assert mine.status == "running" and mine.queue_position is None


def test_a_single_generate_on_the_same_busy_provider_is_next_not_behind_the_grid(make_runner, gate):
    runner = make_runner(workers=8)
    busy = ClientSettings(provider="custom", base_url="http://127.0.0.1:9/v1", max_concurrency=4)
    grid = runner.submit_batch(specs(busy, 12, owner="alice"))
    running(runner, 4)  # the provider's own limit
    mine = runner.submit(JobSpec(settings=busy, request=REQ, owner="bob"))
    assert mine.status == "queued" and mine.queue_position == 0  # not "8 ahead"
    waiting = [j for j in grid.jobs if j.status == "queued"]
    assert [j.queue_position for j in waiting] == list(range(1, 9))  # the grid's cells all come after
    first = next(j for j in grid.jobs if j.status == "running")
    gate.release(first)
    running(runner, 4)
    assert mine.status == "running"  # the freed slot went to the other person
    assert all(j.status == "queued" for j in waiting)


def test_a_provider_in_a_cooldown_holds_no_worker_and_other_providers_go_past(make_runner):
    clock = FakeClock()
    limiters = LimiterRegistry(clock=clock, sleep=clock.sleep)
    runner = make_runner(workers=4, limiters=limiters)
    limiters.get(SLOW).cooldown(30)  # a 429 from the slow gateway
    held = runner.submit_batch(specs(SLOW, 3, owner="alice"))
    other = runner.submit(JobSpec(settings=FAST, request=REQ, owner="alice"))  # the same person, another provider
    running(runner, 1)
    assert other.status == "running"
    assert [j.status for j in held.jobs] == ["queued"] * 3
    assert [j.queue_position for j in held.jobs] == [0, 1, 2]  # behind each other on their provider only
    clock.now += 31  # the cooldown is over
    runner.check_now(reap=False)
    running(runner, 1 + 2)  # four workers, one owner: three may run at once
    assert sum(j.status == "running" for j in held.jobs) == 2


def test_one_owner_alone_in_the_cli_may_use_every_worker(make_runner):
    runner = make_runner(workers=4, reserved_workers=0)
    grid = runner.submit_batch(specs(SLOW, 6, owner=None))
    running(runner, 4)
    assert sum(j.status == "queued" for j in grid.jobs) == 2


def fake(owner: str, provider: str, seq: int, concurrency: int = 8):
    return SimpleNamespace(
        owner=owner, provider_key=(provider, "h"), seq=seq, spec=SimpleNamespace(settings=SimpleNamespace(max_concurrency=concurrency))
    )


def test_the_fair_order_takes_turns_between_owners_then_providers():
    policy = FairPolicy(workers=8, share=6, cooling=lambda job: 0.0)
    a = [fake("a", "p", i) for i in range(4)]
    b = [fake("b", "p", 10 + i) for i in range(2)]
    c = [fake("c", "q", 20)]
    order = policy.order([*a, *b, *c], running=[fake("a", "p", -1)])  # a already has one running
    owners = [j.owner for j in order]
    # those with nothing running first (c's provider is idle, b's is not), then turns, oldest first
    assert owners == ["c", "b", "a", "b", "a", "a", "a"]


def test_within_one_owner_providers_take_turns():
    policy = FairPolicy(workers=8, share=6, cooling=lambda job: 0.0)
    jobs = [fake("a", "p", i) for i in range(3)] + [fake("a", "q", 10 + i) for i in range(3)]
    assert [j.provider_key[0] for j in policy.order(jobs, running=[])] == ["p", "q", "p", "q", "p", "q"]


def test_the_place_shown_counts_only_what_competes_for_the_same_thing():
    policy = FairPolicy(workers=2, share=2, cooling=lambda job: 30.0 if job.provider_key[0] == "cold" else 0.0)
    busy = [fake("x", "p", -2), fake("y", "p", -1)]  # both workers taken
    cold = [fake("a", "cold", i) for i in range(3)]
    warm = [fake("b", "p", 10), fake("c", "p", 11)]
    queued = [*cold, *warm]
    assert [policy.position(j, queued, busy) for j in cold] == [0, 1, 2]  # its provider's cooldown: only its own line
    # waiting for a worker: the cold ones will not take one, so they are not ahead
    assert [policy.position(j, queued, busy) for j in warm] == [0, 1]
    assert policy.pick(queued, busy) == (None, None)  # no free worker
    job, wake = policy.pick(queued, busy[:1])
    assert job is warm[0] and wake is None
    assert policy.pick(cold, []) == (None, 30.0)  # only a cooldown holds the queue: look again when it ends
