//! Text read from evidence, shared: ids, titles, tests, scenarios and run ids repeat across
//! thousands of records, so each distinct string is kept once and every record that has
//! it points at it.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use serde::{Serialize, Serializer};

/// A string read from evidence, shared by every record that has it. (A thin pointer to a
/// shared `String`: 8 bytes where `Arc<str>` takes 16, which matters at a million records.)
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Text(Arc<String>);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    /// Which shared copy this is: two texts from one [`Interner`] are equal exactly when
    /// their ids are, so maps over many records key by the id instead of hashing text.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Arc::new(s.to_owned()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Arc::new(s))
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

const STRIPES: usize = 16;

/// Keeps each distinct string once, for every thread reading evidence at once: the set is
/// split in stripes by hash, so two readers rarely wait for each other.
#[derive(Debug)]
pub(crate) struct Interner {
    stripes: Vec<Mutex<FxHashSet<Text>>>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            stripes: (0..STRIPES)
                .map(|_| Mutex::new(FxHashSet::default()))
                .collect(),
        }
    }
}

impl Interner {
    /// The shared copy of `s`.
    pub(crate) fn get(&self, s: &str) -> Text {
        let stripe = &self.stripes[FxBuildHasher.hash_one(s) as usize % STRIPES];
        let mut set = stripe.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = set.get(s) {
            return t.clone();
        }
        let t = Text::from(s);
        set.insert(t.clone());
        t
    }
}

/// A reader's cache in front of the [`Interner`]: the strings of one file (its test, run,
/// scenario, git commit) repeat on every line, and are found here without a lock.
pub(crate) struct Local<'a> {
    shared: &'a Interner,
    seen: FxHashMap<Text, ()>,
}

impl<'a> Local<'a> {
    pub(crate) fn new(shared: &'a Interner) -> Self {
        Local {
            shared,
            seen: FxHashMap::default(),
        }
    }

    /// The shared copy of `s`.
    pub(crate) fn get(&mut self, s: &str) -> Text {
        if let Some((t, ())) = self.seen.get_key_value(s) {
            return t.clone();
        }
        let t = self.shared.get(s);
        self.seen.insert(t.clone(), ());
        t
    }
}
