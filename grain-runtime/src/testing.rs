//! [`TestCluster`]: several clustered silos in one process, for tests of code that runs on a
//! cluster: start N silos, stop or crash one, add or restart one, wait for the views to settle.
//!
//! Silos listen on free ports of 127.0.0.1 and gossip with short timings, so that a crashed silo
//! is out of the others' views within about a second.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::ClusterConfig;
use crate::error::SiloError;
use crate::silo::{Silo, SiloBuilder};

/// Configures silo number `index` of a test cluster: registers its grain kinds and storage.
type Configure = dyn Fn(usize, SiloBuilder) -> SiloBuilder + Send + Sync;

/// Silos of one cluster in this process.
///
/// # Examples
///
/// ```
/// use grain_runtime::prelude::*;
/// use grain_runtime::testing::TestCluster;
///
/// #[grain]
/// #[derive(Default)]
/// pub struct Counter { value: u64 }
///
/// #[grain]
/// impl Counter {
///     pub async fn add(&mut self, n: u64) -> u64 { self.value += n; self.value }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = TestCluster::start(3, |_, silo| silo.register::<Counter>()).await?;
/// // Any silo reaches any grain; it runs on the one silo that owns it.
/// assert_eq!(cluster.silo(0).grain::<Counter>("c").add(2).await?, 2);
/// assert_eq!(cluster.silo(2).grain::<Counter>("c").add(3).await?, 5);
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
pub struct TestCluster {
    name: String,
    configure: Arc<Configure>,
    silos: Vec<Option<Silo>>,
    gossip_interval: Duration,
    dead_after: Duration,
}

impl TestCluster {
    /// Starts `count` silos, each configured by `configure(index, builder)`, and waits until
    /// every one of them sees all of them.
    ///
    /// # Errors
    ///
    /// The first silo that fails to start, or [`SiloError::Membership`] if the views do not
    /// settle within 20 seconds.
    pub async fn start(
        count: usize,
        configure: impl Fn(usize, SiloBuilder) -> SiloBuilder + Send + Sync + 'static,
    ) -> Result<Self, SiloError> {
        let mut cluster = Self {
            name: format!("test-{}", uuid::Uuid::new_v4().simple()),
            configure: Arc::new(configure),
            silos: Vec::new(),
            gossip_interval: Duration::from_millis(50),
            dead_after: Duration::from_millis(1_000),
        };
        for _ in 0..count {
            cluster.add_silo_unsettled().await?;
        }
        cluster.settle().await?;
        Ok(cluster)
    }

    /// Silo `index`.
    ///
    /// # Panics
    ///
    /// If silo `index` was never started or is stopped.
    pub fn silo(&self, index: usize) -> &Silo {
        self.silos
            .get(index)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("silo {index} of the test cluster is not running"))
    }

    /// The indexes of the running silos.
    pub fn running(&self) -> Vec<usize> {
        (0..self.silos.len())
            .filter(|&i| self.silos[i].is_some())
            .collect()
    }

    /// The cluster's name, unique to this test cluster; a [`Client`](crate::Client) needs it.
    pub fn cluster_name(&self) -> &str {
        &self.name
    }

    /// The name of silo `index`, as it appears in cluster views.
    pub fn silo_name(index: usize) -> String {
        format!("silo-{index}")
    }

    /// Starts one more silo and waits until every running silo sees it; returns its index.
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub async fn add_silo(&mut self) -> Result<usize, SiloError> {
        let index = self.add_silo_unsettled().await?;
        self.settle().await?;
        Ok(index)
    }

    /// Starts silo `index` again under its name (and, if `configure` gives it one, its data
    /// directory), after a [`stop`](Self::stop) or [`crash`](Self::crash).
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub async fn restart(&mut self, index: usize) -> Result<(), SiloError> {
        let silo = self.build(index).await?;
        self.silos[index] = Some(silo);
        self.settle().await
    }

    /// Shuts silo `index` down gracefully: it leaves the cluster and drains.
    pub async fn stop(&mut self, index: usize) {
        if let Some(silo) = self.silos.get_mut(index).and_then(Option::take) {
            silo.shutdown().await;
        }
    }

    /// Drops silo `index` without shutting it down: its connections close and it stops
    /// gossiping at once, and the others find out through failure detection.
    pub fn crash(&mut self, index: usize) {
        if let Some(slot) = self.silos.get_mut(index) {
            slot.take();
        }
    }

    /// Waits until every running silo's view holds exactly the running silos, all active, and
    /// every silo routes calls by that view.
    ///
    /// # Errors
    ///
    /// [`SiloError::Membership`], naming the views, if that takes more than 20 seconds.
    pub async fn settle(&self) -> Result<(), SiloError> {
        let expected: BTreeSet<String> = self.running().into_iter().map(Self::silo_name).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let views: Vec<_> = self
                .silos
                .iter()
                .flatten()
                .filter_map(|silo| Some((silo, silo.cluster_view()?)))
                .collect();
            let settled = views.iter().all(|(silo, view)| {
                silo.router()
                    .is_some_and(|router| router.directory().version() == view.version)
                    && view.members.len() == expected.len()
                    && view
                        .active()
                        .map(|s| s.name.clone())
                        .collect::<BTreeSet<_>>()
                        == expected
            });
            if settled {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let shown: Vec<String> = views.iter().map(|(_, view)| view.to_string()).collect();
                return Err(SiloError::Membership(format!(
                    "the views did not settle on {expected:?} within 20 s: {}",
                    shown.join("; ")
                )));
            }
            tokio::time::sleep(self.gossip_interval).await;
        }
    }

    /// Shuts every running silo down.
    pub async fn shutdown(mut self) {
        let silos: Vec<Silo> = self.silos.iter_mut().filter_map(Option::take).collect();
        futures::future::join_all(silos.iter().map(Silo::shutdown)).await;
    }

    async fn add_silo_unsettled(&mut self) -> Result<usize, SiloError> {
        let index = self.silos.len();
        let silo = self.build(index).await?;
        self.silos.push(Some(silo));
        Ok(index)
    }

    async fn build(&self, index: usize) -> Result<Silo, SiloError> {
        let seeds: Vec<String> = self
            .silos
            .iter()
            .flatten()
            .filter_map(Silo::address)
            .map(|address| address.to_string())
            .collect();
        let config = ClusterConfig::new(Self::silo_name(index))
            .cluster(&self.name)
            .join(seeds)
            .gossip_interval(self.gossip_interval)
            .dead_after(self.dead_after);
        let builder = (self.configure)(index, Silo::builder()).cluster(config);
        builder.start().await
    }
}
