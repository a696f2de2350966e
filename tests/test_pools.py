"""Printer pools without a daemon: the configuration, a pool job's spec checked against every
member, and the queue's rule for which member takes a pool's job (README, "Printer pools").

Expected members are written by hand from that rule: a member takes a pool's job only while no
member before it in the pool's order is free (enabled, not stopped, accepting, driven by a node,
not printing); round-robin turns the order to begin after the member that took the latest job.
"""
from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from hcserver import formatter
from hcserver.config import ConfigError, parse
from hcserver.db import alembic_config, make_engine, upgrade
from hcserver.jobspec import JobSpecValidator, SpecError
from hcserver.queue import AttemptEnd, JobQueue
from hcserver.states import PrinterTransition, Transition
from tests.support.images import bundled
from tests.support.queue import JOB, LEASE_S, FakeClock

# ---- configuration ---------------------------------------------------------------------------

PRINTERS = "[printers.a]\ndriver = 'preview'\n[printers.b]\ndriver = 'preview'\n[printers.c]\ndriver = 'preview'\n"


def test_a_pool_names_its_printers_in_order_and_a_policy():
    config = parse(PRINTERS + "[pools.film]\nprinters = ['b', 'a']\npolicy = 'round-robin'\n"
                              "[pools.all]\nprinters = ['a', 'b', 'c']\n", "site.toml")
    assert config.pools["film"].printers == ("b", "a") and config.pools["film"].policy == "round-robin"
    assert config.pools["all"].policy == "first-available"
    assert config.members("film") == ("b", "a") and config.members("c") == ("c",)
    assert [pool.name for pool in config.pools_of("a")] == ["film", "all"]
    assert config.pools_of("c")[0].name == "all"


@pytest.mark.parametrize("pools, key, words", [
    ("[pools.film]\nprinters = ['a', 'dryview3']", "pools.film.printers[1]",
     "no printer 'dryview3' (configured: a, b, c)"),
    ("[pools.film]\nprinters = ['a', 'a']", "pools.film.printers[1]", "'a' is listed twice"),
    ("[pools.film]\nprinters = []", "pools.film.printers", "at least one printer"),
    ("[pools.film]\npolicy = 'first-available'", "pools.film.printers", "at least one printer"),
    ("[pools.film]\nprinters = ['a']\npolicy = 'random'", "pools.film.policy",
     "'random' is not one of: first-available, round-robin"),
    ("[pools.film]\nprinters = ['a']\nmembers = ['b']", "pools.film.members",
     "unknown key (allowed: policy, printers)"),
    ("[pools.a]\nprinters = ['b']", "pools.a", "a printer is named 'a' too"),
    ("[pools.film]\nprinters = 'a'", "pools.film.printers", "expected a list of strings"),
    ("[pool.film]\nprinters = ['a']", "pool", "unknown section (allowed: server, printers, pools, web, dicom_in)"),
])
def test_pool_errors_name_the_key(pools, key, words):
    with pytest.raises(ConfigError) as error:
        parse(PRINTERS + pools, "site.toml")
    assert (error.value.file, error.value.key) == ("site.toml", key)
    assert words in str(error.value)


def test_nodes_compare_their_pools_as_their_printers():
    """On several nodes a pool's job goes to whichever node drives a free member: every node
    records each pool's fingerprint beside its printers' (hcserver.sharing), so a pool with other
    members, another order or another policy tells the nodes apart (tests/test_node_sharing.py)."""
    from hcserver.sharing import differences, fingerprints

    pooled = PRINTERS + "[pools.film]\nprinters = ['a', 'b']\n"
    mine = fingerprints(parse(pooled, "site.toml"))
    assert set(mine) == {"a", "b", "c", "pool film"}
    assert fingerprints(parse(pooled, "elsewhere/site.toml")) == mine
    for other in ("[pools.film]\nprinters = ['b', 'a']\n", "[pools.film]\nprinters = ['a']\n",
                  "[pools.film]\nprinters = ['a', 'b']\npolicy = 'round-robin'\n"):
        theirs = fingerprints(parse(PRINTERS + other, "site.toml"))
        assert differences(mine, theirs, "beta") == ["pool film (configured differently)"]
    assert differences(mine, fingerprints(parse(PRINTERS, "site.toml")), "beta") == ["pool film (only on this node)"]


