//! Requests waiting for their replies, and their deadlines.
//!
//! A tokio timer per request costs about a microsecond of a round trip, and
//! so does any timer left pending in the runtime: every park then becomes a
//! timed `epoll_wait`. So request deadlines are kept off the runtime: each
//! client keeps its requests' deadlines in an ordered set, and one
//! process-wide clock thread sleeps until the earliest deadline of all
//! clients and fails what is due. A client tells the clock only when a
//! request is due earlier than what the clock already waits for, which with
//! a uniform timeout is once per timeout period, not once per request.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::wire::{Kind, peek_header};

/// How a request ended: the reply's body, or why there is none.
pub(super) type Outcome = Result<Bytes>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Entry {
    reply: oneshot::Sender<Outcome>,
    /// Whether its frame has been handed to the current connection.
    sent: bool,
    deadline: Instant,
    timeout: Duration,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// The deadline the clock will ring this client at.
    armed: Option<Instant>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.deadlines.remove(&(entry.deadline, id));
        Some(entry)
    }
}

/// One client's waiting requests.
pub(super) struct Waiting {
    table: Mutex<Table>,
    me: Weak<Waiting>,
}

impl Waiting {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            table: Mutex::default(),
            me: me.clone(),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    /// Whether deadlines are enforced by the clock thread (`false` only if
    /// it could not be started; callers then time requests themselves).
    pub fn clocked() -> bool {
        clock().is_some()
    }

    /// Registers request `id`, due within `timeout`; its outcome comes
    /// through the receiver.
    pub fn add(&self, id: u64, timeout: Duration) -> oneshot::Receiver<Outcome> {
        let (reply, outcome) = oneshot::channel();
        // A timeout too large to add is as good as none.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32));
        let mut table = self.table();
        table.entries.insert(
            id,
            Entry {
                reply,
                sent: false,
                deadline,
                timeout,
            },
        );
        table.deadlines.insert((deadline, id));
        if table.armed.is_none_or(|armed| deadline < armed) {
            table.armed = Some(deadline);
            drop(table);
            if let Some(clock) = clock() {
                clock.set(deadline, self.me.clone());
            }
        }
        outcome
    }

    /// Forgets request `id` (its caller stopped waiting).
    pub fn forget(&self, id: u64) {
        self.table().remove(id);
    }

    /// Completes request `id`, if it still waits.
    pub fn resolve(&self, id: u64, outcome: Outcome) {
        match self.table().remove(id) {
            Some(entry) => drop(entry.reply.send(outcome)),
            None => tracing::debug!(id, "a reply came for a request no longer waiting"),
        }
    }

    /// Marks the requests among `frames` as handed to the connection.
    pub fn mark_sent(&self, frames: &[Bytes]) {
        let mut requests = frames
            .iter()
            .filter_map(|f| peek_header(f))
            .filter(|(kind, _)| *kind == Kind::Request)
            .peekable();
        if requests.peek().is_none() {
            return;
        }
        let mut table = self.table();
        for (_, id) in requests {
            if let Some(entry) = table.entries.get_mut(&id) {
                entry.sent = true;
            }
        }
    }

    /// Marks a request frame put back in the queue as not sent.
    pub fn mark_unsent(&self, frame: &Bytes) {
        if let Some((Kind::Request, id)) = peek_header(frame) {
            if let Some(entry) = self.table().entries.get_mut(&id) {
                entry.sent = false;
            }
        }
    }

    /// Fails the requests whose frames went out on a connection now lost.
    pub fn fail_sent(&self) {
        let mut table = self.table();
        let lost: Vec<u64> = table
            .entries
            .iter()
            .filter(|(_, entry)| entry.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(entry) = table.remove(id) {
                let _ = entry.reply.send(Err(Error::ConnectionLost));
            }
        }
    }

    /// Fails every waiting request: the client has closed.
    pub fn fail_all(&self) {
        let mut table = self.table();
        table.deadlines.clear();
        table.armed = None;
        for (_, entry) in table.entries.drain() {
            let _ = entry.reply.send(Err(Error::Closed));
        }
    }

    /// The clock rings for `at`: fails the requests due by now and returns
    /// the next deadline to ring at. An alarm for a deadline no longer armed
    /// (an earlier one replaced it) does nothing.
    fn ring(&self, at: Instant) -> Option<Instant> {
        let mut table = self.table();
        if table.armed != Some(at) {
            return None;
        }
        let now = Instant::now();
        while let Some(&(deadline, id)) = table.deadlines.first() {
            if deadline > now {
                break;
            }
            if let Some(entry) = table.remove(id) {
                let _ = entry.reply.send(Err(Error::Timeout(entry.timeout)));
            }
        }
        table.armed = table.deadlines.first().map(|&(deadline, _)| deadline);
        table.armed
    }
}

