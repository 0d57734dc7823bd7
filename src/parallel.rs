//! Ordered parallel map: rayon workers compute results, one caller-side sink receives
//! them in input order, in batches. At most `window` items are in flight or waiting to
//! be written, so memory stays bounded however many items there are.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rayon::ThreadPool;
use rayon::iter::{ParallelBridge, ParallelIterator};

/// Lets item `i` start only when fewer than `window` items before it are unwritten, and
/// no stop was asked for (by a failing sink, or from outside: Ctrl-C).
struct Gate<'a> {
    written: Mutex<usize>,
    moved: Condvar,
    stop: AtomicBool,
    outside: Option<&'a AtomicBool>,
    window: usize,
}

/// How often a gate waiting for the writer looks at the outside stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

impl Gate<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.outside.is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn admit(&self, index: usize) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        while index >= *written + self.window && !self.stopped() {
            written = self.moved.wait_timeout(written, STOP_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
        !self.stopped()
    }

    fn advance(&self, to: usize) {
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = to;
        self.moved.notify_all();
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.moved.notify_all();
    }
}

/// How long a ready result may wait for others to join its batch.
const BATCH_WAIT: Duration = Duration::from_millis(100);

/// Runs `work` on every item on `pool`, and hands the results to `sink` in input order,
/// in batches of at most `window`. A batch is handed over once it holds a quarter of the
/// window, once its first result has waited [`BATCH_WAIT`], or at the end: every batch
/// costs the writer a sync, so fast work is written in fewer, larger ones, and slow work
/// (RSA keys) is still written within a tenth of a second. If `sink` fails, no new item
/// starts and the error is returned once the items in flight have finished.
pub(crate) fn ordered_map<T, R, E, I, W, S>(
    pool: &ThreadPool,
    items: I,
    window: usize,
    work: W,
    sink: S,
) -> Result<(), E>
where
    T: Send,
    R: Send,
    I: Iterator<Item = T> + Send,
    W: Fn(T) -> R + Sync,
    S: FnMut(Vec<R>) -> Result<(), E>,
{
    ordered_map_until(pool, items, window, None, work, sink)
}

/// [`ordered_map`], where `stop` (set from outside, e.g. by a signal) also stops new items
/// from starting; the items in flight still finish and reach `sink`.
pub(crate) fn ordered_map_until<T, R, E, I, W, S>(
    pool: &ThreadPool,
    items: I,
    window: usize,
    stop: Option<&AtomicBool>,
    work: W,
    mut sink: S,
) -> Result<(), E>
where
    T: Send,
    R: Send,
    I: Iterator<Item = T> + Send,
    W: Fn(T) -> R + Sync,
    S: FnMut(Vec<R>) -> Result<(), E>,
{
    let window = window.max(1);
    let gate = Gate {
        written: Mutex::new(0),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
        outside: stop,
        window,
    };
    let (tx, rx) = sync_channel::<(usize, R)>(window);
    std::thread::scope(|scope| {
        let (gate, work) = (&gate, &work);
        scope.spawn(move || {
            pool.install(|| {
                items.enumerate().take_while(|(i, _)| gate.admit(*i)).par_bridge().for_each_with(
                    tx,
                    |tx, (i, item)| {
                        // A send fails only when the sink has stopped; the result is dropped.
                        let _ = tx.send((i, work(item)));
                    },
                );
            });
        });

        let min_batch = (window / 4).max(1);
        let mut pending = BTreeMap::new();
        let mut next = 0;
        let mut outcome = Ok(());
        let mut batch = Vec::new();
        let mut since: Option<Instant> = None;
        loop {
            let received = match since {
                Some(t) => rx.recv_timeout(BATCH_WAIT.saturating_sub(t.elapsed())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let done = matches!(received, Err(RecvTimeoutError::Disconnected));
            if let Ok((i, r)) = received {
                pending.insert(i, r);
                while let Ok((i, r)) = rx.try_recv() {
                    pending.insert(i, r);
                }
            }
            while let Some(r) = pending.remove(&next) {
                batch.push(r);
                next += 1;
            }
            if outcome.is_err() {
                batch.clear(); // the sink has failed: results are dropped unseen
            } else if !batch.is_empty() {
                let started = *since.get_or_insert_with(Instant::now);
                if done || batch.len() >= min_batch || started.elapsed() >= BATCH_WAIT {
                    since = None;
                    outcome = sink(std::mem::take(&mut batch));
                    if outcome.is_err() {
                        gate.halt();
                    } else {
                        gate.advance(next);
                    }
                }
            }
            if done {
                break;
            }
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
    }

    #[test]
    fn results_arrive_in_order_whatever_finishes_first() {
        let mut seen = Vec::new();
        let r: Result<(), ()> = ordered_map(
            &pool(4),
            0..200u64,
            8,
            |i| {
                std::thread::sleep(std::time::Duration::from_micros((200 - i) * 20));
                i * 2
            },
            |batch| {
                assert!(batch.len() <= 8);
                seen.extend(batch);
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert_eq!(seen, (0..200).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_stop_from_outside_lets_finished_work_land() {
        let stop = AtomicBool::new(false);
        let mut seen = Vec::new();
        let r: Result<(), ()> = ordered_map_until(
            &pool(2),
            0..100_000u64,
            8,
            Some(&stop),
            |i| {
                if i == 50 {
                    stop.store(true, Ordering::Relaxed);
                }
                i
            },
            |batch| {
                seen.extend(batch);
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert!(seen.len() >= 50 && seen.len() < 1000, "{}", seen.len());
        assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>(), "in order, none lost");
    }

    #[test]
    fn a_failing_sink_stops_new_work() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let r = ordered_map(
            &pool(2),
            0..10_000,
            4,
            |i| {
                started.fetch_add(1, Ordering::Relaxed);
                i
            },
            |batch| {
                if batch.contains(&10) { Err("stop") } else { Ok(()) }
            },
        );
        assert_eq!(r, Err("stop"));
        assert!(started.load(Ordering::Relaxed) < 100);
    }
}