def test_pool_errors_are_reported_with_the_printers_errors():
    with pytest.raises(ConfigError) as error:
        parse(PRINTERS + "[printers.d]\nport = 'x'\n[pools.film]\nprinters = ['zz']\n", "site.toml")
    assert [e.key for e in error.value.errors] == ["printers.d.port", "pools.film.printers[0]"]


def test_every_error_of_a_pool_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse(PRINTERS + "[pools.a]\nprinters = ['b', 'zz', 'b']\npolicy = 'random'\nmembers = 1\n", "site.toml")
    assert [e.key for e in error.value.errors] == ["pools.a", "pools.a.members", "pools.a.printers[1]",
                                                   "pools.a.printers[2]", "pools.a.policy"]


def test_a_policy_may_be_written_in_any_case():
    assert parse(PRINTERS + "[pools.film]\nprinters = ['a']\npolicy = 'Round-Robin'\n",
                 "site.toml").pools["film"].policy == "round-robin"


# ---- a pool job's spec -------------------------------------------------------------------------

def _validator(printers: str, pool: str = "['a', 'b']") -> JobSpecValidator:
    config = parse(printers + f"[pools.film]\nprinters = {pool}\n", "site.toml")
    # image references are file paths here, inspected as at submit
    return JobSpecValidator(config, lambda reference, field: reference, formatter.inspect_image)


SIZES = ("[printers.a]\ndriver = 'preview'\nfilm_sizes = ['14INX17IN', '8INX10IN']\n"
         "[printers.b]\ndriver = 'preview'\nfilm_sizes = ['14INX17IN']\ncolor = true\n")


def test_a_pool_job_is_checked_against_every_member_and_stays_the_pools():
    validator = _validator(SIZES)
    job = validator.normalise({"printer": "film", "films": [{"film_size": "14INX17IN",
                                                             "frames": [bundled("CT_small.dcm")]}]})
    assert job["printer"] == "film" and job["films"][0]["film_size"] == "14INX17IN"
    with pytest.raises(SpecError) as error:   # a can, b cannot: refused, naming b
        validator.normalise({"printer": "film", "films": [{"film_size": "8INX10IN",
                                                           "frames": [bundled("CT_small.dcm")]}]})
    assert error.value.field == "films[0].film_size"
    assert str(error.value) == ("films[0].film_size: '8INX10IN' is not one of: 14INX17IN (printer b of pool film)")


def test_a_pool_job_says_whether_it_has_colour_images_whichever_member_prints_it():
    validator = _validator(SIZES)
    colour = validator.normalise({"printer": "film", "films": [{"film_size": "14INX17IN",
                                                                "frames": [bundled("SC_rgb_rle.dcm")]}]})
    grey = validator.normalise({"printer": "film", "films": [{"film_size": "14INX17IN",
                                                              "frames": [bundled("CT_small.dcm")]}]})
    assert (colour["color"], grey["color"]) == (True, False)   # a (grey) and b (colour) each decide


def test_members_that_would_complete_a_job_differently_must_be_told_in_the_job():
    validator = _validator("[printers.a]\ndriver = 'preview'\ndefaults = { medium_type = 'BLUE FILM' }\n"
                           "[printers.b]\ndriver = 'preview'\ndefaults = { medium_type = 'CLEAR FILM' }\n")
    films = [{"frames": [bundled("CT_small.dcm")]}]
    with pytest.raises(SpecError) as error:
        validator.normalise({"printer": "film", "films": films})
    assert error.value.field == "medium_type"
    assert "printers a and b of pool film would print 'BLUE FILM' and 'CLEAR FILM'" in str(error.value)
    job = validator.normalise({"printer": "film", "medium_type": "CLEAR FILM", "films": films})
    assert job["medium_type"] == "CLEAR FILM"


def test_an_unknown_destination_lists_printers_and_pools():
    with pytest.raises(SpecError, match=r"^printer: unknown printer 'laser' \(configured: a, b, c; pools: film\)$"):
        _validator(PRINTERS).normalise({"printer": "laser", "films": [{"frames": [bundled("CT_small.dcm")]}]})


