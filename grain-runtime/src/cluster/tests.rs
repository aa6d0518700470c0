//! Calls between two silos over real TCP on 127.0.0.1, with directories set by hand so that the
//! routing and transport are tested apart from membership.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Directory, Member};
use crate::prelude::*;
use crate::testing::TestCluster;
use crate::{CallError, ClusterConfig, GrainId, GrainKind, PersistError, Silo, Storage};

#[grain]
#[derive(Default)]
struct Tally {
    total: u64,
}

#[grain]
impl Tally {
    pub(crate) async fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }

    pub(crate) async fn echo(&self, text: String, times: usize) -> String {
        text.repeat(times)
    }

    pub(crate) async fn fail(&self) -> u64 {
        panic!("tally refused")
    }

    pub(crate) async fn slow(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

/// A counter whose deactivation takes a while.
#[grain]
#[derive(Default)]
struct SlowToLeave {
    value: u64,
}

#[grain]
impl SlowToLeave {
    pub(crate) async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    async fn on_deactivate(&mut self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A counter saved whole after every change, so that its state has a holder in the cluster.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    value: u64,
}

#[grain]
impl Saved {
    pub(crate) async fn add(
        &mut self,
        ctx: &GrainContext<Self>,
        n: u64,
    ) -> Result<u64, PersistError> {
        self.value += n;
        ctx.save(self).await?;
        Ok(self.value)
    }
}

async fn silo(name: &str) -> Silo {
    Silo::builder()
        .register::<Tally>()
        .register::<SlowToLeave>()
        .cluster(ClusterConfig::new(name).cluster("isolated"))
        .start()
        .await
        .unwrap()
}

fn member(silo: &Silo, name: &str) -> Member {
    Member {
        name: name.to_string(),
        address: silo.address().unwrap(),
    }
}

/// Two silos that do not gossip with each other, so that each routes by the directory it is
/// given by hand.
async fn isolated_pair() -> (Silo, Silo) {
    (silo("a").await, silo("b").await)
}

/// Two silos that found each other through membership.
async fn pair() -> TestCluster {
    TestCluster::start(2, |_, silo| silo.register::<Tally>())
        .await
        .unwrap()
}

/// A key of a grain that silo `on` owns.
fn owned_by(cluster: &TestCluster, on: usize) -> u64 {
    let router = cluster.silo(0).router().unwrap();
    let name = TestCluster::silo_name(on);
    (0..1000u64)
        .find(|&key| {
            let id = GrainId::new(GrainKind::from_static("Tally"), key);
            router
                .directory()
                .place(&id)
                .1
                .is_some_and(|m| m.name == name)
        })
        .unwrap()
}

fn live(silo: &Silo) -> usize {
    silo.stats().live_activations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_on_the_owner_whichever_silo_makes_them() {
    let cluster = pair().await;
    let (a, b) = (cluster.silo(0), cluster.silo(1));
    for key in 0..200u64 {
        assert_eq!(a.grain::<Tally>(key).add(key).await.unwrap(), key);
        assert_eq!(b.grain::<Tally>(key).add(1).await.unwrap(), key + 1);
    }
    let (on_a, on_b) = (live(a), live(b));
    assert_eq!(on_a + on_b, 200, "each grain has one activation");
    assert!(on_a > 50 && on_b > 50, "a holds {on_a}, b holds {on_b}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_replies_and_faults_cross_the_wire() {
    let cluster = pair().await;
    let remote = cluster.silo(0).grain::<Tally>(owned_by(&cluster, 1));
    assert_eq!(remote.echo("ab".into(), 3).await.unwrap(), "ababab");
    let error = remote.fail().await.unwrap_err();
    assert!(
        matches!(&error, CallError::Panicked { message, .. } if message == "tally refused"),
        "{error}"
    );
    let error = remote
        .slow(400)
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Timeout { .. }), "{error}");
    remote.tell().add(5).unwrap();
    assert_eq!(
        remote.add(0).await.unwrap(),
        5,
        "a tell sent before an ask ran first"
    );
    assert_eq!(live(cluster.silo(0)), 0, "the grain never ran on silo 0");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_stale_owner_is_forwarded_once() {
    let (a, b) = isolated_pair().await;
    b.router()
        .unwrap()
        .set_directory(Directory::new(1, vec![member(&a, "a"), member(&b, "b")]));
    // `a` still believes it is alone; `b` knows both. Calls made on `b` for grains that `b`
    // thinks `a` owns all run on `a`; calls made on `a` for grains `b` owns by `b`'s view run
    // on `a` too, since `a` places everything on itself.
    a.router()
        .unwrap()
        .set_directory(Directory::new(1, vec![member(&a, "a")]));
    for key in 0..100u64 {
        b.grain::<Tally>(key).add(1).await.unwrap();
    }
    assert_eq!(live(&a), 100 - live(&b));
    // Now `a` knows both but `b` believes `a` is alone: `b` owns nothing by its view, so calls
    // that land on it are forwarded to `a`, which runs the ones it owns and refuses the ones
    // that bounce back. A refused call is sent again until its deadline is near; these views
    // never converge, so the caller is told.
    a.router()
        .unwrap()
        .set_directory(Directory::new(2, vec![member(&a, "a"), member(&b, "b")]));
    b.router()
        .unwrap()
        .set_directory(Directory::new(2, vec![member(&a, "a")]));
    let mut refused = 0;
    for key in 0..40u64 {
        let started = std::time::Instant::now();
        match a
            .grain::<Tally>(key)
            .add(1)
            .timeout(Duration::from_millis(200))
            .await
        {
            Ok(_) => {}
            Err(CallError::Unavailable { reason, .. }) => {
                assert!(reason.contains("the views are settling"), "{reason}");
                assert!(
                    started.elapsed() >= Duration::from_millis(50),
                    "a refused call is sent again while its deadline allows"
                );
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        refused > 0,
        "some calls bounced between the disagreeing silos"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silo_learns_the_owner_from_a_forwarded_call_and_drops_it_when_it_moves_on() {
    let (a, b) = isolated_pair().await;
    let c = silo("c").await;
    let (ma, mb, mc) = (member(&a, "a"), member(&b, "b"), member(&c, "c"));
    let stale = Directory::new(1, vec![ma.clone(), mb.clone()]);
    let full = || Directory::new(1, vec![ma.clone(), mb.clone(), mc.clone()]);
    a.router().unwrap().set_directory(stale);
    b.router().unwrap().set_directory(full());
    c.router().unwrap().set_directory(full());
    let key = (0..1000u64)
        .find(|&key| {
            let id = GrainId::new(GrainKind::from_static("Tally"), key);
            a.router().unwrap().directory().place(&id).1 == Some(&mb)
                && b.router().unwrap().directory().place(&id).1 == Some(&mc)
        })
        .unwrap();
    let grain = a.grain::<Tally>(key);
    let forwarded = |silo: &Silo| silo.stats().forwarded;

    assert_eq!(grain.add(1).await.unwrap(), 1);
    assert_eq!(forwarded(&b), 1, "b passed the first call on to c");
    assert_eq!(grain.add(1).await.unwrap(), 2);
    assert_eq!(forwarded(&b), 1, "a sent the second call straight to c");
    assert_eq!(live(&c), 1);

    // Now b and c agree that b owns the grain: c, still a's learned owner, forwards the next
    // call to b, and a follows its own view again, which names b.
    c.router()
        .unwrap()
        .set_directory(Directory::new(2, vec![ma.clone(), mb.clone()]));
    b.router()
        .unwrap()
        .set_directory(Directory::new(2, vec![ma, mb]));
    assert_eq!(grain.add(1).await.unwrap(), 1, "a new activation on b");
    assert_eq!(forwarded(&c), 1, "c passed the call on to b");
    assert_eq!(grain.add(1).await.unwrap(), 2);
    assert_eq!(forwarded(&c), 1, "a dropped c and sent the call to b");
    assert_eq!((forwarded(&a), forwarded(&b)), (0, 1));
    for silo in [a, b, c] {
        silo.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_crashed_silo_fails_at_once_then_it_leaves_the_view() {
    let mut cluster = pair().await;
    let key = owned_by(&cluster, 1);
    let remote = cluster.silo(0).grain::<Tally>(key);
    remote.add(1).await.unwrap();
    cluster.crash(1);
    let started = std::time::Instant::now();
    let error = remote.add(1).await.unwrap_err();
    // Unavailable if the call found the connection closed, Interrupted if it was sent first.
    assert!(
        matches!(
            error,
            CallError::Unavailable { .. } | CallError::Interrupted { .. }
        ),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failed after {:?}",
        started.elapsed()
    );
    cluster.settle().await.unwrap();
    assert_eq!(
        remote.add(1).await.unwrap(),
        1,
        "re-activated on the survivor"
    );
    cluster.shutdown().await;
}

/// Connects to `silo` and sends `bytes`; returns the frames it answered before closing.
async fn answers_to(silo: &Silo, bytes: &[u8]) -> Vec<crate::transport::frame::Head> {
    use futures::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(silo.address().unwrap())
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let codec = crate::transport::frame::FrameCodec::new(1 << 20);
    let mut frames = tokio_util::codec::FramedRead::new(stream, codec);
    let mut heads = Vec::new();
    let read_all = async {
        while let Some(Ok(frame)) = frames.next().await {
            heads.push(frame.head);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read_all)
        .await
        .expect("the silo closes a connection that misbehaves");
    heads
}

fn frame(head: &crate::transport::frame::Head, payload: &[u8]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    crate::transport::frame::encode(head, payload, 1 << 20, &mut out).unwrap();
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_closes_only_its_own_connection() {
    use crate::transport::frame::{Head, RequestHead};
    let (a, b) = isolated_pair().await;
    let refused = |heads: &[Head], needle: &str| {
        assert!(
            heads
                .iter()
                .any(|h| matches!(h, Head::Refused { reason } if reason.contains(needle))),
            "expected a refusal naming {needle:?}, got {heads:?}"
        );
    };
    refused(&answers_to(&a, &[0xAB; 64]).await, "");
    refused(&answers_to(&a, &u32::MAX.to_be_bytes()).await, "");
    let stranger = Head::Hello {
        cluster: "elsewhere".into(),
        from: "intruder".into(),
    };
    refused(&answers_to(&a, &frame(&stranger, &[])).await, "elsewhere");

    let hello = Head::Hello {
        cluster: "isolated".into(),
        from: "tester".into(),
    };
    let call = |kind: &'static str, method: &str| {
        Head::Request(RequestHead {
            id: 7,
            grain: GrainId::new(GrainKind::from_static(kind), 1u64),
            method: method.into(),
            deadline_us: Some(1_000_000),
            correlation: 0,
            forwarded: false,
        })
    };
    a.router()
        .unwrap()
        .set_directory(Directory::new(1, vec![member(&a, "a")]));
    let mut bytes = frame(&hello, &[]);
    bytes.extend(frame(&call("Nowhere", "add"), &[]));
    bytes.extend(frame(&call("Tally", "no_such_method"), &[]));
    bytes.extend(frame(&call("Tally", "add"), &[0xFF, 0xFF]));
    bytes.extend([0u8, 0, 0, 3, 9, 9, 9]);
    let heads = answers_to(&a, &bytes).await;
    let faults: Vec<String> = heads
        .iter()
        .filter_map(|h| match h {
            Head::Reply {
                fault: Some(fault), ..
            } => Some(format!("{fault:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(faults.len(), 3, "{heads:?}");
    assert!(
        faults[0].contains("hosts no grain kind `Nowhere`"),
        "{faults:?}"
    );
    assert!(faults[1].contains("no_such_method"), "{faults:?}");
    assert!(
        faults.iter().all(|f| f.starts_with("Rejected")),
        "{faults:?}"
    );
    refused(&heads, "version");

    b.router()
        .unwrap()
        .set_directory(Directory::new(1, vec![member(&a, "a")]));
    assert_eq!(
        b.grain::<Tally>(1u64).add(5).await.unwrap(),
        5,
        "a still serves"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// A key of a `SlowToLeave` that `directory` places on silo `name`.
fn placed_on(directory: &Directory, name: &str) -> u64 {
    (0..1000u64)
        .find(|&key| {
            let id = GrainId::new(GrainKind::from_static("SlowToLeave"), key);
            directory.place(&id).1.is_some_and(|m| m.name == name)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_queued_while_a_grain_deactivates_follow_it_to_its_new_owner() {
    let (a, b) = isolated_pair().await;
    let both = || Directory::new(2, vec![member(&a, "a"), member(&b, "b")]);
    let key = placed_on(&both(), "b");
    let router = a.router().unwrap();
    router.set_directory(Directory::new(1, vec![member(&a, "a")]));
    b.router().unwrap().set_directory(both());
    let slow = a.grain::<SlowToLeave>(key);
    assert_eq!(slow.add(1).await.unwrap(), 1);
    for catalog in router.silo().unwrap().catalogs() {
        catalog.evict(&|_| true);
    }
    // While `on_deactivate` runs, calls still routed to `a` queue behind it; then `a` learns
    // that `b` owns the grain.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let slow = slow.clone();
            tokio::spawn(async move { slow.add(1).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    router.set_directory(both());
    let mut sums = Vec::new();
    for call in queued {
        sums.push(call.await.unwrap().unwrap());
    }
    sums.sort_unstable();
    assert_eq!(
        sums,
        [1, 2, 3, 4, 5],
        "each queued call ran once, on a new activation"
    );
    assert_eq!(
        live(&a),
        0,
        "the grain did not re-activate on its old owner"
    );
    assert_eq!(live(&b), 1, "the queued calls ran on the new owner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_the_owner_waits_while_the_grains_state_is_moving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let cluster = TestCluster::start(2, move |index, silo| {
        let storage = Storage::sled(path.join(format!("silo-{index}"))).unwrap();
        silo.register::<Saved>().storage(storage)
    })
    .await
    .unwrap();
    let owner = cluster.silo(0);
    let directory = owner.router().unwrap().directory();
    let name = TestCluster::silo_name(0);
    let key = (0..1000u64)
        .find(|&key| {
            let id = GrainId::new(GrainKind::from_static("Saved"), key);
            directory.place(&id).1.is_some_and(|m| m.name == name)
        })
        .unwrap();
    let id = GrainId::new(GrainKind::from_static("Saved"), key);
    let handoff = owner.router().unwrap().handoff();
    handoff.moving.insert(id.clone());
    let started = tokio::time::Instant::now();
    let call = tokio::spawn({
        let saved = owner.grain::<Saved>(key);
        async move { saved.add(1).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished(), "the call waits instead of failing");
    handoff.moving.remove(&id);
    assert_eq!(call.await.unwrap().unwrap().unwrap(), 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    cluster.shutdown().await;
}
