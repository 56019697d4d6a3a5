//! Statements of one kind and key (a tenant's reads by id on PostgreSQL, a tenant's creates)
//! that meet on their way to the database go together, as one statement (on SQLite, one
//! transaction).
//!
//! One that arrives while fewer than `most_in_flight` of its kind and key are on their way
//! goes at once, alone, as it always did ([`Joined::Alone`]): one that meets no other waits
//! for nothing. One that arrives while that many are on their way waits, with every other
//! that arrives meanwhile, and when one of those places comes back they go as one statement
//! ([`Together::send`]); those that still arrive meanwhile go in the next.
//!
//! A place comes back when its statement is done: it is then handed to a task of its own
//! that sends the ones waiting, so that a request given up (its client gone) never strands
//! those that waited behind it. One whose statement failed, or whose task ended without
//! answering, is [`Joined::Unanswered`]: it runs alone, and its caller reports what that
//! finds.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// A kind of statement that may go together: what a queue is keyed by, what each member
/// brings and gets back, and how a batch is sent.
pub trait Together: Send + Sync + 'static {
    type Key: Copy + Eq + Hash + Send + Sync + 'static;
    type Item: Send + 'static;
    type Answer: Send + 'static;

    /// Whether `a` and `b` may not go in the same statement (the later waits for the next).
    fn clash(a: &Self::Item, b: &Self::Item) -> bool;

    /// Sends `items` as one statement: each one's answer, in their order, or `None` when the
    /// statement failed (each then runs alone).
    fn send(
        &self,
        key: Self::Key,
        items: &[Self::Item],
    ) -> impl Future<Output = Option<Vec<Self::Answer>>> + Send;
}

/// The members waiting, per key, for a kind of statement, and the counts `/metrics` shows.
pub struct Queues<T: Together> {
    together: T,
    queues: Mutex<HashMap<T::Key, Queue<T>>>,
    most_in_flight: usize,
    most_per_statement: usize,
    members: AtomicU64,
    statements: AtomicU64,
}

struct Queue<T: Together> {
    waiting: Vec<Waiter<T>>,
    in_flight: usize,
}

impl<T: Together> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            waiting: Vec::new(),
            in_flight: 0,
        }
    }
}

/// A member waiting for its statement, and where its answer goes.
struct Waiter<T: Together> {
    item: T::Item,
    answer: oneshot::Sender<T::Answer>,
}

/// How many went together, in how many statements that answered, since start (those alone
/// are not counted, nor those of a statement that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub members: u64,
    pub statements: u64,
}

/// What a member that joined the others is to do.
pub(crate) enum Joined<T: Together> {
    /// Go alone now; the place is given back, or handed to those that waited meanwhile, when
    /// it is dropped.
    Alone(InFlight<T>),
    /// Its answer from the statement it went in.
    Answered(T::Answer),
    /// Its statement failed, or the task sending it ended first: go alone, and report what
    /// that finds.
    Unanswered,
}

