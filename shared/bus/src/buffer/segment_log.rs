use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::Topic;

/// Bytes before each record's body: body length (u32 LE) and CRC-32 of the body (u32 LE).
const HEADER_BYTES: usize = 8;
/// A record body larger than this is treated as corruption.
const MAX_BODY_BYTES: u32 = 16 * 1024 * 1024;
const SEGMENT_SUFFIX: &str = ".seg";
const CURSOR_FILE: &str = "cursor";
const LOCK_FILE: &str = "lock";

/// One buffered event: its topic and the encoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic it is published to.
    pub topic: Topic,
    /// `Envelope::encode()` bytes.
    pub bytes: Vec<u8>,
}

impl Record {
    fn encoded_len(&self) -> usize {
        HEADER_BYTES + 1 + self.bytes.len()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let body_len = u32::try_from(1 + self.bytes.len()).unwrap_or(u32::MAX);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[self.topic.code()]);
        crc.update(&self.bytes);
        out.extend_from_slice(&body_len.to_le_bytes());
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.push(self.topic.code());
        out.extend_from_slice(&self.bytes);
    }
}

/// Where a record starts: segment id and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Segment id (its file is `{id:020}.seg`).
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// Sizes of the log.
#[derive(Debug, Clone, Copy)]
pub struct SegmentLogOptions {
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// The log refuses appends past this total size (the caller applies its overflow policy).
    pub max_bytes: u64,
}

impl Default for SegmentLogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 8 * 1024 * 1024,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What opening an existing log found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Records waiting to be drained.
    pub pending: u64,
    /// Bytes cut from the end of the last segment: a record torn by a crash mid-write.
    pub torn_bytes: u64,
    /// Segments with a bad record before their end; their rest was skipped.
    pub corrupt_segments: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Bytes of valid records.
    len: u64,
}

/// An append-only log of [`Record`]s in numbered segment files, with a drain cursor.
///
/// Appends are fsynced per batch. [`read`](Self::read) returns records from the cursor;
/// [`commit`](Self::commit) moves the cursor past them (persisted), and segments wholly behind
/// it are deleted. On open, a record torn by a crash at the end of the last segment is cut
/// off (everything before it is kept), and a corrupt record elsewhere ends its segment.
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    options: SegmentLogOptions,
    segments: VecDeque<Segment>,
    active: File,
    cursor: Position,
    pending: u64,
    reader: Option<(u64, BufReader<File>, u64)>,
    /// Held for the log's lifetime: one writer per directory, across processes.
    _lock: File,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

fn corrupt(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one record at the reader's position. `Ok(None)` at a clean end of data; `Err` with
/// `InvalidData` for a torn or corrupt record.
fn read_record(reader: &mut impl Read, remaining: u64) -> io::Result<Option<(Record, u64)>> {
    if remaining == 0 {
        return Ok(None);
    }
    if remaining < HEADER_BYTES as u64 {
        return Err(corrupt("torn record header"));
    }
    let mut header = [0u8; HEADER_BYTES];
    reader.read_exact(&mut header)?;
    let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if body_len == 0 || body_len > MAX_BODY_BYTES {
        return Err(corrupt(format!("record length {body_len} out of range")));
    }
    if remaining < HEADER_BYTES as u64 + u64::from(body_len) {
        return Err(corrupt("torn record body"));
    }
    let mut body = vec![0u8; body_len as usize];
    reader.read_exact(&mut body)?;
    if crc32fast::hash(&body) != crc {
        return Err(corrupt("record checksum mismatch"));
    }
    let topic = Topic::from_code(body[0]).ok_or_else(|| corrupt("unknown topic code"))?;
    body.remove(0);
    Ok(Some((
        Record { topic, bytes: body },
        HEADER_BYTES as u64 + u64::from(body_len),
    )))
}

/// Scans a segment file: the number of valid bytes and records, records at or after
/// `count_from`, and whether it stopped at a bad record.
fn scan(path: &Path, count_from: u64) -> io::Result<(u64, u64, bool)> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let (mut offset, mut after) = (0u64, 0u64);
    loop {
        match read_record(&mut reader, file_len - offset) {
            Ok(Some((_, len))) => {
                if offset >= count_from {
                    after += 1;
                }
                offset += len;
            }
            Ok(None) => return Ok((offset, after, false)),
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Ok((offset, after, true));
            }
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok((offset, after, true));
            }
            Err(err) => return Err(err),
        }
    }
}

