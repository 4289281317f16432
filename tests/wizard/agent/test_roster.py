"""The list's rules (wizard.agent.roster): seed and fallback, never empty, drained not cut,
the last good list kept when the cluster says nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wizard.agent.roster import Member, Roster, Source, drop_silent_drainers, next_roster

M1, M2, M3, M4 = (Member(f"10.77.0.1{i}", 6443) for i in range(1, 5))
SEED = Roster.seeded([M1, M2, M3])


def always(_: Member) -> bool:
    return True


def never(_: Member) -> bool:
    return False


def test_the_seed_is_the_first_list_every_master_active():
    assert SEED.active() == (M1, M2, M3)
    assert SEED.source is Source.SEED and SEED.generation == 1


def test_an_empty_seed_is_refused():
    try:
        Roster.seeded([])
    except ValueError as error:
        assert "empty" in str(error)
    else:
        raise AssertionError("an empty seed was taken")


def test_no_word_from_the_cluster_keeps_the_last_good_list():
    assert next_roster(SEED, None, never) is SEED


def test_an_observation_naming_no_master_changes_nothing():
    assert next_roster(SEED, [], never) is SEED


def test_a_new_master_is_added_active():
    after = next_roster(SEED, [M1, M2, M3, M4], never)
    assert after.active() == (M1, M2, M3, M4)
    assert after.generation == 2 and after.source is Source.ENDPOINTS


def test_a_master_dropped_but_answering_is_drained_not_cut():
    after = next_roster(SEED, [M1, M2], always)
    assert after.active() == (M1, M2)
    assert after.draining() == (M3,)


def test_a_master_dropped_and_silent_leaves():
    after = next_roster(SEED, [M1, M2], never)
    assert [m for m, _ in after.members] == [M1, M2]


def test_a_drained_master_leaves_once_it_stops_answering():
    drained = next_roster(SEED, [M1, M2], always)
    assert drop_silent_drainers(drained, always) is drained
    gone = drop_silent_drainers(drained, never)
    assert gone.draining() == () and gone.generation == drained.generation + 1


def test_a_drained_master_named_again_is_active_again():
    drained = next_roster(SEED, [M1, M2], always)
    back = next_roster(drained, [M1, M2, M3], always)
    assert back.active() == (M1, M2, M3) and back.draining() == ()


def test_the_same_observation_twice_is_no_new_generation():
    after = next_roster(SEED, [M1, M2, M3, M4], never)
    assert next_roster(after, [M4, M3, M2, M1], never) is after


def test_replacing_every_master_keeps_the_old_ones_draining_while_they_answer():
    after = next_roster(SEED, [M4], always)
    assert after.active() == (M4,)
    assert after.draining() == (M1, M2, M3)


members = st.builds(
    Member,
    st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"]),
    st.sampled_from([6443, 8443]),
)


@given(
    seed=st.lists(members, min_size=1, max_size=4),
    steps=st.lists(
        st.tuples(st.one_of(st.none(), st.lists(members, max_size=4)), st.booleans()),
        max_size=12,
    ),
)
def test_the_list_never_has_no_active_master(seed, steps):
    roster = Roster.seeded(seed)
    for observed, answering in steps:
        answers = always if answering else never
        roster = next_roster(roster, observed, answers)
        assert roster.active(), roster
        roster = drop_silent_drainers(roster, answers)
        assert roster.active(), roster
        for member, state in roster.members:
            assert roster.state_of(member) is state