# ---- which member takes a pool's job -----------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return request.getfixturevalue("postgres_url")


def _node(url: str, owner: str, clock: FakeClock) -> JobQueue:
    engine = make_engine(url)
    upgrade(engine)
    queue = JobQueue(engine, owner=owner, lease_s=LEASE_S, clock=clock)
    queue.printers.sync(["a", "b", "c"])
    queue.pools.sync(["film"])
    return queue


class Pool:
    """One node's queue driving printers a, b and c, with pool "film" of ``members``."""

    def __init__(self, url: str, members: str = "['a', 'b']", policy: str = "first-available",
                 clock: FakeClock | None = None, owner: str = "n1#1", drives: tuple[str, ...] = ("a", "b", "c")):
        self.config = parse(PRINTERS + f"[pools.film]\nprinters = {members}\npolicy = '{policy}'\n", "site.toml")
        self.clock = clock or FakeClock()
        self.queue = _node(url, owner, self.clock)
        for name in drives:
            assert self.queue.leases.acquire_printer(name)

    def submit(self, printer: str = "film", priority: str = "med") -> int:
        return self.queue.jobs.submit("alice", {**JOB, "printer": printer, "priority": priority})

    def claim(self, member: str) -> int | None:
        job = self.queue.attempts.claim_next(member, self.config.pools_of(member))
        return job and job.id

    def who_claims(self, *members: str) -> dict[str, int]:
        """Offer the pool's job to each member in turn (as their workers would, in any order)."""
        return {member: job for member in members if (job := self.claim(member)) is not None}

    def complete(self, job: int) -> None:
        self.queue.attempts.end(job, AttemptEnd(Transition.COMPLETE, "all 1 films printed"))

    def printed_on(self, job: int) -> str | None:
        return self.queue.views.show(job)["printed_on"]


def test_first_available_gives_the_job_to_the_first_free_member(database):
    pool = Pool(database)
    first = pool.submit()
    assert pool.who_claims("b", "a") == {"a": first}   # b leaves it to a, which is free
    assert pool.printed_on(first) == "a" and pool.queue.views.show(first)["printer"] == "film"
    second = pool.submit()
    assert pool.who_claims("b", "a") == {"b": second}  # a is printing: b takes the next
    pool.complete(first)
    third = pool.submit()
    assert pool.who_claims("b", "a") == {"a": third}


@pytest.mark.parametrize("transition", [PrinterTransition.STOP, PrinterTransition.DISABLE, PrinterTransition.REJECT])
def test_a_stopped_disabled_or_rejecting_member_is_passed_over(database, transition):
    pool = Pool(database)
    pool.queue.printers.change("a", transition, "FILM JAM")
    job = pool.submit()
    # a rejecting printer still prints its own queue: only the pool's jobs pass it by
    claimers = ("b", "a") if transition is PrinterTransition.REJECT else ("b",)
    assert pool.who_claims(*claimers) == {"b": job}


def test_a_rejecting_member_takes_no_pool_job_even_when_alone(database):
    pool = Pool(database, members="['a']")
    pool.queue.printers.change("a", PrinterTransition.REJECT)
    job, own = pool.submit(), pool.submit("a")
    assert pool.who_claims("a") == {"a": own}
    assert pool.claim("a") is None and pool.queue.views.state_of(job) == "pending"


def test_a_member_claims_its_own_and_its_pools_jobs_by_priority_then_order(database):
    pool = Pool(database, drives=("a",))   # b is driven by no node: it is not free
    low, high, med = pool.submit("a", "low"), pool.submit("film", "high"), pool.submit("a", "med")
    other = pool.submit("b")
    claimed = [pool.claim("a") for _ in range(4)]
    assert claimed == [high, med, low, None]   # never b's own job
    assert pool.queue.views.state_of(other) == "pending"


def test_round_robin_members_take_turns_and_a_busy_one_is_skipped(database):
    pool = Pool(database, members="['a', 'b', 'c']", policy="round-robin")
    turns = []
    for _ in range(4):
        job = pool.submit()
        turns.append(pool.who_claims("c", "b", "a"))
        pool.complete(job)
    assert [list(turn) for turn in turns] == [["a"], ["b"], ["c"], ["a"]]
    busy = pool.submit("b")               # b prints a job of its own ...
    assert pool.claim("b") == busy
    job = pool.submit()
    assert pool.who_claims("c", "a") == {"c": job}   # ... so its turn passes to c


