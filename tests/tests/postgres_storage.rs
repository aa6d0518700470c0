//! The PostgreSQL store passes the storage conformance suite, and handles what a shared database
//! brings: many silos migrating one schema at once, an unreachable server, a bad configuration.
//! The conformance tests need `GRAIN_POSTGRES_URL` (see `grain_tests::postgres`).

use std::time::{Duration, Instant};

use grain_runtime::{PostgresConfig, Storage, StoreError};
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
                    &format!("SELECT version FROM {}.migrations", scratch.schema()),
                    &[],
                )
                .await
                .expect("reading the migrations");
            let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
            assert_eq!(versions, [1], "each migration is recorded once");
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
