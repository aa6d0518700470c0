//! Acknowledged journal appends survive `kill -9`. A child process (`journal_writer`) appends to
//! 64 grains at once and prints each append the journal acknowledged; the test kills it with
//! SIGKILL at a random moment, reopens the store and checks every grain: each acknowledged entry
//! is there, the entries run from 1 without a gap, every payload is intact, no multi-event append
//! is torn, and the last sequence number matches the entries. The next round's child carries on
//! in the same directory, so recovery from a crash is exercised again and again, sometimes by
//! killing the child while it is still opening the store.
//!
//! `GRAIN_CRASH_ROUNDS` sets the rounds per backend (10 by default); the seed of the random kill
//! moments is printed, and `GRAIN_CRASH_SEED` replays it.

#![cfg(unix)]

use std::fmt;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt as _;
use grain_tests::journal_writer::{self, Ack, GRAINS, READY};

/// Rounds per backend unless `GRAIN_CRASH_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: u64 = 10;

/// How long a child may take to open the store before the test gives up on it.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The signal `Child::kill` sends on Unix.
const SIGKILL: i32 = 9;

#[test]
fn sled_acknowledged_events_survive_kill() {
    survive_kills("sled");
}

#[test]
fn redb_acknowledged_events_survive_kill() {
    survive_kills("redb");
}

fn survive_kills(backend: &str) {
    let rounds = env_u64("GRAIN_CRASH_ROUNDS").unwrap_or(DEFAULT_ROUNDS);
    let seed = env_u64("GRAIN_CRASH_SEED").unwrap_or_else(seed_from_clock);
    println!("{backend}: {rounds} rounds, GRAIN_CRASH_SEED={seed}");
    let mut rng = SplitMix64(seed);
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    // The highest sequence number acknowledged for each grain, over every round so far.
    let mut acknowledged = vec![0; GRAINS as usize];

    for round in 1..=rounds {
        let kill = KillMoment::random(&mut rng);
        let fail = |problems: &[String]| -> ! {
            panic!(
                "{backend}, round {round} of {rounds} (killed {kill}), GRAIN_CRASH_SEED={seed}:\n  {}",
                problems.join("\n  ")
            )
        };
        let run = run_and_kill(backend, dir.path(), kill).unwrap_or_else(|error| fail(&[error]));
        let mut problems = record_acks(&run.acks, &mut acknowledged);
        let checking = Instant::now();
        let held = runtime.block_on(check_journals(
            backend,
            dir.path(),
            &acknowledged,
            &mut problems,
        ));
        if !problems.is_empty() {
            fail(&problems);
        }
        let opened = run
            .ready_after
            .map_or_else(|| String::from("-"), |after| format!("{after:?}"));
        println!(
            "{backend} round {round}: killed {kill}, {} appends acknowledged, the journals hold \
             {held} entries (the writer opened the store in {opened}, checking took {:?})",
            run.acks.len(),
            checking.elapsed()
        );
    }
}

/// When a round kills its child.
#[derive(Debug, Clone, Copy)]
enum KillMoment {
    /// This long after starting it, maybe before it has opened the store.
    AfterStart(Duration),
    /// This long after it reported the store open.
    AfterReady(Duration),
}

impl KillMoment {
    /// One round in eight kills the child within 40 ms of starting it (while it is likely still
    /// recovering the store); the others let it append for up to 250 ms.
    fn random(rng: &mut SplitMix64) -> Self {
        if rng.below(8) == 0 {
            Self::AfterStart(Duration::from_millis(rng.below(40)))
        } else {
            Self::AfterReady(Duration::from_millis(rng.below(250)))
        }
    }
}

impl fmt::Display for KillMoment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AfterStart(delay) => write!(f, "{delay:?} after start"),
            Self::AfterReady(delay) => write!(f, "{delay:?} after ready"),
        }
    }
}

/// The writer child process, killed when dropped so that a failing test leaves none behind.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one killed writer did.
struct WriterRun {
    /// The appends it acknowledged.
    acks: Vec<Ack>,
    /// How long it took to open the store, if the test waited for that.
    ready_after: Option<Duration>,
}

