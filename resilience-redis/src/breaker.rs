//! Breakers shared by a fleet: a trip in one replica opens the breaker in every replica, until
//! the same moment.
//!
//! Counts stay local: each replica decides from its own calls. What is shared is the
//! transition: when a shared breaker opens by itself, its replica writes `open until T` (on
//! Redis's clock) to `{prefix}:{shared}:open`, with an expiry at `T`, and publishes it on the
//! channel `{prefix}:{shared}:breaker`; every replica adopts it
//! ([`CircuitBreaker::adopt_open_for`]) when the message arrives, and re-reads the key every
//! `resync` (one second by default), since pub/sub may drop a message (a replica whose
//! subscription broke still adopts a trip within that period). A replica that is open and finds
//! no key (Redis restarted empty, or was down when the trip was published) publishes its open
//! state again at its next re-read. A replica whose probe closes
//! its breaker deletes the key and publishes `closed`, and the others close too.
//!
//! **One prober for the fleet.** When a shared breaker's open wait ends, the replicas do not
//! all probe the dependency: each asks Redis for the probe lease (`SET {prefix}:{shared}:probe
//! ID NX PX lease`) and only the one that got it lets its calls probe; the others' calls are
//! rejected as when every probe slot is taken, until the prober's result reaches them (closed:
//! they close; open again: a new wait, and a new election). A replica asks within 20 ms of its
//! wait's end; a Redis that does not answer leaves the replica to probe on its own.
//!
//! **A quorum.** With `quorum = N` (`#[circuit_breaker(.., shared = "payments", quorum = 2)]`),
//! a replica's trip opens that replica alone until N replicas tripped within one open wait;
//! then the fleet's breaker opens in every replica. One bad node cannot open everyone's
//! circuit. (After a restart of Redis the count starts again.)
//!
//! **By hand, for the fleet.** A state set by hand on a shared breaker (`force_open`,
//! `disable`, `metrics_only`, and `close` out of one of them, through the registry or the
//! admin) is set in every replica: published, and kept in `{prefix}:{shared}:manual` for the
//! replicas that missed the message or start later (cleared by `close`).
//!
//! Nothing of this is on a call's path: transitions are handed to a task of the store through
//! a bounded channel (a transition that finds it full is dropped: the periodic re-read is
//! there for that), and adoptions happen in the store's tasks. A closed breaker's call costs
//! what it cost before.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::Script;
use resilience_runtime::circuit_breaker::fleet::ProbeGate;
use resilience_runtime::event::on_transition;
use resilience_runtime::{CircuitBreaker, Event, EventKind, State};
use tokio::sync::mpsc;

use crate::RedisStore;

/// Counts this replica's trip and, once `quorum` replicas tripped within one open wait, writes
/// `open until now + ARGV[1] ms` (unless a later end is there) and publishes it. KEYS[1]: the
/// key; KEYS[2]: the replicas that tripped, by time. ARGV: the wait in ms, the channel, this
/// process's id, the quorum. Returns the wait published, or 0 below the quorum.
const PUBLISH_OPEN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = tonumber(ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - wait)
redis.call('PEXPIRE', KEYS[2], wait)
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[4]) then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left < wait then
  redis.call('SET', KEYS[1], now + wait, 'PX', wait)
  left = wait
end
redis.call('PUBLISH', ARGV[2], 'open ' .. left .. ' ' .. ARGV[3])
return left
";

/// Deletes the key and publishes `closed`. KEYS[1]: the key; ARGV: the channel, the id.
const PUBLISH_CLOSED: &str = r"
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'closed ' .. ARGV[2])
return 1
";

/// One shared breaker: the breaker, its key and its channel.
#[derive(Clone, Debug)]
struct Shared {
    breaker: &'static CircuitBreaker,
    key: String,
    /// The state set by hand for the fleet, if any.
    manual: String,
    /// The replicas that tripped within the last open wait (for a quorum).
    trips: String,
    channel: String,
}

/// What a breaker's own transition asks the store to publish.
enum Publish {
    Open(Duration),
    Closed,
    /// A state set by hand (`forced_open`, `disabled`, `metrics_only`, or `closed` out of
    /// one of them): set in every replica.
    Manual(&'static str),
}

/// Sets (or, for `closed`, clears) the state set by hand and publishes it. KEYS[1]: the key
/// of the state by hand; ARGV: the state, the channel, this process.
const PUBLISH_MANUAL: &str = r"
if ARGV[1] == 'closed' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[2], 'manual ' .. ARGV[1] .. ' ' .. ARGV[3])
return 1
";

/// A state set by hand elsewhere, set here.
fn apply_manual(breaker: &CircuitBreaker, state: &str) {
    adopting(|| match state {
        "forced_open" => breaker.force_open(),
        "disabled" => breaker.disable(),
        "metrics_only" => breaker.metrics_only(),
        "closed" => breaker.close(),
        _ => {}
    });
}

