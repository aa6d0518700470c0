//! [`Knowledge`]: which silos are down while they may hold grain state, as one silo saw it and
//! was told by the others' gossip.

use std::collections::BTreeSet;

use crate::membership::{ClusterView, Incarnation, SiloStatus};

/// Which incarnations hold state while down, as this silo saw it and was told.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Knowledge {
    /// Members that vanished from this silo's view without handing off.
    pub(crate) down: BTreeSet<Incarnation>,
    /// Incarnations an operator declared lost through this silo.
    pub(crate) lost: BTreeSet<Incarnation>,
}

impl Knowledge {
    /// Updates what this silo saw from `previous` to `view`: members gone without handing off
    /// are down (also when a new incarnation under the same name replaced them before they
    /// were missed), members back under their name are no longer, and lost ones are given up.
    pub(crate) fn follow(&mut self, previous: &ClusterView, view: &ClusterView) {
        for gone in &previous.members {
            let same = view
                .get(&gone.name)
                .is_some_and(|now| now.generation == gone.generation);
            if !same && gone.status != SiloStatus::HandedOff {
                tracing::warn!(silo = %gone.name, "a silo vanished without handing off; its grains are unavailable until it returns or is marked lost");
                self.down.insert(gone.incarnation());
            }
        }
        let lost = self.all_lost(view);
        self.down
            .retain(|down| !returned(view, &down.name) && !lost.contains(down));
    }

    fn all_lost(&self, view: &ClusterView) -> BTreeSet<Incarnation> {
        let told = view.members.iter().flat_map(|m| m.lost.iter().cloned());
        self.lost.iter().cloned().chain(told).collect()
    }

    /// The incarnations that are down and may hold state, by this silo and every member.
    pub(crate) fn held(&self, view: &ClusterView) -> Vec<Incarnation> {
        let lost = self.all_lost(view);
        let told = view.members.iter().flat_map(|m| m.down.iter());
        let all: BTreeSet<&Incarnation> = self.down.iter().chain(told).collect();
        all.into_iter()
            .filter(|down| !returned(view, &down.name) && !lost.contains(*down))
            .cloned()
            .collect()
    }
}

/// Whether silo `name` is back in `view` and has become active: it started on the data
/// directory of its down incarnation, since it refuses to become active on any other.
fn returned(view: &ClusterView, name: &str) -> bool {
    view.get(name)
        .is_some_and(|silo| matches!(silo.status, SiloStatus::Active | SiloStatus::Leaving))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::membership::SiloInfo;

    pub(in crate::cluster) fn silo(name: &str, generation: u64, status: SiloStatus) -> SiloInfo {
        SiloInfo {
            name: name.to_owned(),
            generation,
            address: "127.0.0.1:1".parse().unwrap(),
            status,
            down: Vec::new(),
            lost: Vec::new(),
        }
    }

    pub(in crate::cluster) fn view(members: Vec<SiloInfo>) -> ClusterView {
        ClusterView {
            version: 1,
            members,
        }
    }

    pub(in crate::cluster) fn names(list: &[Incarnation]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_silo_that_vanishes_without_handing_off_is_down_until_it_returns() {
        let mut knowledge = Knowledge::default();
        let before = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 2, SiloStatus::Active),
            silo("c", 3, SiloStatus::HandedOff),
        ]);
        let after = view(vec![silo("a", 1, SiloStatus::Active)]);
        knowledge.follow(&before, &after);
        assert_eq!(
            names(&knowledge.held(&after)),
            ["b@2"],
            "c handed off, b did not"
        );
        let joining = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 9, SiloStatus::Joining),
        ]);
        knowledge.follow(&after, &joining);
        assert_eq!(
            names(&knowledge.held(&joining)),
            ["b@2"],
            "b is only joining"
        );
        let back = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 9, SiloStatus::Active),
        ]);
        knowledge.follow(&joining, &back);
        assert!(
            knowledge.held(&back).is_empty(),
            "b returned under its name"
        );
        assert!(knowledge.down.is_empty());
    }

    #[test]
    fn a_silo_replaced_by_a_new_incarnation_before_it_was_missed_is_down() {
        let mut knowledge = Knowledge::default();
        let before = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 2, SiloStatus::Active),
        ]);
        let restarted = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 7, SiloStatus::Joining),
        ]);
        knowledge.follow(&before, &restarted);
        assert_eq!(names(&knowledge.held(&restarted)), ["b@2"]);
        let active = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 7, SiloStatus::Active),
        ]);
        knowledge.follow(&restarted, &active);
        assert!(
            knowledge.held(&active).is_empty(),
            "b@7 became active, so it brought b@2's directory"
        );
    }

    #[test]
    fn down_silos_gossiped_by_members_count_until_one_marks_them_lost() {
        let mut knowledge = Knowledge::default();
        let mut a = silo("a", 1, SiloStatus::Active);
        a.down = vec![Incarnation {
            name: "b".into(),
            generation: 2,
        }];
        let told = view(vec![a.clone(), silo("joiner", 5, SiloStatus::Active)]);
        knowledge.follow(&ClusterView::default(), &told);
        assert_eq!(
            names(&knowledge.held(&told)),
            ["b@2"],
            "a joiner learns from gossip"
        );
        a.lost = a.down.clone();
        let given_up = view(vec![a, silo("joiner", 5, SiloStatus::Active)]);
        assert!(knowledge.held(&given_up).is_empty());
    }
}