/// Starts a writer on `dir` and kills it with SIGKILL at `kill`.
fn run_and_kill(backend: &str, dir: &Path, kill: KillMoment) -> Result<WriterRun, String> {
    let started = Instant::now();
    let mut writer = Writer(
        Command::new(env!("CARGO_BIN_EXE_journal_writer"))
            .arg(backend)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("starting journal_writer: {error}"))?,
    );
    let stdout = writer.0.stdout.take().expect("stdout is piped");
    let (sender, lines) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            // A line without its newline was cut off by the kill, so it is not an ack.
            match stdout.read_line(&mut line) {
                Ok(_) if line.ends_with('\n') => {
                    line.pop();
                    if sender.send(line).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });

    let mut received = Vec::new();
    let mut ready_after = None;
    match kill {
        KillMoment::AfterStart(delay) => thread::sleep(delay),
        KillMoment::AfterReady(delay) => {
            match lines.recv_timeout(STARTUP_TIMEOUT) {
                Ok(line) if line == READY => {}
                Ok(line) => return Err(format!("the writer printed {line:?} before {READY:?}")),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the writer did not open the store in {STARTUP_TIMEOUT:?}"
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the writer exited before opening the store: {}",
                        exit_report(&mut writer)
                    ));
                }
            }
            ready_after = Some(started.elapsed());
            received.push(String::from(READY));
            // The sleep is the point: the kill must land at an arbitrary moment of the writing.
            thread::sleep(delay);
        }
    }
    // On Unix `Child::kill` sends SIGKILL.
    writer
        .0
        .kill()
        .map_err(|error| format!("killing the writer: {error}"))?;
    let status = writer
        .0
        .wait()
        .map_err(|error| format!("waiting for the writer: {error}"))?;
    if status.signal() != Some(SIGKILL) {
        return Err(format!(
            "the writer exited before it was killed: {}",
            exit_report(&mut writer)
        ));
    }
    reader.join().expect("the stdout reader panicked");
    received.extend(lines.try_iter());

    let mut acks = Vec::new();
    for (i, line) in received.iter().enumerate() {
        if i == 0 && line == READY {
            continue;
        }
        acks.push(Ack::parse(line).ok_or_else(|| format!("the writer printed {line:?}"))?);
    }
    Ok(WriterRun { acks, ready_after })
}

/// The exit status and stderr of a writer that has exited or is about to.
fn exit_report(writer: &mut Writer) -> String {
    let status = writer.0.wait().map_or_else(
        |error| error.to_string(),
        |status: ExitStatus| status.to_string(),
    );
    let mut stderr = String::new();
    if let Some(mut pipe) = writer.0.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    format!("{status}, stderr: {stderr}")
}

/// Adds one round's acks to `acknowledged`; reports acks of one grain that are not consecutive.
fn record_acks(acks: &[Ack], acknowledged: &mut [u64]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last_this_round: Vec<Option<u64>> = vec![None; acknowledged.len()];
    for ack in acks {
        let Some(last) = last_this_round.get_mut(ack.grain as usize) else {
            problems.push(format!("an ack for an unknown grain: {ack}"));
            continue;
        };
        let expected_first = last.map_or(ack.first_seq, |last| last + 1);
        if ack.first_seq != expected_first || ack.last_seq < ack.first_seq {
            problems.push(format!(
                "{ack} does not follow the grain's previous ack ({last:?})"
            ));
        }
        *last = Some(ack.last_seq);
        let highest = &mut acknowledged[ack.grain as usize];
        *highest = (*highest).max(ack.last_seq);
    }
    problems
}

/// Reopens the store and checks every grain's journal against what was acknowledged, adding
/// what is wrong to `problems`. Returns how many entries the journals hold. The store is closed
/// again when this returns.
async fn check_journals(
    backend: &str,
    dir: &Path,
    acknowledged: &[u64],
    problems: &mut Vec<String>,
) -> u64 {
    let storage = match journal_writer::open(backend, dir) {
        Ok(storage) => storage,
        Err(error) => {
            problems.push(format!("reopening the store after the kill: {error}"));
            return 0;
        }
    };
    let journal = storage.journal();
    let mut held_total = 0;
    for (index, &acked) in (0..GRAINS).zip(acknowledged) {
        let grain = journal_writer::grain(index);
        let mut entries = journal.read(&grain, 1);
        let mut held = 0;
        while let Some(entry) = entries.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    problems.push(format!("{grain}: reading entry {}: {error}", held + 1));
                    break;
                }
            };
            if entry.seq != held + 1 {
                problems.push(format!(
                    "{grain}: entry {} follows entry {held}; entries {}..={} are missing",
                    entry.seq,
                    held + 1,
                    entry.seq - 1
                ));
                break;
            }
            if entry.payload != journal_writer::payload(index, entry.seq) {
                problems.push(format!(
                    "{grain}: entry {} has the wrong payload ({} bytes)",
                    entry.seq,
                    entry.payload.len()
                ));
            }
            held = entry.seq;
        }
        held_total += held;

        if held < acked {
            problems.push(format!(
                "{grain}: LOST acknowledged events: acknowledged through {acked}, but the entries end at {held}"
            ));
        }
        if !journal_writer::ends_an_append(index, held) {
            problems.push(format!(
                "{grain}: the entries end at {held}, inside a multi-event append"
            ));
        }
        match journal.last_seq(&grain).await {
            Ok(last) if last != held => {
                problems.push(format!(
                    "{grain}: last_seq is {last}, but the entries end at {held}"
                ));
            }
            Ok(_) => {}
            Err(error) => problems.push(format!("{grain}: last_seq: {error}")),
        }
    }
    held_total
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|error| panic!("{name}={value:?} is not a number: {error}")),
    )
}

fn seed_from_clock() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_secs()
        ^ u64::from(since_epoch.subsec_nanos())
        ^ (u64::from(std::process::id()) << 32)
}

/// SplitMix64: a tiny seeded random number generator, enough for kill moments.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
