"""The notifications queue on Redis: what is taken stays until done, a dead consumer's entries are
taken over, sends are noted once."""
from adapters.store.outbox import STALE_MS, RedisOutbox
from core.model import ColorChanged

EVENT = ColorChanged("a" * 24, "green", "red", 1000, ("close_contact",))


def test_an_event_round_trips_and_is_gone_once_done(redis_server):
    outbox = RedisOutbox(redis_server)
    outbox.enqueue(EVENT)
    [(event_id, event)] = outbox.take("w1", 10, 0)
    assert event == EVENT
    assert outbox.take("w1", 10, 0) == []  # taken: not handed out again while it is fresh
    outbox.done(event_id)
    assert outbox.pending() == 0


def test_what_a_dead_consumer_left_is_taken_over(redis_server, monkeypatch):
    outbox = RedisOutbox(redis_server)
    outbox.enqueue(EVENT)
    [(event_id, _)] = outbox.take("dead", 10, 0)
    assert outbox.take("alive", 10, 0) == []
    monkeypatch.setattr("adapters.store.outbox.STALE_MS", 0)  # as if STALE_MS had passed
    assert [entry_id for entry_id, _ in outbox.take("alive", 10, 0)] == [event_id]
    assert STALE_MS >= 30_000  # the real wait outlasts a slow platform call


def test_a_send_is_noted_per_event_and_account(redis_server):
    outbox = RedisOutbox(redis_server)
    assert not outbox.was_sent("1-0", "acct")
    outbox.mark_sent("1-0", "acct")
    assert outbox.was_sent("1-0", "acct") and not outbox.was_sent("1-0", "other")
    assert 0 < redis_server.ttl("hc:sent:1-0:acct") <= 7 * 86_400