/// A shared breaker as the transition listener knows it: its name, the sender to its store's
/// publishing task, its index in [`BREAKERS`].
type Listened = (&'static str, mpsc::Sender<(usize, Publish)>, usize);

/// The shared breakers of every store, for the transition listener.
static SHARED: Mutex<Vec<Listened>> = Mutex::new(Vec::new());
static LISTENING: OnceLock<()> = OnceLock::new();

thread_local! {
    /// Set while this thread adopts a state from elsewhere: that transition is not published.
    static ADOPTING: Cell<bool> = const { Cell::new(false) };
}

/// The breaker's transitions, as the store's listener sees them: its own trips and closings
/// are published; what it adopted is not.
fn listen(event: &Event) {
    if ADOPTING.with(Cell::get) || event.key.is_some() {
        return;
    }
    let EventKind::StateTransition { from, to } = event.what else {
        return;
    };
    let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    for (name, sender, index) in shared.iter() {
        if *name != event.policy {
            continue;
        }
        let publish = match (from, to) {
            (_, State::Open) => {
                let Some(breaker) = breaker_of(*index) else {
                    continue;
                };
                match breaker.open_remaining() {
                    Some(wait) if !wait.is_zero() => Publish::Open(wait),
                    _ => continue,
                }
            }
            (_, State::ForcedOpen) => Publish::Manual("forced_open"),
            (_, State::Disabled) => Publish::Manual("disabled"),
            (_, State::MetricsOnly) => Publish::Manual("metrics_only"),
            // Only a hand leaves these for closed (a probe closes from half-open).
            (
                State::ForcedOpen | State::Disabled | State::MetricsOnly | State::Open,
                State::Closed,
            ) => Publish::Manual("closed"),
            (State::HalfOpen, State::Closed) => Publish::Closed,
            _ => continue,
        };
        // Full: dropped; the periodic re-read catches up.
        let _ = sender.try_send((*index, publish));
    }
}

/// Every shared breaker, by index.
static BREAKERS: Mutex<Vec<&'static CircuitBreaker>> = Mutex::new(Vec::new());

fn breaker_of(index: usize) -> Option<&'static CircuitBreaker> {
    BREAKERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(index)
        .copied()
}

/// Whether this process holds the probe lease of each shared breaker, by name.
static PROBERS: Mutex<Vec<(&'static str, &'static AtomicBool)>> = Mutex::new(Vec::new());

/// The gate of every shared breaker: a call may probe while this process holds the lease.
struct FleetGate;

static FLEET_GATE: FleetGate = FleetGate;

impl ProbeGate for FleetGate {
    fn may_probe(&self, breaker: &'static str) -> bool {
        // Asked on the not-closed path only.
        let probers = PROBERS.lock().unwrap_or_else(PoisonError::into_inner);
        probers
            .iter()
            .find(|(name, _)| *name == breaker)
            .is_none_or(|(_, holds)| holds.load(Relaxed))
    }
}

/// Takes the probe lease if nobody holds it. KEYS[1]: the lease; ARGV: this process, the
/// lease in ms. Returns 1 when this process holds it.
const TAKE_PROBE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// Gives the probe lease back if this process holds it. KEYS[1]: the lease; ARGV[1]: this
/// process.
const GIVE_PROBE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// How often a replica looks whether its breaker's open wait is ending.
const PROBE_POLL: Duration = Duration::from_millis(20);

/// Adopts a state from elsewhere without publishing it again.
fn adopting<T>(f: impl FnOnce() -> T) -> T {
    ADOPTING.with(|a| a.set(true));
    let out = f();
    ADOPTING.with(|a| a.set(false));
    out
}

impl RedisStore {
    /// Shares `breaker`'s trips with every process that shares a breaker under `shared`
    /// through the same Redis (see the [module docs](crate::breaker)). Spawns the store's tasks
    /// on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Redis unreachable for the subscription now: the breaker stays local.
    pub async fn share_breaker(
        &'static self,
        breaker: &'static CircuitBreaker,
        shared: &str,
    ) -> Result<(), redis::RedisError> {
        let prefix = &self.options.prefix;
        let one = Shared {
            breaker,
            key: format!("{prefix}:{{{shared}}}:open"),
            manual: format!("{prefix}:{{{shared}}}:manual"),
            trips: format!("{prefix}:{{{shared}}}:trips"),
            channel: format!("{prefix}:{{{shared}}}:breaker"),
        };
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&one.channel).await?;

        let index = {
            let mut all = BREAKERS.lock().unwrap_or_else(PoisonError::into_inner);
            all.push(breaker);
            all.len() - 1
        };
        let (sender, mut published) = mpsc::channel::<(usize, Publish)>(64);
        SHARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((breaker.name(), sender, index));
        LISTENING.get_or_init(|| on_transition(listen));

        let holds: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        PROBERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((breaker.name(), holds));
        breaker.gate_probes(&FLEET_GATE);

