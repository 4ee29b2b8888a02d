//! Model checks of the TAT word (`--cfg resilience_loom`; see `.ci/run`).

use loom::sync::Arc;
use loom::thread;

use super::*;

const T: u64 = 10;

#[test]
fn loom_racing_callers_get_exactly_the_burst() {
    loom::model(|| {
        let gcra = Arc::new(Gcra::new(T, 2));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let gcra = gcra.clone();
                thread::spawn(move || gcra.acquire(1, 0))
            })
            .collect();
        let decisions: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .collect();
        let admitted = decisions
            .iter()
            .filter(|&&d| d == Decision::Admitted)
            .count();
        assert_eq!(admitted, 2, "{decisions:?}");
        assert!(decisions.contains(&Decision::Rejected { retry_after: T }));
        assert_eq!(gcra.available(1), 0);
    });
}

#[test]
fn loom_a_reservation_given_back_during_a_new_one_never_doubles_a_permit() {
    loom::model(|| {
        let gcra = Arc::new(Gcra::new(T, 1));
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        let Decision::Reserved(first) = gcra.acquire(1, 5 * T) else {
            panic!("the next permit is within the wait");
        };
        let giver = {
            let gcra = gcra.clone();
            thread::spawn(move || gcra.give_back(first, 2))
        };
        let Decision::Reserved(second) = gcra.acquire(2, 5 * T) else {
            panic!("a permit is within the wait");
        };
        let given_back = giver.join().expect("no panic");
        if given_back {
            // The newcomer came after the give-back and took the freed permit.
            assert_eq!(second.due, first.due);
        } else {
            // The newcomer queued behind the first reservation, which stays spent.
            assert_eq!(second.due, first.due + T);
        }
        // The next permit is spaced after the last one handed out.
        assert_eq!(
            gcra.acquire(2, 0),
            Decision::Rejected {
                retry_after: second.due + T - 2
            }
        );
    });
}
