//! The local store's behaviour: bursts, spacing, reservations given back, changes of rate.

use super::*;

const MS: u64 = 1_000_000;

fn reserved(decision: Decision) -> Reservation {
    match decision {
        Decision::Reserved(r) => r,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

#[test]
fn idle_limiter_admits_the_burst_then_rejects_until_the_next_interval() {
    let gcra = Gcra::new(100 * MS, 3);
    let now = 1;
    for _ in 0..3 {
        assert_eq!(gcra.acquire(now, 0), Decision::Admitted);
    }
    assert_eq!(
        gcra.acquire(now, 0),
        Decision::Rejected {
            retry_after: 100 * MS
        }
    );
    assert_eq!(
        gcra.acquire(now + 40 * MS, 0),
        Decision::Rejected {
            retry_after: 60 * MS
        }
    );
    assert_eq!(gcra.acquire(now + 100 * MS, 0), Decision::Admitted);
}

#[test]
fn rejection_does_not_change_the_state() {
    let gcra = Gcra::new(10 * MS, 1);
    assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
    for _ in 0..5 {
        assert_eq!(
            gcra.acquire(1, 0),
            Decision::Rejected {
                retry_after: 10 * MS
            }
        );
    }
    assert_eq!(gcra.acquire(1 + 10 * MS, 0), Decision::Admitted);
}

#[test]
fn idle_time_refills_at_most_the_burst() {
    let gcra = Gcra::new(10 * MS, 2);
    assert_eq!(gcra.available(1), 2);
    assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
    assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
    assert_eq!(gcra.available(1), 0);
    assert_eq!(gcra.available(1 + 10 * MS), 1);
    assert_eq!(gcra.available(1 + 1_000 * MS), 2);
}

#[test]
fn waiting_caller_reserves_the_next_permits_in_turn() {
    let gcra = Gcra::new(10 * MS, 1);
    assert_eq!(gcra.acquire(1, 25 * MS), Decision::Admitted);
    assert_eq!(reserved(gcra.acquire(1, 25 * MS)).due, 1 + 10 * MS);
    assert_eq!(reserved(gcra.acquire(1, 25 * MS)).due, 1 + 20 * MS);
    assert_eq!(
        gcra.acquire(1, 25 * MS),
        Decision::Rejected {
            retry_after: 30 * MS
        }
    );
}

#[test]
fn last_reservation_given_back_goes_to_the_next_caller() {
    let gcra = Gcra::new(10 * MS, 1);
    assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
    let r = reserved(gcra.acquire(1, 50 * MS));
    assert!(gcra.give_back(r, 1 + 5 * MS));
    assert_eq!(reserved(gcra.acquire(1 + 5 * MS, 50 * MS)).due, r.due);
}

#[test]
fn reservation_with_later_ones_behind_it_is_not_given_back() {
    let gcra = Gcra::new(10 * MS, 1);
    assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
    let first = reserved(gcra.acquire(1, 50 * MS));
    let second = reserved(gcra.acquire(1, 50 * MS));
    assert!(!gcra.give_back(first, 2));
    assert_eq!(reserved(gcra.acquire(2, 50 * MS)).due, second.due + 10 * MS);
}

#[test]
fn due_reservation_is_spent() {
    let gcra = Gcra::new(10 * MS, 1);
    assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
    let r = reserved(gcra.acquire(1, 50 * MS));
    assert!(!gcra.give_back(r, r.due));
    assert_eq!(
        gcra.acquire(r.due, 0),
        Decision::Rejected {
            retry_after: 10 * MS
        }
    );
}

#[test]
fn raising_the_rate_respaces_the_permits_out_and_drops_the_old_wait() {
    // 1 a minute, one call: the next permit is a minute away.
    let gcra = Gcra::new(60_000 * MS, 1);
    assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
    let now = 1 + 5_000 * MS;
    // 1000 a second, burst 1000: the one permit out counts as one of the new burst.
    gcra.set_rate(MS, 1000, || now);
    assert_eq!(gcra.available(now), 999);
    assert_eq!(gcra.acquire(now, 0), Decision::Admitted);
}

#[test]
fn lowering_the_rate_charges_the_permits_out_up_to_one_burst() {
    let gcra = Gcra::new(10 * MS, 10);
    for _ in 0..4 {
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
    }
    // 4 permits out, respaced at one a second with a burst of 10: 6 left ...
    gcra.set_rate(1_000 * MS, 10, || 1);
    assert_eq!(gcra.available(1), 6);
    // ... and at a burst of 2, the limiter is full, its next permit one interval away.
    gcra.set_rate(1_000 * MS, 2, || 1);
    assert_eq!(
        gcra.acquire(1, 0),
        Decision::Rejected {
            retry_after: 1_000 * MS
        }
    );
    // The same rate again changes nothing.
    gcra.set_rate(1_000 * MS, 2, || unreachable!("no rebase"));
}

#[test]
fn extreme_configuration_saturates_instead_of_overflowing() {
    let gcra = Gcra::new(u64::MAX / 2, u32::MAX);
    assert_eq!(gcra.acquire(1, u64::MAX), Decision::Admitted);
    assert_eq!(gcra.available(u64::MAX), 0);
    let tiny = Gcra::new(1, 1);
    assert_eq!(tiny.acquire(u64::MAX, u64::MAX), Decision::Admitted);
}