/// A client to ring at a time.
struct Alarm {
    at: Instant,
    waiting: Weak<Waiting>,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Alarm {}

impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// The process-wide clock: alarms, soonest first, and its thread's wake-up.
#[derive(Default)]
struct Clock {
    alarms: Mutex<BinaryHeap<Reverse<Alarm>>>,
    changed: Condvar,
}

/// The clock, started on first use; `None` if its thread cannot start.
fn clock() -> Option<&'static Arc<Clock>> {
    static CLOCK: OnceLock<Option<Arc<Clock>>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let clock = Arc::new(Clock::default());
            let ticking = clock.clone();
            match std::thread::Builder::new()
                .name("pipeway-channel-deadlines".into())
                .spawn(move || ticking.run())
            {
                Ok(_) => Some(clock),
                Err(error) => {
                    tracing::warn!(%error, "no deadline thread: requests use tokio timers");
                    None
                }
            }
        })
        .as_ref()
}

impl Clock {
    /// Rings `waiting` at `at`.
    fn set(&self, at: Instant, waiting: Weak<Waiting>) {
        let mut alarms = lock(&self.alarms);
        let soonest = alarms.peek().is_none_or(|Reverse(first)| at < first.at);
        alarms.push(Reverse(Alarm { at, waiting }));
        drop(alarms);
        if soonest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut alarms = lock(&self.alarms);
        loop {
            let now = Instant::now();
            let wait = match alarms.peek() {
                Some(Reverse(first)) if first.at <= now => None,
                Some(Reverse(first)) => Some(first.at - now),
                None => Some(Duration::MAX),
            };
            match wait {
                None => {
                    let Some(Reverse(alarm)) = alarms.pop() else {
                        continue;
                    };
                    drop(alarms);
                    let next = alarm
                        .waiting
                        .upgrade()
                        .and_then(|waiting| waiting.ring(alarm.at));
                    alarms = lock(&self.alarms);
                    if let Some(at) = next {
                        alarms.push(Reverse(Alarm {
                            at,
                            waiting: alarm.waiting,
                        }));
                    }
                }
                Some(Duration::MAX) => {
                    alarms = self
                        .changed
                        .wait(alarms)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(wait) => {
                    alarms = self
                        .changed
                        .wait_timeout(alarms, wait)
                        .map(|(alarms, _)| alarms)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_fail_at_their_own_deadlines() {
        let waiting = Waiting::new();
        let slow = waiting.add(1, Duration::from_secs(60));
        let fast = waiting.add(2, Duration::from_millis(100));
        let answered = waiting.add(3, Duration::from_millis(50));
        waiting.resolve(3, Ok(Bytes::from_static(b"yes")));
        assert_eq!(&answered.await.unwrap().unwrap()[..], b"yes");

        match fast.await.unwrap() {
            Err(Error::Timeout(after)) => assert_eq!(after, Duration::from_millis(100)),
            other => panic!("{other:?}"),
        }
        // The 60 s request is still waiting: only its own deadline ends it.
        assert!(waiting.table().entries.contains_key(&1));
        waiting.fail_all();
        assert!(matches!(slow.await.unwrap(), Err(Error::Closed)));
        assert!(waiting.table().deadlines.is_empty());
    }

    #[tokio::test]
    async fn many_clients_share_the_clock() {
        let clients: Vec<_> = (0..50).map(|_| Waiting::new()).collect();
        let outcomes: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, w)| w.add(1, Duration::from_millis(10 + i as u64)))
            .collect();
        for outcome in outcomes {
            assert!(matches!(outcome.await.unwrap(), Err(Error::Timeout(_))));
        }
    }

    #[test]
    fn only_an_earlier_deadline_rearms_the_clock() {
        let waiting = Waiting::new();
        let _first = waiting.add(1, Duration::from_secs(30));
        let armed = waiting.table().armed;
        let _later = waiting.add(2, Duration::from_secs(31));
        assert_eq!(waiting.table().armed, armed);
        let _sooner = waiting.add(3, Duration::from_secs(1));
        assert!(waiting.table().armed < armed);
        // An alarm for the replaced deadline does nothing.
        assert_eq!(waiting.ring(armed.unwrap()), None);
        assert_eq!(waiting.table().entries.len(), 3);
    }
}