def test_a_member_that_stops_leaves_its_pool_job_to_another_and_keeps_its_own(database):
    pool = Pool(database)
    job, own = pool.submit(), pool.submit("a")
    assert pool.claim("a") == job
    pool.queue.attempts.end(job, AttemptEnd(Transition.REQUEUE, "printer stopped: FILM JAM", stop_printer="FILM JAM"))
    assert pool.queue.printers.get("a").stopped and pool.queue.printers.get("a").reason == "FILM JAM"
    shown = pool.queue.views.show(job)
    assert (shown["state"], shown["printer"], shown["printed_on"]) == ("pending", "film", "a")
    assert pool.who_claims("b") == {"b": job}
    assert pool.claim("b") is None and pool.queue.views.state_of(own) == "pending"   # a's own job waits for a


def _retry(pool: Pool, job: int) -> None:
    """The attempt fails as on a printer nothing answers: the job is retried (here: due at once)."""
    pool.queue.attempts.end(job, AttemptEnd(Transition.RETRY, "connection refused; retry at once",
                                            not_before=pool.clock(), failed_attempts=1))


@pytest.mark.parametrize("policy", ["first-available", "round-robin"])
def test_a_member_whose_attempt_was_retried_is_offered_the_pools_jobs_last(database, policy):
    pool = Pool(database, members="['a', 'b', 'c']", policy=policy)
    job = pool.submit()
    assert pool.claim("a") == job
    _retry(pool, job)                                 # a is switched off: nothing answers
    assert pool.queue.views.show(job)["state"] == "pending"
    # Without it a, free again, would take the job again and again, and b never
    assert pool.who_claims("a", "c", "b") == {"b": job}
    pool.complete(job)
    later = pool.submit()
    # first-available: b; round-robin: c, after b; a comes last either way
    expected = "b" if policy == "first-available" else "c"
    assert pool.who_claims("a", "c", "b") == {expected: later}
    view = pool.queue.pools.views(pool.config.pools.values())[0]
    assert view["next"] == ("c" if policy == "first-available" else "b")
    assert pool.queue.printers.get("a").retried_at is not None


def test_a_retried_member_still_prints_when_no_other_member_is_free_and_its_place_comes_back(database):
    pool = Pool(database)
    first = pool.submit()
    assert pool.claim("a") == first
    _retry(pool, first)
    busy = pool.submit("b", "high")
    assert pool.claim("b") == busy                    # b prints its own (urgent) job: not free
    assert pool.who_claims("a") == {"a": first}       # so a, the only free member, takes it after all
    pool.complete(first)                              # a printed it: it is offered the pool's jobs first again
    assert pool.queue.printers.get("a").retried_at is None
    pool.complete(busy)
    again = pool.submit()
    assert pool.who_claims("b", "a") == {"a": again}


def test_the_pools_migration_downgrades_and_upgrades_again_keeping_the_jobs(database):
    pool = Pool(database)
    printed, waiting = pool.submit(), pool.submit()
    assert pool.claim("a") == printed
    _retry(pool, printed)
    engine = pool.queue.store.engine
    scripts = ScriptDirectory.from_config(alembic_config(database))
    migration = next(s for s in scripts.walk_revisions() if s.path.endswith("_printer_pools.py"))
    assert (migration.revision, migration.down_revision) == ("0007", "0006")   # after the front door's origin key
    with engine.begin() as connection:
        config = alembic_config(database)
        config.attributes["connection"] = connection
        command.downgrade(config, migration.down_revision)
    schema = inspect(engine)
    assert "pools" not in schema.get_table_names()
    assert "printed_on" not in {c["name"] for c in schema.get_columns("jobs")}
    assert "retried_at" not in {c["name"] for c in schema.get_columns("printers")}
    assert "origin_key" in {c["name"] for c in schema.get_columns("jobs")}   # 0006 stays
    engine.dispose()
    upgrade(engine)
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT id, printed_on FROM jobs")).all())
    assert rows == {printed: "film", waiting: None}   # attempted before pools: printed on its own printer
    engine.dispose()


