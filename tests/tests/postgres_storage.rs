//! The PostgreSQL store passes the storage conformance suite, and handles what a shared database
//! brings: many silos migrating one schema at once, an unreachable server, a bad configuration.
//! The conformance tests need `GRAIN_POSTGRES_URL` (see `grain_tests::postgres`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use grain_runtime::{GrainId, GrainKind, PostgresConfig, Storage, StoreError};
use grain_tests::postgres::Scratch;
use grain_tests::storage_conformance;

macro_rules! conformance {
    ($($property:ident),* $(,)?) => {
        mod conformance {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let Some(scratch) = Scratch::new(stringify!($property)) else { return };
                    scratch
                        .run(storage_conformance::$property(async || scratch.open().await))
                        .await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_journal_entry_is_reported() {
                let Some(scratch) = Scratch::new("corrupt_journal_entry_is_reported") else { return };
                scratch
                    .run(storage_conformance::corrupt_journal_entry_is_reported(
                        async || scratch.open().await,
                        async |record| scratch.corrupt(&record).await,
                    ))
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_snapshot_is_reported() {
                let Some(scratch) = Scratch::new("corrupt_snapshot_is_reported") else { return };
                scratch
                    .run(storage_conformance::corrupt_snapshot_is_reported(
                        async || scratch.open().await,
                        async |record| scratch.corrupt(&record).await,
                    ))
                    .await;
            }
        }
    };
}

conformance![
    sequence_numbers_are_contiguous_from_one,
    appends_are_all_or_nothing,
    appends_at_the_wrong_seq_conflict,
    grains_never_see_each_others_records,
    last_seq_survives_pruning,
    prune_deletes_exactly_through_seq,
    latest_snapshot_has_the_highest_seq,
    saving_a_snapshot_again_replaces_it,
    snapshot_prune_deletes_those_before_seq,
    data_survives_reopening,
    concurrent_appends_to_many_grains_all_land,
    racing_appends_to_one_grain_have_one_winner,
    long_journal_streams_in_order,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silos_starting_at_once_migrate_the_schema_once() {
    let Some(scratch) = Scratch::new("silos_starting_at_once_migrate_the_schema_once") else {
        return;
    };
    scratch
        .run(async {
            let opened =
                futures::future::join_all((0..8).map(|_| Storage::postgres(scratch.config())))
                    .await;
            for storage in opened {
                storage.expect("every concurrent start succeeds");
            }
            let rows = scratch
                .client()
                .await
                .query(
                    &format!(
                        "SELECT version FROM {}.migrations ORDER BY version",
                        scratch.schema()
                    ),
                    &[],
                )
                .await
                .expect("reading the migrations");
            let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
            assert_eq!(versions, [1, 2], "each migration is recorded once");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_an_earlier_version_is_migrated_and_keeps_its_data() {
    let Some(scratch) =
        Scratch::new("a_store_from_an_earlier_version_is_migrated_and_keeps_its_data")
    else {
        return;
    };
    scratch
        .run(async {
            let grain = GrainId::new(GrainKind::from_static("test.Migrated"), "m");
            let storage = scratch.open().await;
            storage
                .journal()
                .append(&grain, 1, vec![b"one".to_vec()])
                .await
                .unwrap();
            drop(storage);
            // Back to version 1, as a store written before activation fences existed.
            scratch
                .client()
                .await
                .batch_execute(&format!(
                    "DROP TABLE {s}.activations; DELETE FROM {s}.migrations WHERE version = 2",
                    s = scratch.schema()
                ))
                .await
                .expect("rolling the schema back to version 1");
            let storage = scratch.open().await;
            storage
                .journal()
                .append(&grain, 2, vec![b"two".to_vec()])
                .await
                .expect("appending after the migration");
            let entries: Vec<Vec<u8>> = storage
                .journal()
                .read(&grain, 1)
                .map(|entry| entry.unwrap().payload)
                .collect()
                .await;
            assert_eq!(entries, [b"one".to_vec(), b"two".to_vec()]);
            let tables = scratch
                .client()
                .await
                .query(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'activations'",
                    &[&scratch.schema()],
                )
                .await
                .unwrap();
            assert_eq!(tables.len(), 1, "migration 2 created the activations table");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named_in_the_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://grain:hunter2@127.0.0.1:{port}/grain");
    let error = Storage::postgres(PostgresConfig::new(url))
        .await
        .expect_err("nothing listens there");
    let message = error.to_string();
    assert!(matches!(error, StoreError::Open { .. }), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let config = PostgresConfig::new(format!("postgres://grain@127.0.0.1:{port}/grain"))
        .connect_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = Storage::postgres(config)
        .await
        .expect_err("the server never answers");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    accepting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_before_connecting() {
    let error = Storage::postgres(PostgresConfig::new("postgres://h/d").schema("no-dashes"))
        .await
        .expect_err("the schema name is invalid");
    assert!(error.to_string().contains("invalid schema name"), "{error}");
    let error = Storage::postgres(PostgresConfig::new("postgres://h:notaport/d"))
        .await
        .expect_err("the URL is invalid");
    assert!(
        error.to_string().contains("invalid connection string"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_copies_into_postgres_with_its_history() {
    use futures::TryStreamExt as _;
    use grain_runtime::{GrainId, GrainKind, JournalEntry, Snapshot, copy_to_postgres};

    let Some(scratch) = Scratch::new("an_embedded_store_copies_into_postgres_with_its_history")
    else {
        return;
    };
    scratch
        .run(async {
            let dir = tempfile::tempdir().unwrap();
            let kind = GrainKind::from_static("Copied");
            let pruned = GrainId::new(kind.clone(), "pruned");
            let short = GrainId::new(kind, 7u64);
            let payload = |grain: &GrainId, seq: u64| format!("{grain} event {seq}").into_bytes();
            {
                let sled = Storage::sled(dir.path()).unwrap();
                let events = (1..=10).map(|seq| payload(&pruned, seq)).collect();
                sled.journal().append(&pruned, 1, events).await.unwrap();
                sled.journal().prune(&pruned, 3).await.unwrap();
                let snapshot = Snapshot {
                    seq: 5,
                    payload: b"state at 5".to_vec(),
                };
                sled.snapshots().save(&pruned, snapshot).await.unwrap();
                let events = (1..=2).map(|seq| payload(&short, seq)).collect();
                sled.journal().append(&short, 1, events).await.unwrap();
            }
            let sled = Storage::sled(dir.path()).unwrap();
            let report = copy_to_postgres(&sled, scratch.config()).await.unwrap();
            assert_eq!((report.copied, report.events, report.snapshots), (2, 9, 1));

            let postgres = scratch.open().await;
            assert_eq!(postgres.journal().last_seq(&pruned).await.unwrap(), 10);
            let entries: Vec<JournalEntry> = postgres
                .journal()
                .read(&pruned, 0)
                .try_collect()
                .await
                .unwrap();
            let expected: Vec<JournalEntry> = (4..=10)
                .map(|seq| JournalEntry {
                    seq,
                    payload: payload(&pruned, seq),
                })
                .collect();
            assert_eq!(entries, expected);
            let latest = postgres.snapshots().latest(&pruned).await.unwrap().unwrap();
            assert_eq!(
                (latest.seq, latest.payload.as_slice()),
                (5, &b"state at 5"[..])
            );
            postgres
                .journal()
                .append(&pruned, 11, vec![b"after the copy".to_vec()])
                .await
                .expect("appends carry on after the copied history");
            assert_eq!(postgres.journal().last_seq(&short).await.unwrap(), 2);

            let again = copy_to_postgres(&sled, scratch.config()).await;
            let error = again.expect_err("the database now holds a longer history of one grain");
            assert!(
                error.to_string().contains("nothing was overwritten"),
                "{error}"
            );
            let error = copy_to_postgres(&postgres, scratch.config())
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("only an embedded store"),
                "{error}"
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_drops_are_replaced() {
    use futures::TryStreamExt as _;
    use grain_runtime::{GrainId, GrainKind, JournalEntry};

    let Some(scratch) = Scratch::new("connections_the_server_drops_are_replaced") else {
        return;
    };
    scratch
        .run(async {
            let name = format!("test-{}", uuid::Uuid::new_v4().simple());
            let storage = Storage::postgres(scratch.config().application_name(&name))
                .await
                .unwrap();
            let journal = storage.journal();
            let grain = GrainId::new(GrainKind::from_static("Dropped"), "a");
            journal.append(&grain, 1, vec![b"1".to_vec()]).await.unwrap();

            let admin = scratch.client().await;
            let terminated = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .await
                .expect("terminating the store's connections");
            assert!(!terminated.is_empty(), "the store had no connection open");

            assert_eq!(
                journal.last_seq(&grain).await.expect("a read retries on a new connection"),
                1
            );
            // An append on a connection that broke under it fails rather than being retried
            // (it may have committed); the next ones get fresh connections.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut appended = 0;
            while appended < 5 {
                assert!(Instant::now() < deadline, "appends kept failing");
                let next = journal.last_seq(&grain).await.unwrap() + 1;
                match journal.append(&grain, next, vec![next.to_string().into_bytes()]).await {
                    Ok(()) => appended += 1,
                    Err(StoreError::Backend { message, .. }) => {
                        assert!(message.contains("appending"), "{message}");
                    }
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
            let last = journal.last_seq(&grain).await.unwrap();
            let entries: Vec<JournalEntry> = journal.read(&grain, 0).try_collect().await.unwrap();
            let expected: Vec<JournalEntry> = (1..=last)
                .map(|seq| JournalEntry { seq, payload: seq.to_string().into_bytes() })
                .collect();
            assert_eq!(entries, expected);
        })
        .await;
}

/// A TCP relay in front of the test server that can go away and come back on the same port:
/// what a store sees of a server restart (its connections break, new ones are refused, then
/// accepted again), without restarting the server the other tests share.
struct Relay {
    port: u16,
    upstream: String,
    serving: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<Mutex<Relayed>>,
}

/// The relay's connections, each copying both ways until one side closes.
type Relayed = tokio::task::JoinSet<std::io::Result<(u64, u64)>>;

impl Relay {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut relay = Self {
            port,
            upstream,
            serving: None,
            connections: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    /// Closes the port and every relayed connection, and returns once nothing more can reach
    /// the server through them.
    async fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = serving.await;
        }
        let mut connections = std::mem::take(&mut *self.connections.lock().unwrap());
        connections.shutdown().await;
    }

    /// Listens on the same port again.
    async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("listening on the relay's port again");
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (upstream, connections) = (self.upstream.clone(), Arc::clone(&self.connections));
        self.serving = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.lock().unwrap().spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(upstream).await?;
                    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_carries_on_after_the_server_restarts() {
    use futures::TryStreamExt as _;
    use grain_runtime::JournalEntry;
    use tokio_postgres::config::Host;

    let Some(scratch) = Scratch::new("the_store_carries_on_after_the_server_restarts") else {
        return;
    };
    let server: tokio_postgres::Config = scratch.url().parse().expect("parsing the server's URL");
    let (Some(Host::Tcp(host)), Some(port)) =
        (server.get_hosts().first(), server.get_ports().first())
    else {
        panic!(
            "{} must name a TCP host and port",
            grain_tests::postgres::URL_VAR
        );
    };
    let authority = format!("{host}:{port}");
    let mut relay = Relay::start(authority.clone()).await;
    let relayed = scratch
        .url()
        .replacen(&authority, &format!("127.0.0.1:{}", relay.port), 1);
    assert_ne!(relayed, scratch.url(), "the URL must spell out {authority}");

    scratch
        .run(async {
            let config = PostgresConfig::new(&relayed)
                .schema(scratch.schema())
                .connect_timeout(Duration::from_millis(500))
                .query_timeout(Duration::from_secs(2));
            let storage = Storage::postgres(config).await.unwrap();
            let journal = storage.journal();
            let grain = GrainId::new(GrainKind::from_static("Restarted"), "a");
            for seq in 1..=3u64 {
                journal
                    .append(&grain, seq, vec![seq.to_string().into_bytes()])
                    .await
                    .unwrap();
            }

            relay.stop().await;
            let started = Instant::now();
            let error = journal
                .append(&grain, 4, vec![b"lost".to_vec()])
                .await
                .expect_err("the server is down");
            assert!(matches!(error, StoreError::Backend { .. }), "{error}");
            assert!(error.to_string().contains("appending"), "{error}");
            let error = journal
                .last_seq(&grain)
                .await
                .expect_err("the server is down");
            assert!(matches!(error, StoreError::Backend { .. }), "{error}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "failing took {:?}",
                started.elapsed()
            );

            relay.resume().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut appended = 0;
            while appended < 3 {
                assert!(Instant::now() < deadline, "the store did not reconnect");
                let Ok(last) = journal.last_seq(&grain).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let next = last + 1;
                if journal
                    .append(&grain, next, vec![next.to_string().into_bytes()])
                    .await
                    .is_ok()
                {
                    appended += 1;
                }
            }

            let entries: Vec<JournalEntry> = journal.read(&grain, 0).try_collect().await.unwrap();
            let expected: Vec<JournalEntry> = (1..=6)
                .map(|seq| JournalEntry {
                    seq,
                    payload: seq.to_string().into_bytes(),
                })
                .collect();
            assert_eq!(
                entries, expected,
                "the append refused while down must not have landed"
            );
        })
        .await;
}
