//! The workload of the crash test `acknowledged_events_survive_kill`.
//!
//! The `journal_writer` program opens a store and appends to [`GRAINS`] grains at once, one task
//! per grain, printing an [`Ack`] line for every append the journal acknowledged. The test kills
//! it with SIGKILL at a random moment, reopens the store and checks that every acknowledged event
//! is there.
//!
//! What a grain's journal holds is fixed by the grain and the sequence number alone: the payload
//! of each entry ([`payload`]) and how many events each append carries ([`events_in_append`]). So
//! the test can check a journal after a crash without knowing what the writer did, and the next
//! writer carries on from wherever the journal ends.

use std::convert::Infallible;
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use grain_runtime::{GrainId, GrainKind, Journal, Storage};
use tokio::task::JoinSet;

/// How many grains the writer appends to at once.
pub const GRAINS: u64 = 64;

/// The line the writer prints once the store is open, before its first append.
pub const READY: &str = "ready";

/// The grain with index `index` (`0..GRAINS`): even ones have integer keys, odd ones string keys.
pub fn grain(index: u64) -> GrainId {
    let kind = GrainKind::from_static("CrashTest");
    if index.is_multiple_of(2) {
        GrainId::new(kind, index)
    } else {
        GrainId::new(kind, format!("grain-{index}"))
    }
}

/// The payload of entry `seq` of grain `index`: its grain and sequence number in text, then
/// pseudo-random bytes, usually under 200 of them and now and then a few KiB.
pub fn payload(index: u64, seq: u64) -> Vec<u8> {
    let mut state = mix(index.rotate_left(32) ^ seq);
    let len = if state.is_multiple_of(64) {
        2048 + state % 6144
    } else {
        state % 200
    };
    let mut payload = format!("{index}:{seq}:").into_bytes();
    let header = payload.len();
    while payload.len() < header + len as usize {
        state = mix(state);
        payload.extend_from_slice(&state.to_le_bytes());
    }
    payload.truncate(header + len as usize);
    payload
}

/// How many events the append that starts at entry `first_seq` of grain `index` carries: usually
/// one, one time in eight from two to eight.
pub fn events_in_append(index: u64, first_seq: u64) -> u64 {
    let hash = mix(index ^ first_seq.rotate_left(17) ^ 0x5eed);
    if hash.is_multiple_of(8) {
        2 + (hash >> 8) % 7
    } else {
        1
    }
}

/// Whether the first `len` entries of grain `index` are whole appends: false if `len` falls
/// inside a multi-event append, which would mean that append was torn.
pub fn ends_an_append(index: u64, len: u64) -> bool {
    let mut end = 0;
    while end < len {
        end += events_in_append(index, end + 1);
    }
    end == len
}

/// Opens the store named `backend` (`"sled"` or `"redb"`) in `dir`.
///
/// # Errors
///
/// If the backend is unknown or the store cannot be opened.
pub fn open(backend: &str, dir: &Path) -> Result<Storage, String> {
    let storage = match backend {
        "sled" => Storage::sled(dir),
        "redb" => Storage::redb(dir),
        other => return Err(format!("unknown backend {other:?}, expected sled or redb")),
    };
    storage.map_err(|error| error.to_string())
}

/// One acknowledged append, printed as `ack <grain index> <first seq> <last seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The grain's index.
    pub grain: u64,
    /// The sequence number of the append's first event.
    pub first_seq: u64,
    /// The sequence number of the append's last event.
    pub last_seq: u64,
}

impl Ack {
    /// Parses a line printed by the writer, without its newline.
    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.strip_prefix("ack ")?.split(' ');
        let mut number = || words.next()?.parse().ok();
        let ack = Self {
            grain: number()?,
            first_seq: number()?,
            last_seq: number()?,
        };
        words.next().is_none().then_some(ack)
    }
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ack {} {} {}", self.grain, self.first_seq, self.last_seq)
    }
}

/// Prints [`READY`], then appends to every grain from wherever its journal ends, printing and
/// flushing an [`Ack`] line to stdout after each acknowledged append. Runs until the process is
/// killed.
///
/// # Errors
///
/// The first failure of any writer: a store error or a closed stdout.
pub async fn run(storage: Storage) -> Result<Infallible, String> {
    println!("{READY}");
    let mut writers = JoinSet::new();
    for index in 0..GRAINS {
        writers.spawn(append_forever(Arc::clone(storage.journal()), index));
    }
    match writers.join_next().await {
        Some(Ok(Err(error))) => Err(error),
        Some(Err(error)) => Err(format!("a writer task failed: {error}")),
        None => Err(String::from("no writer tasks")),
    }
}

async fn append_forever(journal: Arc<dyn Journal>, index: u64) -> Result<Infallible, String> {
    let grain = grain(index);
    let last = journal
        .last_seq(&grain)
        .await
        .map_err(|error| format!("reading the last sequence number of {grain}: {error}"))?;
    let mut next = last + 1;
    loop {
        let count = events_in_append(index, next);
        let events = (next..next + count)
            .map(|seq| payload(index, seq))
            .collect();
        journal
            .append(&grain, next, events)
            .await
            .map_err(|error| format!("appending to {grain} at {next}: {error}"))?;
        let ack = Ack {
            grain: index,
            first_seq: next,
            last_seq: next + count - 1,
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{ack}")
            .and_then(|()| stdout.flush())
            .map_err(|error| format!("printing {ack}: {error}"))?;
        next += count;
    }
}

/// SplitMix64's output function: a cheap, well-spread hash.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