        let id = self.id;
        // The probe lease: taken when the open wait ends, given back once the breaker is
        // closed or open again.
        let probe_key = format!("{prefix}:{{{shared}}}:probe");
        let lease_ms = u64::try_from(self.options.probe_lease.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        tokio::spawn(async move {
            let (take, give) = (Script::new(TAKE_PROBE), Script::new(GIVE_PROBE));
            loop {
                tokio::time::sleep(PROBE_POLL).await;
                let ending = match breaker.state() {
                    State::Open => breaker
                        .open_remaining()
                        .is_some_and(|left| left <= PROBE_POLL),
                    State::HalfOpen => true,
                    _ => false,
                };
                if ending {
                    if !holds.load(Relaxed) {
                        let mut i = take.prepare_invoke();
                        i.key(&probe_key).arg(id).arg(lease_ms);
                        // Redis away: this replica probes on its own.
                        let got = i
                            .invoke_async::<i64>(&mut connection)
                            .await
                            .map_or(true, |n| n == 1);
                        holds.store(got, Relaxed);
                    }
                } else if holds.swap(false, Relaxed) {
                    let mut i = give.prepare_invoke();
                    i.key(&probe_key).arg(id);
                    let _ = i.invoke_async::<i64>(&mut connection).await;
                }
            }
        });

        // Out: this replica's own trips and closings.
        let out = one.clone();
        let mut connection = self.connection.clone();
        tokio::spawn(async move {
            let (open, closed) = (Script::new(PUBLISH_OPEN), Script::new(PUBLISH_CLOSED));
            let manual = Script::new(PUBLISH_MANUAL);
            while let Some((_, publish)) = published.recv().await {
                let invocation = match publish {
                    Publish::Open(wait) => {
                        let mut i = open.prepare_invoke();
                        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                        i.key(&out.key)
                            .key(&out.trips)
                            .arg(ms)
                            .arg(&out.channel)
                            .arg(id)
                            .arg(out.breaker.quorum());
                        i
                    }
                    Publish::Closed => {
                        let mut i = closed.prepare_invoke();
                        i.key(&out.key).arg(&out.channel).arg(id);
                        i
                    }
                    Publish::Manual(state) => {
                        let mut i = manual.prepare_invoke();
                        i.key(&out.manual).arg(state).arg(&out.channel).arg(id);
                        i
                    }
                };
                // A failure is not retried: the others re-read the key, and a closing is
                // what their own probes find anyway.
                let _ = invocation.invoke_async::<i64>(&mut connection).await;
            }
        });

        // In: the others' messages, as they come; a broken subscription is made again (the
        // re-reads cover what it missed meanwhile).
        let incoming = one.clone();
        let client = self.client.clone();
        let again = self.options.resync;
        tokio::spawn(async move {
            let mut pubsub = Some(pubsub);
            loop {
                if let Some(subscribed) = pubsub.take() {
                    let mut messages = subscribed.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        adopt_message(incoming.breaker, &text, id);
                    }
                }
                tokio::time::sleep(again).await;
                if let Ok(mut fresh) = client.get_async_pubsub().await
                    && fresh.subscribe(&incoming.channel).await.is_ok()
                {
                    pubsub = Some(fresh);
                }
            }
        });

        // And the key, every `resync`: a message lost, a subscription broken.
        let mut connection = self.connection.clone();
        let resync = self.options.resync;
        tokio::spawn(async move {
            let republish = Script::new(PUBLISH_OPEN);
            let mut tick = tokio::time::interval(resync);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let manual: redis::RedisResult<Option<String>> = redis::cmd("GET")
                    .arg(&one.manual)
                    .query_async(&mut connection)
                    .await;
                if let Ok(Some(state)) = manual
                    && one.breaker.state().as_str() != state
                {
                    apply_manual(one.breaker, &state);
                }
                let left: redis::RedisResult<i64> = redis::cmd("PTTL")
                    .arg(&one.key)
                    .query_async(&mut connection)
                    .await;
                match left {
                    Ok(left) if left > 0 => {
                        let wait = Duration::from_millis(left.unsigned_abs());
                        adopting(|| one.breaker.adopt_open_for(wait));
                    }
                    // No key, and this replica is open: Redis lost it (restarted empty, or
                    // down when the trip was published). Published again.
                    Ok(_) => {
                        if let Some(wait) = one.breaker.open_remaining()
                            && wait > Duration::from_millis(1)
                        {
                            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                            let mut i = republish.prepare_invoke();
                            i.key(&one.key)
                                .key(&one.trips)
                                .arg(ms)
                                .arg(&one.channel)
                                .arg(id)
                                .arg(one.breaker.quorum());
                            let _ = i.invoke_async::<i64>(&mut connection).await;
                        }
                    }
                    Err(_) => {}
                }
            }
        });
        Ok(())
    }
}

/// `open <ms> <id>` or `closed <id>` from another process: adopted.
fn adopt_message(breaker: &CircuitBreaker, text: &str, own: u64) {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("open"), Some(ms), Some(from)) if from.parse() != Ok(own) => {
            if let Ok(ms) = ms.parse::<u64>() {
                adopting(|| breaker.adopt_open_for(Duration::from_millis(ms)));
            }
        }
        (Some("closed"), Some(from), None) if from.parse() != Ok(own) => {
            adopting(|| breaker.adopt_closed());
        }
        (Some("manual"), Some(state), Some(from)) if from.parse() != Ok(own) => {
            apply_manual(breaker, state);
        }
        _ => {}
    }
}
