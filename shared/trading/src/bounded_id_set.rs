//! A set that remembers the most recent ids up to a capacity, forgetting the oldest first.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// Remembers up to `capacity` ids; inserting beyond that forgets the oldest.
///
/// Used for "seen this signal / decided this client order id" checks, whose memory must stay
/// bounded in a process that runs for months. Ids are derived from bar times, so an id old
/// enough to be forgotten belongs to a bar the stale-data checks already refuse.
#[derive(Debug, Clone)]
pub(crate) struct BoundedIdSet<K> {
    capacity: usize,
    set: HashSet<K>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone> BoundedIdSet<K> {
    /// An empty set holding at most `capacity` ids (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            set: HashSet::with_capacity(capacity.min(4096)),
            order: VecDeque::with_capacity(capacity.min(4096)),
        }
    }

    /// Adds `id`; `false` if it was already there (nothing changes then).
    pub(crate) fn insert(&mut self, id: K) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
        true
    }

    /// Whether `id` is remembered.
    pub(crate) fn contains(&self, id: &K) -> bool {
        self.set.contains(id)
    }

    /// The number of ids remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest() {
        let mut s = BoundedIdSet::new(2);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        assert!(s.insert(2));
        assert!(s.insert(3));
        assert_eq!(s.len(), 2);
        assert!(!s.contains(&1));
        assert!(s.contains(&2) && s.contains(&3));
        assert!(s.insert(1));
    }
}