def test_pool_claims_respect_the_printer_leases_of_other_nodes(database):
    clock = FakeClock()
    node1 = Pool(database, clock=clock, owner="n1#1", drives=("a",))
    node2 = Pool(database, clock=clock, owner="n2#1", drives=("b",))
    job = node2.submit()
    assert node2.claim("a") is None             # node 2 does not drive a: it claims nothing for it
    assert node2.claim("b") is None             # a is free, driven by node 1: b leaves the job to it
    clock.advance(LEASE_S + 1)                  # node 1 stopped renewing its lease on a
    assert node2.queue.leases.renew([]) == {"b"}
    assert node2.claim("b") == job
    assert node1.claim("a") is None             # node 1 no longer drives a


def test_the_pool_view_shows_jobs_printing_queued_and_the_next_member(database):
    pool = Pool(database)
    first, second = pool.submit(), pool.submit()
    view = pool.queue.pools.views(pool.config.pools.values())
    assert view == [{"name": "film", "policy": "first-available", "printers": ["a", "b"], "queued": 2,
                     "printing": [], "last_member": None, "next": "a"}]
    assert pool.claim("a") == first
    view = pool.queue.pools.views(pool.config.pools.values())[0]
    assert (view["printing"], view["next"], view["last_member"]) == ([{"job": first, "printer": "a"}], "b", "a")
    assert pool.claim("b") == second
    assert pool.queue.pools.views(pool.config.pools.values())[0]["next"] is None


def test_a_pool_jobs_film_wakes_only_the_member_printing_it(database, tmp_path):
    pool = Pool(database)
    job = pool.submit()
    assert pool.claim("a") == job
    told = []
    pool.queue.store.notify = told.append
    pool.queue.attempts.film_printed(job, 0, None)
    pool.complete(job)
    assert [(change.printer, change.kind) for change in told] == [("a", "film-printed"), ("film", "complete")]


# ---- metrics ------------------------------------------------------------------------------------

def test_metrics_count_a_pool_jobs_attempts_under_the_member_that_ran_them(database, tmp_path):
    """Starts (the queue wait), films, retries and outcomes are counted under the member that
    printed; a job no member took, and the queue gauge, under the pool (README, "Status page and metrics")."""
    from prometheus_client.parser import text_string_to_metric_families

    from hcserver.spool import Spool
    from hcserver.web.metrics import Metrics

    pool = Pool(database)
    metrics = Metrics(pool.queue, Spool(tmp_path / "spool"), lambda: {"a", "b", "c"})
    pool.queue.store.notify = metrics.change
    try:
        printed = pool.submit()
        assert pool.claim("a") == printed
        pool.queue.attempts.film_printed(printed, 0, None)
        pool.complete(printed)
        retried = pool.submit()
        assert pool.claim("a") == retried
        _retry(pool, retried)
        assert pool.claim("b") == retried     # a was retried: b is offered the job first
        pool.complete(retried)
        canceled = pool.submit()
        pool.queue.jobs.cancel(canceled, "alice")
        pool.submit()                         # waits for a member
        metrics.settle()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(metrics.exposition().decode())
                   for s in family.samples}
    finally:
        metrics.stop()

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("hcserver_jobs_finished_total", printer="a", outcome="completed") == 1
    assert value("hcserver_jobs_finished_total", printer="b", outcome="completed") == 1
    assert value("hcserver_jobs_finished_total", printer="film", outcome="canceled") == 1   # no member took it
    assert value("hcserver_jobs_finished_total", printer="film", outcome="completed") is None
    assert value("hcserver_job_retries_total", printer="a") == 1
    assert value("hcserver_job_retries_total", printer="film") is None
    assert value("hcserver_films_printed_total", printer="a") == 1
    assert value("hcserver_queue_wait_seconds_count", printer="a") == 2      # each job's first start
    assert value("hcserver_queue_wait_seconds_count", printer="film") is None
    assert value("hcserver_film_print_seconds_count", printer="a") == 1
    # the queue gauge: where the jobs were sent (a waiting pool job has no member yet)
    assert value("hcserver_jobs", printer="film", state="pending") == 1
    assert value("hcserver_jobs", printer="film", state="completed") == 2
