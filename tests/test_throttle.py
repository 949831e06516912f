"""The per-user throttle both chat adapters use (`handlers.throttle`)."""

from __future__ import annotations

from handlers.throttle import UserThrottle, Verdict

ALLOWED = Verdict(True, False)


def test_a_token_bucket_per_user() -> None:
    now = [0.0]
    throttle = UserThrottle(6, clock=lambda: now[0])
    assert [throttle.allow(1) for _ in range(6)] == [ALLOWED] * 6
    assert throttle.allow(1) == Verdict(False, True)  # one notice per episode…
    assert throttle.allow(1) == Verdict(False, False)  # … then silence
    assert throttle.allow(2) == ALLOWED  # other users are not affected
    now[0] += 10  # 6 a minute: one token every 10 s
    assert throttle.allow(1) == ALLOWED
    assert throttle.allow(1) == Verdict(False, True)  # a new episode gets a new notice


def test_keys_of_different_platforms_are_different_users() -> None:
    throttle = UserThrottle(1, clock=lambda: 0.0)
    assert throttle.allow(("telegram", 7)) == ALLOWED
    assert throttle.allow(("discord", 7)) == ALLOWED
    assert not throttle.allow(("telegram", 7)).allowed


def test_zero_means_no_limit_and_the_table_is_bounded() -> None:
    unlimited = UserThrottle(0, clock=lambda: 0.0)
    assert all(unlimited.allow(1) == ALLOWED for _ in range(1000))
    bounded = UserThrottle(1, clock=lambda: 0.0, capacity=3)
    for user in range(10):
        bounded.allow(user)
    assert len(bounded._buckets) == 3  # the least recently seen are forgotten
    assert bounded.allow(0) == ALLOWED  # forgotten: a full bucket again