impl SegmentLog {
    /// Opens (or creates) the log in `dir`, repairing a torn tail.
    pub fn open(
        dir: impl Into<PathBuf>,
        options: SegmentLogOptions,
    ) -> io::Result<(Self, OpenReport)> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        if lock.try_lock().is_err() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("disk buffer {} is in use by another bus", dir.display()),
            ));
        }
        let mut ids: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(SEGMENT_SUFFIX)?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let saved_cursor = fs::read_to_string(dir.join(CURSOR_FILE))
            .ok()
            .and_then(|text| {
                let (segment, offset) = text.trim().split_once(' ')?;
                Some(Position {
                    segment: segment.parse().ok()?,
                    offset: offset.parse().ok()?,
                })
            });
        let first = ids.first().copied().unwrap_or(1);
        let mut cursor = saved_cursor.unwrap_or(Position {
            segment: first,
            offset: 0,
        });
        if cursor.segment < first {
            cursor = Position {
                segment: first,
                offset: 0,
            };
        }
        let mut report = OpenReport::default();
        let mut segments = VecDeque::new();
        let last = ids.last().copied();
        for id in ids {
            let path = segment_path(&dir, id);
            if id < cursor.segment {
                fs::remove_file(&path)?;
                continue;
            }
            let count_from = if id == cursor.segment {
                cursor.offset
            } else {
                0
            };
            let (valid, pending, bad) = scan(&path, count_from)?;
            if bad {
                let file_len = fs::metadata(&path)?.len();
                if Some(id) == last {
                    tracing::warn!(
                        segment = %path.display(),
                        torn_bytes = file_len - valid,
                        "disk buffer: torn record at the end; cutting it off, keeping what precedes it"
                    );
                    OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
                    report.torn_bytes += file_len - valid;
                } else {
                    tracing::warn!(
                        segment = %path.display(),
                        skipped_bytes = file_len - valid,
                        "disk buffer: corrupt record inside a segment; skipping the rest of it"
                    );
                    report.corrupt_segments += 1;
                }
            }
            if id == cursor.segment && cursor.offset > valid {
                cursor.offset = valid;
            }
            report.pending += pending;
            segments.push_back(Segment { id, len: valid });
        }
        if segments.is_empty() {
            File::create(segment_path(&dir, cursor.segment))?;
            segments.push_back(Segment {
                id: cursor.segment,
                len: 0,
            });
        }
        let active_id = segments.back().map_or(cursor.segment, |s| s.id);
        let active = OpenOptions::new()
            .append(true)
            .open(segment_path(&dir, active_id))?;
        let log = Self {
            dir,
            options,
            segments,
            active,
            cursor,
            pending: report.pending,
            reader: None,
            _lock: lock,
        };
        Ok((log, report))
    }

    /// Records not yet drained.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Whether nothing waits to be drained.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Whether `records` fit under the size bound.
    pub fn fits(&self, records: &[Record]) -> bool {
        let add: u64 = records.iter().map(|r| r.encoded_len() as u64).sum();
        self.bytes() + add <= self.options.max_bytes
    }

    fn active_segment(&self) -> (u64, u64) {
        self.segments
            .back()
            .map_or((self.cursor.segment, 0), |s| (s.id, s.len))
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.active.sync_data()?;
        let next = self.active_segment().0 + 1;
        self.active = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, next))?;
        self.segments.push_back(Segment { id: next, len: 0 });
        Ok(())
    }

    /// Appends `records` in order and fsyncs once. The caller checks [`fits`](Self::fits)
    /// first; the bound is not enforced here so a caller can never lose records to it.
    pub fn append(&mut self, records: &[Record]) -> io::Result<()> {
        let mut chunk = Vec::with_capacity(records.iter().map(Record::encoded_len).sum());
        for record in records {
            let (_, written) = self.active_segment();
            let filled = written + chunk.len() as u64;
            if filled > 0 && filled + record.encoded_len() as u64 > self.options.segment_bytes {
                self.write_chunk(&chunk)?;
                chunk.clear();
                self.rotate()?;
            }
            record.encode_into(&mut chunk);
        }
        self.write_chunk(&chunk)?;
        self.active.sync_data()?;
        self.pending += records.len() as u64;
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.active.write_all(chunk)?;
        if let Some(active) = self.segments.back_mut() {
            active.len += chunk.len() as u64;
        }
        Ok(())
    }

    /// Up to `max` records from the cursor, and the position after the last one.
    pub fn read(&mut self, max: usize) -> io::Result<(Vec<Record>, Position)> {
        let mut records = Vec::new();
        let mut position = self.cursor;
        while records.len() < max {
            let Some(segment_len) = self
                .segments
                .iter()
                .find(|s| s.id == position.segment)
                .map(|s| s.len)
            else {
                break;
            };
            if position.offset >= segment_len {
                match self.segments.iter().find(|s| s.id > position.segment) {
                    Some(next) => {
                        position = Position {
                            segment: next.id,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let reader = match &mut self.reader {
                Some((id, reader, at)) if *id == position.segment && *at == position.offset => {
                    reader
                }
                _ => {
                    let mut file = File::open(segment_path(&self.dir, position.segment))?;
                    file.seek(SeekFrom::Start(position.offset))?;
                    self.reader = Some((
                        position.segment,
                        BufReader::with_capacity(1 << 16, file),
                        position.offset,
                    ));
                    match &mut self.reader {
                        Some((_, reader, _)) => reader,
                        None => break,
                    }
                }
            };
            match read_record(reader, segment_len - position.offset)? {
                Some((record, len)) => {
                    position.offset += len;
                    if let Some((_, _, at)) = &mut self.reader {
                        *at = position.offset;
                    }
                    records.push(record);
                }
                None => position.offset = segment_len,
            }
        }
        if records.is_empty() {
            // Nothing readable is left (a corrupt record ended the data): nothing is pending.
            self.pending = 0;
        }
        Ok((records, position))
    }

    /// Moves the cursor to `to` (returned by [`read`](Self::read) with `count` records),
    /// persists it, and deletes segments wholly behind it.
    pub fn commit(&mut self, to: Position, count: u64) -> io::Result<()> {
        self.cursor = to;
        self.pending = self.pending.saturating_sub(count);
        let active_id = self.active_segment().0;
        while let Some(head) = self.segments.front() {
            let drained = head.id < to.segment || (head.id == to.segment && to.offset >= head.len);
            if head.id == active_id || !drained {
                break;
            }
            fs::remove_file(segment_path(&self.dir, head.id))?;
            self.segments.pop_front();
        }
        // a cursor at the end of a deleted segment moves to the start of the next one
        if let Some(head) = self.segments.front()
            && self.cursor.segment < head.id
        {
            self.cursor = Position {
                segment: head.id,
                offset: 0,
            };
        }
        self.persist_cursor()
    }

    fn persist_cursor(&self) -> io::Result<()> {
        let tmp = self.dir.join(format!("{CURSOR_FILE}.tmp"));
        fs::write(
            &tmp,
            format!("{} {}\n", self.cursor.segment, self.cursor.offset),
        )?;
        fs::rename(tmp, self.dir.join(CURSOR_FILE))
    }

    /// Drops the oldest segment's undrained records to make room, returning how many of each
    /// topic were dropped. Rotates first when only the active segment is left.
    pub fn drop_oldest(&mut self) -> io::Result<Vec<(Topic, u64)>> {
        if self.segments.len() == 1 {
            if self.active_segment().1 == 0 {
                return Ok(Vec::new());
            }
            self.rotate()?;
        }
        let Some(head) = self.segments.pop_front() else {
            return Ok(Vec::new());
        };
        let path = segment_path(&self.dir, head.id);
        let mut dropped: Vec<(Topic, u64)> = Vec::new();
        let start = if self.cursor.segment == head.id {
            self.cursor.offset
        } else {
            0
        };
        if self.cursor.segment <= head.id {
            let mut file = BufReader::new(File::open(&path)?);
            file.seek(SeekFrom::Start(start))?;
            let mut offset = start;
            while let Ok(Some((record, len))) = read_record(&mut file, head.len - offset) {
                offset += len;
                match dropped.iter_mut().find(|(t, _)| *t == record.topic) {
                    Some((_, n)) => *n += 1,
                    None => dropped.push((record.topic, 1)),
                }
            }
        }
        fs::remove_file(&path)?;
        self.reader = None;
        let next = self.segments.front().map_or(head.id + 1, |s| s.id);
        if self.cursor.segment <= head.id {
            self.cursor = Position {
                segment: next,
                offset: 0,
            };
        }
        let total: u64 = dropped.iter().map(|(_, n)| n).sum();
        self.pending = self.pending.saturating_sub(total);
        self.persist_cursor()?;
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: Topic, n: u32) -> Record {
        Record {
            topic,
            bytes: format!("event-{n:06}").into_bytes(),
        }
    }

    fn small() -> SegmentLogOptions {
        SegmentLogOptions {
            segment_bytes: 200,
            max_bytes: 10_000,
        }
    }

    fn drain_all(log: &mut SegmentLog) -> Vec<Record> {
        let mut all = Vec::new();
        loop {
            let (records, to) = log.read(7).unwrap();
            if records.is_empty() {
                return all;
            }
            log.commit(to, records.len() as u64).unwrap();
            all.extend(records);
        }
    }

    #[test]
    fn appends_rotate_and_drain_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, report) = SegmentLog::open(dir.path(), small()).unwrap();
        assert_eq!(report, OpenReport::default());
        let batch: Vec<_> = (0..40).map(|n| record(Topic::Fill, n)).collect();
        log.append(&batch[..25]).unwrap();
        log.append(&batch[25..]).unwrap();
        assert_eq!(log.pending(), 40);
        assert!(
            log.segments.len() > 3,
            "segments rotate: {}",
            log.segments.len()
        );

        // drain part, then "restart"
        let (first, to) = log.read(10).unwrap();
        log.commit(to, 10).unwrap();
        assert_eq!(first, batch[..10]);
        drop(log);
        let (mut log, report) = SegmentLog::open(dir.path(), small()).unwrap();
        assert_eq!(report.pending, 30);
        assert_eq!(drain_all(&mut log), batch[10..]);
        assert!(log.is_empty());
        // drained segments are gone, the active one stays
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".seg")
                })
                .count(),
            1
        );
        // and appending after a full drain continues cleanly
        log.append(&[record(Topic::Order, 99)]).unwrap();
        assert_eq!(drain_all(&mut log), [record(Topic::Order, 99)]);
    }

    #[test]
    fn a_torn_tail_is_cut_and_everything_before_it_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
        let batch: Vec<_> = (0..5).map(|n| record(Topic::Order, n)).collect();
        log.append(&batch).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        // a sixth record, half written
        let mut torn = Vec::new();
        record(Topic::Order, 5).encode_into(&mut torn);
        bytes.extend_from_slice(&torn[..torn.len() - 3]);
        std::fs::write(&path, &bytes).unwrap();

        let (mut log, report) = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
        assert_eq!(report.pending, 5);
        assert_eq!(report.torn_bytes, (torn.len() - 3) as u64);
        log.append(&[record(Topic::Order, 6)]).unwrap();
        let mut expected = batch.clone();
        expected.push(record(Topic::Order, 6));
        assert_eq!(drain_all(&mut log), expected);
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum_and_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SegmentLog::open(dir.path(), small()).unwrap();
        let batch: Vec<_> = (0..20).map(|n| record(Topic::Fill, n)).collect();
        log.append(&batch).unwrap();
        drop(log);
        // corrupt the 2nd record of the first segment
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let one = record(Topic::Fill, 0).encoded_len();
        bytes[one + HEADER_BYTES + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (mut log, report) = SegmentLog::open(dir.path(), small()).unwrap();
        assert_eq!(report.corrupt_segments, 1);
        let drained = drain_all(&mut log);
        assert_eq!(drained[0], batch[0]);
        assert!(!drained.contains(&batch[1]));
        // later segments are intact
        assert_eq!(drained.last(), batch.last());
    }

    #[test]
    fn drop_oldest_counts_what_it_drops_by_topic() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SegmentLog::open(dir.path(), small()).unwrap();
        let batch: Vec<_> = (0..30)
            .map(|n| {
                record(
                    if n % 3 == 0 {
                        Topic::MdTrade
                    } else {
                        Topic::MdBar
                    },
                    n,
                )
            })
            .collect();
        log.append(&batch).unwrap();
        let before = log.pending();
        let dropped = log.drop_oldest().unwrap();
        let total: u64 = dropped.iter().map(|(_, n)| n).sum();
        assert!(total > 0);
        assert_eq!(log.pending(), before - total);
        let rest = drain_all(&mut log);
        assert_eq!(rest.len() as u64, before - total);
        assert_eq!(rest, batch[total as usize..]);
        let trades = dropped
            .iter()
            .find(|(t, _)| *t == Topic::MdTrade)
            .map_or(0, |(_, n)| *n);
        let expected = batch[..total as usize]
            .iter()
            .filter(|r| r.topic == Topic::MdTrade)
            .count();
        assert_eq!(trades, expected as u64);
    }

    #[test]
    fn a_directory_has_one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = SegmentLog::open(dir.path(), small()).unwrap();
        let err = SegmentLog::open(dir.path(), small()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        drop(log);
        assert!(SegmentLog::open(dir.path(), small()).is_ok());
    }

    #[test]
    fn size_bound_is_reported_by_fits() {
        let dir = tempfile::tempdir().unwrap();
        let options = SegmentLogOptions {
            segment_bytes: 1000,
            max_bytes: 100,
        };
        let (mut log, _) = SegmentLog::open(dir.path(), options).unwrap();
        let r = record(Topic::Fill, 1);
        assert!(log.fits(std::slice::from_ref(&r)));
        log.append(&[r.clone(), r.clone(), r.clone(), r.clone()])
            .unwrap();
        assert!(!log.fits(std::slice::from_ref(&r)));
    }
}
