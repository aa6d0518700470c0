//! Calls that reach a grain while it recovers its state wait in its mailbox and run, in arrival
//! order, on the recovered state once recovery is done; if recovery fails, every waiting call
//! fails with the reason. Recovery is held open by a journal whose reads wait at a gate.

use grain_runtime::prelude::*;
use grain_runtime::{ActivationStatus, GrainKind, Silo, Storage};
use grain_tests::backend_tests;
use grain_tests::durable::{Backend, ControlledJournal, DataDir};
use grain_tests::{Gate, eventually};
use serde::{Deserialize, Serialize};

/// What happened to a [`Log`].
#[derive(Debug, Serialize, Deserialize)]
pub enum LogEvent {
    /// A line was appended.
    Appended(String),
}

/// An event-sourced list of lines.
#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Log {
    lines: Vec<String>,
}

impl EventSourced for Log {
    type Event = LogEvent;

    fn apply(&mut self, event: &LogEvent) {
        match event {
            LogEvent::Appended(line) => self.lines.push(line.clone()),
        }
    }
}

#[grain]
impl Log {
    /// Appends a line; returns its sequence number.
    pub async fn append(
        &mut self,
        ctx: &GrainContext<Self>,
        line: String,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, [LogEvent::Appended(line)]).await
    }

    /// Every line so far.
    pub async fn lines(&self) -> Vec<String> {
        self.lines.clone()
    }
}

async fn start(storage: Storage) -> Silo {
    grain_tests::silo()
        .storage(storage)
        .register::<Log>()
        .start()
        .await
        .unwrap()
}

/// Waits until `log`'s mailbox holds `n` calls, none of them taken yet.
async fn queued(silo: &Silo, log: &VirtualActorRef<Log>, n: usize) {
    eventually(&format!("{n} calls to be queued"), || {
        silo.activation_stats(log)
            .is_some_and(|stats| stats.mailbox_len == n)
    })
    .await;
    let stats = silo.activation_stats(log).unwrap();
    assert_eq!(stats.messages_handled, 0, "no call ran before recovery");
    assert_eq!(stats.status, ActivationStatus::Running);
}

/// Writes two lines with a plain silo, then restarts on a journal whose reads wait at a gate.
async fn restart_with_held_recovery(dir: &DataDir) -> (Silo, Gate) {
    let silo = start(dir.open()).await;
    let log = silo.grain::<Log>("l");
    for (seq, line) in (1..).zip(["old 1", "old 2"]) {
        assert_eq!(log.append(line.into()).await, Ok(Ok(seq)));
    }
    silo.shutdown().await;
    drop((log, silo));

    let (storage, journal) = ControlledJournal::wrap(&dir.open());
    let gate = journal.hold_reads();
    (start(storage).await, gate)
}

async fn calls_during_recovery_run_in_arrival_order(backend: Backend) {
    let dir = DataDir::new(backend);
    let (silo, gate) = restart_with_held_recovery(&dir).await;
    let log = silo.grain::<Log>("l");

    log.tell().append("a".into()).unwrap();
    gate.wait_for_arrivals(1).await;
    let b = tokio::spawn({
        let log = log.clone();
        async move { log.append("b".into()).await }
    });
    queued(&silo, &log, 2).await;
    log.tell().append("c".into()).unwrap();
    let seen = tokio::spawn({
        let log = log.clone();
        async move { log.lines().await }
    });
    queued(&silo, &log, 4).await;
    log.tell().append("d".into()).unwrap();
    queued(&silo, &log, 5).await;

    gate.open();
    assert_eq!(b.await.unwrap(), Ok(Ok(4)), "after old 1, old 2 and a");
    assert_eq!(
        seen.await.unwrap(),
        Ok(vec![
            "old 1".to_string(),
            "old 2".into(),
            "a".into(),
            "b".into(),
            "c".into()
        ])
    );
    assert_eq!(
        log.lines().await.unwrap().last().map(String::as_str),
        Some("d")
    );
    assert_eq!(silo.stats().activations, 1);
}

async fn calls_waiting_on_a_failed_recovery_all_fail(backend: Backend) {
    let dir = DataDir::new(backend);
    {
        let storage = dir.open();
        let log = GrainId::new(GrainKind::from_static("Log"), "l");
        let good = rmp_serde::to_vec_named(&LogEvent::Appended("fine".into())).unwrap();
        let bad = rmp_serde::to_vec_named(&"not a log event").unwrap();
        storage
            .journal()
            .append(&log, 1, vec![good, bad])
            .await
            .unwrap();
    }
    let (storage, journal) = ControlledJournal::wrap(&dir.open());
    let gate = journal.hold_reads();
    let silo = start(storage).await;
    let log = silo.grain::<Log>("l");

    let mut calls = Vec::new();
    for (n, line) in ["x", "y", "z"].into_iter().enumerate() {
        calls.push(tokio::spawn({
            let log = log.clone();
            async move { log.append(line.into()).await }
        }));
        if n == 0 {
            gate.wait_for_arrivals(1).await;
        } else {
            queued(&silo, &log, n + 1).await;
        }
    }
    log.tell().append("w".into()).unwrap();
    queued(&silo, &log, 4).await;

    gate.open();
    for call in calls {
        match call.await.unwrap() {
            Err(CallError::ActivationFailed { message, .. }) => {
                assert!(message.contains("event 2 of Log/\"l\""), "{message}");
            }
            other => panic!("expected ActivationFailed, got {other:?}"),
        }
    }
    assert_eq!(silo.stats().live_activations, 0);
}

backend_tests!(
    calls_during_recovery_run_in_arrival_order,
    calls_waiting_on_a_failed_recovery_all_fail,
);