impl<T: Together> fmt::Debug for Queues<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues")
            .field("keys", &self.lock().len())
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl<T: Together> Queues<T> {
    /// At most `most_in_flight` statements of one key on their way at once, each of at most
    /// `most_per_statement` members.
    pub(crate) fn new(together: T, most_in_flight: usize, most_per_statement: usize) -> Self {
        Queues {
            together,
            queues: Mutex::default(),
            most_in_flight,
            most_per_statement,
            members: AtomicU64::new(0),
            statements: AtomicU64::new(0),
        }
    }

    pub(crate) fn together(&self) -> &T {
        &self.together
    }

    /// Joins the statements of `key`: [`Joined::Alone`] when fewer than `most_in_flight` are
    /// on their way (the caller goes alone, holding a place until it is done), otherwise the
    /// answer of the statement the member `item()` makes went in.
    pub(crate) async fn join(
        self: &Arc<Self>,
        key: T::Key,
        item: impl FnOnce() -> T::Item,
    ) -> Joined<T> {
        let answered = {
            let mut queues = self.lock();
            let queue = queues.entry(key).or_default();
            if queue.in_flight < self.most_in_flight {
                queue.in_flight += 1;
                return Joined::Alone(InFlight {
                    queues: Arc::clone(self),
                    key,
                    may_hand_over: true,
                });
            }
            let (answer, answered) = oneshot::channel();
            queue.waiting.push(Waiter {
                item: item(),
                answer,
            });
            answered
        };
        match answered.await {
            Ok(answer) => Joined::Answered(answer),
            Err(_) => Joined::Unanswered,
        }
    }

    /// Members and statements so far.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            members: self.members.load(Ordering::Relaxed),
            statements: self.statements.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<T::Key, Queue<T>>> {
        // Every change to the map is whole before the lock is let go: a push, a take.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A place among the statements of one key on their way.
pub(crate) struct InFlight<T: Together> {
    queues: Arc<Queues<T>>,
    key: T::Key,
    /// Whether dropping it may hand it to a new task. Not before its own task ran: a
    /// runtime shutting down drops a task as it is spawned, and handing the place over again
    /// from that drop would never end.
    may_hand_over: bool,
}

impl<T: Together> InFlight<T> {
    /// Sends the members waiting, as many statements as it takes for none to wait.
    async fn send_waiting(mut self) {
        self.may_hand_over = true;
        while let Some(batch) = self.take_waiting() {
            let (items, answers): (Vec<T::Item>, Vec<_>) =
                batch.into_iter().map(|w| (w.item, w.answer)).unzip();
            // A failed statement drops the batch: its members go alone and report their
            // error.
            let Some(answered) = self.queues.together.send(self.key, &items).await else {
                continue;
            };
            if answered.len() != answers.len() {
                continue;
            }
            self.queues.statements.fetch_add(1, Ordering::Relaxed);
            self.queues
                .members
                .fetch_add(items.len() as u64, Ordering::Relaxed);
            for (to, answer) in answers.into_iter().zip(answered) {
                // A caller that gave up no longer listens.
                let _ = to.send(answer);
            }
        }
    }

    /// The next members to send (one that clashes with one of them waits for the next
    /// statement);
    /// `None` when none waits.
    fn take_waiting(&self) -> Option<Vec<Waiter<T>>> {
        let mut queues = self.queues.lock();
        let queue = queues.get_mut(&self.key)?;
        if queue.waiting.is_empty() {
            return None;
        }
        let mut batch: Vec<Waiter<T>> = Vec::new();
        let mut later = Vec::new();
        for waiter in queue.waiting.drain(..) {
            if batch.len() < self.queues.most_per_statement
                && batch.iter().all(|w| !T::clash(&w.item, &waiter.item))
            {
                batch.push(waiter);
            } else {
                later.push(waiter);
            }
        }
        queue.waiting = later;
        Some(batch)
    }
}

impl<T: Together> Drop for InFlight<T> {
    /// Hands the place to a task sending the members that wait, if any (one that arrives
    /// once the lock is let go finds the place taken and waits for that task); otherwise
    /// gives it back. Without a runtime to run that task (shutting down), the members that
    /// wait are dropped with the last place, and their callers go alone.
    fn drop(&mut self) {
        let mut queues = self.queues.lock();
        let Some(queue) = queues.get_mut(&self.key) else {
            return;
        };
        if self.may_hand_over
            && !queue.waiting.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            drop(queues);
            let next = InFlight {
                queues: Arc::clone(&self.queues),
                key: self.key,
                may_hand_over: false,
            };
            runtime.spawn(next.send_waiting());
            return;
        }
        queue.in_flight -= 1;
        if queue.in_flight == 0 {
            queues.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statements that never come back, keyed by a number.
    struct Unanswered;

    impl Together for Unanswered {
        type Key = u8;
        type Item = u8;
        type Answer = ();

        fn clash(a: &u8, b: &u8) -> bool {
            a == b
        }

        async fn send(&self, _: u8, _: &[u8]) -> Option<Vec<()>> {
            std::future::pending().await
        }
    }

    /// Statements that answer each member with its own item, or fail.
    struct Echo {
        fail: bool,
    }

    impl Together for Echo {
        type Key = u8;
        type Item = u32;
        type Answer = u32;

        fn clash(a: &u32, b: &u32) -> bool {
            a == b
        }

        async fn send(&self, _: u8, items: &[u32]) -> Option<Vec<u32>> {
            (!self.fail).then(|| items.to_vec())
        }
    }

    /// Members that wait behind the places taken go when one comes back: each with its own
    /// answer, two that clash in statements of their own; all unanswered when it fails.
    async fn members_waiting(fail: bool) -> (Vec<(u32, Option<u32>)>, Counts) {
        let queues = Arc::new(Queues::new(Echo { fail }, 2, 8));
        let mut places = Vec::new();
        for item in [100, 101] {
            let Joined::Alone(place) = queues.join(1, || item).await else {
                panic!("one that meets none goes alone");
            };
            places.push(place);
        }
        let items = [1, 2, 3, 2, 4];
        let mut tasks = tokio::task::JoinSet::new();
        for item in items {
            let queues = Arc::clone(&queues);
            tasks.spawn(async move {
                let answer = match queues.join(1, || item).await {
                    Joined::Answered(answer) => Some(answer),
                    Joined::Unanswered => None,
                    Joined::Alone(_) => panic!("both places are taken"),
                };
                (item, answer)
            });
        }
        while queues.lock().get(&1).map_or(0, |q| q.waiting.len()) < items.len() {
            tokio::task::yield_now().await;
        }
        drop(places);
        let mut answers = Vec::new();
        while let Some(done) = tasks.join_next().await {
            answers.push(done.unwrap());
        }
        answers.sort();
        assert!(queues.lock().is_empty(), "every place given back");
        (answers, queues.counts())
    }

    #[tokio::test]
    async fn members_that_wait_get_their_own_answers() {
        let (answers, counts) = members_waiting(false).await;
        let wanted: Vec<_> = [1, 2, 2, 3, 4].into_iter().map(|i| (i, Some(i))).collect();
        assert_eq!(answers, wanted);
        assert_eq!(
            counts,
            Counts {
                members: 5,
                statements: 2
            }
        );
        let (answers, counts) = members_waiting(true).await;
        assert!(answers.iter().all(|(_, a)| a.is_none()), "{answers:?}");
        assert_eq!(counts.members, 0);
    }

    /// A runtime shutting down drops its tasks, and a task spawned then is dropped as it is
    /// spawned: the places held, and the members that waited for them, must all be let go,
    /// without a place handed from one dropped task to the next for ever.
    #[test]
    fn places_are_let_go_when_the_runtime_shuts_down() {
        const MOST_IN_FLIGHT: usize = 2;
        let queues = Arc::new(Queues::new(Unanswered, MOST_IN_FLIGHT, 8));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut places = Vec::new();
            for _ in 0..MOST_IN_FLIGHT {
                let Joined::Alone(place) = queues.join(1, || 7).await else {
                    panic!("one that meets none goes alone");
                };
                places.push(place);
            }
            let waiting = Arc::clone(&queues);
            tokio::spawn(async move { waiting.join(1, || 7).await });
            while queues.lock().values().all(|q| q.waiting.is_empty()) {
                tokio::task::yield_now().await;
            }
            // Statements that never finish: their places are dropped with the runtime.
            tokio::spawn(async move {
                let _held = places;
                std::future::pending::<()>().await
            });
        });
        drop(runtime);
        assert!(queues.lock().is_empty(), "every place given back");
    }
}
