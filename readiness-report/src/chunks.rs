//! A long list kept in chunks of fixed capacity: it grows without ever copying what it
//! holds, a stage can free it a chunk at a time, and a chunk is large enough that the
//! allocator gives its memory back to the system when it is freed.

/// Items per chunk (about 8 MB of records).
const CHUNK: usize = 32 * 1024;

/// A list in chunks.
#[derive(Debug)]
pub(crate) struct Chunks<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks { chunks: Vec::new() }
    }
}

impl<T> Chunks<T> {
    /// Appends `items`, filling the last chunk before starting a new one.
    pub(crate) fn append(&mut self, items: Vec<T>) {
        for item in items {
            match self.chunks.last_mut() {
                Some(last) if last.len() < CHUNK => last.push(item),
                _ => {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    chunk.push(item);
                    self.chunks.push(chunk);
                }
            }
        }
    }

    /// How many items.
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }

    /// Every item, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Keeps the items `keep` says; a chunk that lost most of its items gives the memory
    /// back.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for chunk in &mut self.chunks {
            chunk.retain(&mut keep);
            tidy(chunk);
        }
        self.chunks.retain(|c| !c.is_empty());
    }

    /// Each chunk in turn, taken (and freed once `f` is done with it).
    pub(crate) fn into_chunks(self) -> impl Iterator<Item = Vec<T>> {
        self.chunks.into_iter()
    }

    /// One list of every item, made as the chunks are freed one by one.
    pub(crate) fn flatten(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len());
        for mut chunk in self.chunks {
            all.append(&mut chunk);
        }
        all
    }
}

impl<T> FromIterator<Vec<T>> for Chunks<T> {
    fn from_iter<I: IntoIterator<Item = Vec<T>>>(iter: I) -> Self {
        Chunks {
            chunks: iter.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }
}

/// Gives back the memory of a chunk that holds less than half of what it could.
pub(crate) fn tidy<T>(chunk: &mut Vec<T>) {
    if chunk.len() < chunk.capacity() / 2 {
        chunk.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_list_keeps_its_order_through_every_step() {
        let mut c = Chunks::default();
        c.append((0..CHUNK as u32 + 10).collect());
        c.append((0..5).collect());
        assert_eq!(c.len(), CHUNK + 15);
        assert_eq!(c.chunks.len(), 2);
        c.retain(|x| x % 2 == 0);
        let all = c.flatten();
        assert_eq!(all.len(), CHUNK / 2 + 5 + 3);
        assert!(all.windows(2).take(CHUNK / 2 + 4).all(|w| w[0] < w[1]));
    }
}
