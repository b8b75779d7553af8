//! Password checks run argon2 (19 MiB, ~20 ms of one core each) on a few verifier threads of
//! their own, each reusing one working memory, behind a semaphore: a flood of logins queues
//! instead of exhausting memory, the async workers that answer checks are never blocked, and
//! memory stays at one argon2 buffer per verifier however many checks ran.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postern_core::password::{self, VerifierMemory};
use tokio::sync::{Semaphore, oneshot};

/// How long a login may wait for a free verifier before it is answered "busy".
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much nicer than the rest of the process the verifiers are: the proxy's checks come
/// before sign-ins (see `yield_to_checks`).
#[cfg(target_os = "linux")]
const VERIFIER_NICER_BY: i32 = 10;

#[derive(Debug, thiserror::Error)]
#[error("too many password checks in progress")]
pub struct Busy;

/// One password check, run on a verifier thread with that thread's memory.
type Job = Box<dyn FnOnce(&mut VerifierMemory) + Send>;

pub struct PasswordPool {
    permits: Arc<Semaphore>,
    verifiers: usize,
    jobs: Mutex<SyncSender<Job>>,
}

impl PasswordPool {
    pub fn new() -> Self {
        let verifiers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZeroUsize::get)
            .max(2);
        // The semaphore admits at most `verifiers` jobs at once, so the channel never fills.
        let (sender, receiver) = mpsc::sync_channel::<Job>(verifiers);
        let receiver = Arc::new(Mutex::new(receiver));
        for number in 0..verifiers {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("postern-verifier-{number}"))
                .spawn(move || verifier(&receiver));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password verifier thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(verifiers)),
            verifiers,
            jobs: Mutex::new(sender),
        }
    }

    /// Password checks and hashes holding a verifier now.
    pub fn in_flight(&self) -> usize {
        self.verifiers
            .saturating_sub(self.permits.available_permits())
    }

    /// Verifies `password` against `hash`; for unknown users pass `None` and a dummy hash of
    /// the same cost is checked, so the answer takes as long as for a wrong password.
    pub async fn verify(&self, hash: Option<String>, password: String) -> Result<bool, Busy> {
        let verified = self
            .run(move |memory| match hash {
                Some(hash) => password::verify_password_in(memory, &hash, password.as_bytes()),
                None => {
                    password::verify_password_in(
                        memory,
                        password::dummy_hash(),
                        password.as_bytes(),
                    );
                    false
                }
            })
            .await?;
        // A verifier that died mid-check counts as a failed check, never as success.
        Ok(verified.unwrap_or(false))
    }

    /// Hashes a new password (argon2id) on a verifier, behind the same semaphore.
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        self.run(move |_| password::hash_password(password.as_bytes()).ok())
            .await?
            .flatten()
            .ok_or(Busy)
    }

    /// Runs `work` on a verifier thread once a permit is free. `Ok(None)`: the verifier went
    /// away before answering.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut VerifierMemory) -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let (answer, answered) = oneshot::channel();
        // The job holds the permit, not this future: a request cancelled while its job waits
        // or runs (an HTTP/2 reset) must not free a place the job still takes, or the next
        // caller is admitted, finds the channel full and is answered busy at once.
        let job: Job = Box::new(move |memory| {
            let _held = permit;
            let _ = answer.send(work(memory));
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_send(job);
        if sent.is_err() {
            return Err(Busy);
        }
        Ok(answered.await.ok())
    }
}

/// A verifier thread: takes jobs until the pool is dropped. A panicking job ends only itself.
fn verifier(jobs: &Mutex<Receiver<Job>>) {
    yield_to_checks();
    let mut memory = VerifierMemory::default();
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
        if outcome.is_err() {
            // The memory may be half-written; argon2 overwrites it all on the next use.
            tracing::error!("a password check panicked; it counts as a failed check");
        }
    }
}

/// Lowers this verifier thread's CPU priority. A burst of sign-ins (wrong passwords included)
/// keeps every verifier busy for seconds; at the same priority they would take most of a
/// core from the async workers, and the proxy's checks, which every page load waits for,
/// would queue behind argon2. Ten nice levels below the workers, the scheduler gives the
/// workers about nine tenths of a contended core; idle cores still run the verifiers at full
/// speed. Relative, not absolute: a postern started at nice -5 keeps the same gap (an absolute
/// 10 would make it fifteen). Linux applies a thread id given to getpriority/setpriority to
/// that thread alone. Raising one's own nice value needs no privilege; a refusal only leaves
/// the process's priority.
fn yield_to_checks() {
    #[cfg(target_os = "linux")]
    {
        let thread = Some(rustix::thread::gettid());
        let nicer = rustix::process::getpriority_process(thread)
            .map(|nice| (nice + VERIFIER_NICER_BY).min(19))
            .and_then(|nice| rustix::process::setpriority_process(thread, nice));
        if let Err(err) = nicer {
            tracing::debug!(error = %err, "password verifier keeps the process's priority");
        }
    }
}

impl Default for PasswordPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Instant;

    use rustix::process::{Pid, getpriority_process};

    use super::*;

    /// The nice value of every verifier thread of this process (`comm` is cut to 15 bytes).
    fn verifier_nice_values() -> Vec<i32> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .filter_map(|task| {
                let path = task.ok()?.path();
                let name = std::fs::read_to_string(path.join("comm")).ok()?;
                let tid = path.file_name()?.to_str()?.parse::<i32>().ok()?;
                name.starts_with("postern-verifie")
                    .then(|| getpriority_process(Pid::from_raw(tid)).ok())
                    .flatten()
            })
            .collect()
    }

    /// A caller that goes away (a reset stream) leaves its job to finish: the job keeps its
    /// place until then, and the callers after it queue instead of being told busy.
    #[tokio::test]
    async fn a_cancelled_caller_s_job_keeps_its_place_until_it_is_done() {
        let pool = Arc::new(PasswordPool::new());
        let (started, mut running) = tokio::sync::mpsc::unbounded_channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        for _ in 0..pool.verifiers {
            let (started, released) = (started.clone(), Arc::clone(&released));
            let caller = tokio::spawn({
                let pool = Arc::clone(&pool);
                async move {
                    pool.run(move |_| {
                        let _ = started.send(());
                        let _ = released.lock().unwrap().recv();
                    })
                    .await
                }
            });
            running.recv().await.unwrap();
            caller.abort();
            let _ = caller.await;
        }
        assert_eq!(
            pool.in_flight(),
            pool.verifiers,
            "the cancelled jobs still run"
        );
        // A caller now waits for a place instead of finding the channel full.
        let waiting = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.run(|_| 7).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "answered before a verifier was free"
        );
        for _ in 0..pool.verifiers {
            release.send(()).unwrap();
        }
        assert_eq!(waiting.await.unwrap().unwrap(), Some(7));
    }

    #[test]
    fn verifiers_run_ten_nice_levels_below_the_process() {
        let own = getpriority_process(None).unwrap();
        let _pool = PasswordPool::new();
        let wanted = (own + VERIFIER_NICER_BY).min(19);
        // Each verifier lowers its own priority as it starts.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = verifier_nice_values();
            if !found.is_empty() && found.iter().all(|nice| *nice == wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "verifiers at {found:?}, wanted {wanted}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
