//! `silo` processes sharing one PostgreSQL schema: a killed silo's grains answer on the others
//! at once with their state, the cluster keeps its ids unique while silos come and go, and
//! `silo copy-to-postgres` moves a silo's embedded data into the database.
//!
//! Needs `GRAIN_POSTGRES_URL` (see `grain_tests::postgres`); without it each test says it was
//! skipped.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use grain_runtime::CallError;
use grain_tests::postgres::Scratch;
use ipseity::Namespace;

use crate::churn::ids_stay_unique_under_churn;
use crate::silos::{Cluster, Store, next_ids, owned_by, wait_for_view};

fn shared(scratch: &Scratch) -> Store {
    Store::Postgres {
        url: scratch.url().to_owned(),
        schema: scratch.schema().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_silos_grains_answer_elsewhere_at_once_with_their_state() {
    let Some(scratch) = Scratch::new("a_killed_silos_grains_answer_elsewhere_at_once") else {
        return;
    };
    scratch
        .run(async {
            let mut cluster = Cluster::start(3, shared(&scratch));
            let client = cluster.client().await;
            wait_for_view(&client, 3).await;
            let first = next_ids(&client, 0..1_000).await;
            assert!(first.iter().all(|&(_, id)| id == 1), "{first:?}");
            let on_2 = owned_by(&client, "silo-2", 0..1_000);
            assert!(on_2.len() > 100, "silo-2 owns {} of 1,000", on_2.len());

            cluster.kill(2);
            wait_for_view(&client, 2).await;
            for &key in &on_2 {
                let namespace = client.grain::<Namespace>(key);
                let mut answer = namespace.next_id().await;
                for _ in 0..100 {
                    match &answer {
                        Err(CallError::Unavailable { reason, .. })
                            if !reason.contains("which is down") =>
                        {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            answer = namespace.next_id().await;
                        }
                        _ => break,
                    }
                }
                match answer {
                    Ok(Ok(id)) => assert!(id > 1, "namespace {key} started over at {id}"),
                    other => panic!("namespace {key} of the killed silo answered {other:?}"),
                }
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_stay_unique_on_postgres_while_silos_join_leave_and_crash_under_load() {
    let Some(scratch) = Scratch::new("ids_stay_unique_on_postgres_under_churn") else {
        return;
    };
    scratch
        .run(ids_stay_unique_under_churn(shared(&scratch)))
        .await;
}

/// Runs `silo ... copy-to-postgres` on `dir` with `args` before the subcommand's own.
fn copy_to_postgres(dir: &Path, args: &[&str], from: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .args(["copy-to-postgres", "--from", from])
        .env_remove("SILO_CONFIG")
        .env_remove("SILO_POSTGRES_URL")
        .output()
        .expect("running copy-to-postgres")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_postgres_moves_a_stopped_silos_grains_into_the_database() {
    let Some(scratch) = Scratch::new("copy_to_postgres_moves_a_stopped_silos_grains") else {
        return;
    };
    scratch
        .run(async {
            let mut embedded = Cluster::start(1, Store::Embedded("sled"));
            let client = embedded.client().await;
            wait_for_view(&client, 1).await;
            let before = next_ids(&client, 0..100).await;
            assert!(before.iter().all(|&(_, id)| id == 1));
            drop(client);
            embedded.silos[0].take().expect("the silo runs").stop();

            let dir = embedded.data_dir(0);
            let target = [
                "--postgres-url",
                scratch.url(),
                "--postgres-schema",
                scratch.schema(),
            ];
            let copied = copy_to_postgres(&dir, &target, "sled");
            let stdout = text(&copied.stdout);
            assert!(copied.status.success(), "{}", text(&copied.stderr));
            assert!(stdout.starts_with("copied 100 grains ("), "{stdout}");
            assert!(stdout.contains(&dir.display().to_string()), "{stdout}");
            assert!(stdout.contains("; 0 were there already"), "{stdout}");
            assert!(
                !stdout.contains(":grain@"),
                "the password is shown: {stdout}"
            );

            let again = copy_to_postgres(&dir, &target, "sled");
            let stdout = text(&again.stdout);
            assert!(again.status.success(), "{}", text(&again.stderr));
            assert!(
                stdout.starts_with("copied 0 grains (0 events, 0 snapshots)"),
                "{stdout}"
            );
            assert!(stdout.contains("; 100 were there already"), "{stdout}");

            let on_postgres = Cluster::start(1, shared(&scratch));
            let client = on_postgres.client().await;
            wait_for_view(&client, 1).await;
            let after = next_ids(&client, 0..100).await;
            assert!(
                after.iter().all(|&(_, id)| id > 1),
                "ids continue after the copy: {after:?}"
            );
        })
        .await;
}

/// The checks come before connecting, so no server is needed: nothing listens on port 1.
#[test]
fn copy_to_postgres_refuses_bad_input_with_what_is_wrong() {
    let target = ["--postgres-url", "postgres://grain@127.0.0.1:1/grain"];
    let dir = tempfile::tempdir().expect("temp dir");

    let engine = copy_to_postgres(dir.path(), &target, "rocksdb");
    assert!(!engine.status.success());
    let stderr = text(&engine.stderr);
    assert!(stderr.contains("invalid --from \"rocksdb\""), "{stderr}");

    let missing = dir.path().join("no-such-silo");
    let empty = copy_to_postgres(&missing, &target, "redb");
    assert!(!empty.status.success());
    let stderr = text(&empty.stderr);
    assert!(stderr.contains("no redb store in"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(
        !missing.exists(),
        "the command created {}",
        missing.display()
    );

    let nowhere = copy_to_postgres(dir.path(), &[], "redb");
    assert!(!nowhere.status.success());
    let stderr = text(&nowhere.stderr);
    assert!(stderr.contains("set `postgres_url`"), "{stderr}");
}
