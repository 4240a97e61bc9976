//! APR's DBM files (`RewriteMap dbm:`, AuthDBMUserFile, AuthDBMGroupFile), read whole as
//! Debian's `httxt2dbm` and `htdbm` write them: Berkeley DB hash files (APR's default DBM on
//! Debian) and SDBM's page file. Every page is scanned for its key/value pairs; nothing here
//! writes or locks a database.

use std::collections::HashMap;
use std::io;

/// The DBM formats rhttpd reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Berkeley DB's hash access method (`default` and `db`).
    BerkeleyHash,
    /// SDBM (`sdbm`): the pairs live in `NAME.pag`.
    Sdbm,
}

impl Format {
    /// The format an APR type name names (`default`, `db`, `sdbm`, ...), or why none:
    /// `Err(true)` for a type APR has and rhttpd does not read, `Err(false)` for no type.
    pub fn named(name: &str) -> Result<Format, bool> {
        match name.to_ascii_lowercase().as_str() {
            "default" | "db" => Ok(Format::BerkeleyHash),
            "sdbm" => Ok(Format::Sdbm),
            "gdbm" | "ndbm" => Err(true),
            _ => Err(false),
        }
    }

    /// The value stored under `key` in the database at `path` (APR's `apr_dbm_fetch`); an
    /// error when the file cannot be opened or read as this format.
    pub fn fetch(self, path: &str, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let bytes = std::fs::read(self.data_file(path))?;
        Ok(self.pairs(&bytes)?.remove(key))
    }

    /// The file holding the pairs for a map named `path` (what Apache stats, too).
    pub fn data_file(self, path: &str) -> String {
        match self {
            Format::BerkeleyHash => path.to_string(),
            Format::Sdbm => format!("{path}.pag"),
        }
    }

    /// The file Apache checks for at start (APR's first "used name": SDBM's directory file).
    pub fn check_file(self, path: &str) -> String {
        match self {
            Format::BerkeleyHash => path.to_string(),
            Format::Sdbm => format!("{path}.dir"),
        }
    }

    /// Every key/value pair of the file's contents.
    pub fn pairs(self, bytes: &[u8]) -> io::Result<HashMap<Vec<u8>, Vec<u8>>> {
        match self {
            Format::BerkeleyHash => berkeley_hash(bytes),
            Format::Sdbm => Ok(sdbm(bytes)),
        }
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Berkeley DB's page header: LSN, page number, previous and next page, entry count, the
/// high-free offset (the data length on an overflow page), level and type.
const PAGE_HEADER: usize = 26;
const HASH_MAGIC: u32 = 0x061561;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

/// A Berkeley DB hash database: the meta page gives the byte order and page size; every hash
/// page holds its items as an offset table, alternately key and value, each item a type byte
/// then its bytes (or, for a big one, a reference to a chain of overflow pages).
fn berkeley_hash(bytes: &[u8]) -> io::Result<HashMap<Vec<u8>, Vec<u8>>> {
    let meta = bytes
        .get(..PAGE_HEADER + 8)
        .ok_or_else(|| invalid("too short"))?;
    let magic_at = |little: bool| {
        let raw: [u8; 4] = meta[12..16].try_into().expect("four bytes");
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let little = if magic_at(true) == HASH_MAGIC {
        true
    } else if magic_at(false) == HASH_MAGIC {
        false
    } else {
        return Err(invalid("not a Berkeley DB hash file"));
    };
    let u16_at = |page: &[u8], at: usize| -> usize {
        let raw = [page[at], page[at + 1]];
        usize::from(if little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    };
    let u32_at = |page: &[u8], at: usize| -> usize {
        let raw: [u8; 4] = page[at..at + 4].try_into().expect("four bytes");
        (if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }) as usize
    };
    let page_size = u32_at(meta, 20);
    if !(512..=65536).contains(&page_size) || !bytes.len().is_multiple_of(page_size) {
        return Err(invalid("bad page size"));
    }
    let page = |number: usize| bytes.get(number * page_size..(number + 1) * page_size);
    // An item's bytes: on the page, or gathered from its overflow chain.
    let item = |page_bytes: &[u8], start: usize, end: usize| -> io::Result<Vec<u8>> {
        let kind = *page_bytes.get(start).ok_or_else(|| invalid("bad item"))?;
        match kind {
            H_KEYDATA => Ok(page_bytes[start + 1..end].to_vec()),
            H_OFFPAGE => {
                let mut next = u32_at(page_bytes, start + 4);
                let total = u32_at(page_bytes, start + 8);
                let mut out = Vec::with_capacity(total);
                while next != 0 && out.len() < total {
                    let over = page(next).ok_or_else(|| invalid("overflow page missing"))?;
                    if over[25] != P_OVERFLOW {
                        return Err(invalid("not an overflow page"));
                    }
                    let len = u16_at(over, 22);
                    out.extend_from_slice(&over[PAGE_HEADER..PAGE_HEADER + len]);
                    next = u32_at(over, 16);
                }
                out.truncate(total);
                Ok(out)
            }
            _ => Err(invalid("duplicate data items are not read")),
        }
    };
    let mut pairs = HashMap::new();
    for number in 1..bytes.len() / page_size {
        let Some(p) = page(number) else { break };
        if !matches!(p[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let entries = u16_at(p, 20);
        let offset = |i: usize| u16_at(p, PAGE_HEADER + 2 * i);
        let mut i = 0;
        while i + 1 < entries {
            let key_start = offset(i);
            let key_end = if i == 0 { page_size } else { offset(i - 1) };
            let value_start = offset(i + 1);
            if !(value_start < key_start && key_start < key_end && key_end <= page_size) {
                return Err(invalid("bad item offsets"));
            }
            let key = item(p, key_start, key_end)?;
            let value = item(p, value_start, key_start)?;
            pairs.entry(key).or_insert(value);
            i += 2;
        }
    }
    Ok(pairs)
}

/// SDBM's page file: 1024-byte pages, each an entry count then the offsets of its items
/// (little-endian shorts), alternately key and value, packed from the end of the page.
fn sdbm(bytes: &[u8]) -> HashMap<Vec<u8>, Vec<u8>> {
    const PAGE: usize = 1024;
    let mut pairs = HashMap::new();
    for p in bytes.chunks(PAGE).filter(|p| p.len() == PAGE) {
        let short = |i: usize| usize::from(u16::from_le_bytes([p[2 * i], p[2 * i + 1]]));
        let count = short(0);
        let mut end = PAGE;
        let mut i = 1;
        while i < count {
            let (key_start, value_start) = (short(i), short(i + 1));
            if !(value_start <= key_start && key_start <= end) {
                break;
            }
            pairs
                .entry(p[key_start..end].to_vec())
                .or_insert_with(|| p[value_start..key_start].to_vec());
            end = value_start;
            i += 2;
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdbm_pages_give_their_pairs() {
        let mut page = vec![0u8; 1024];
        let shorts = [4u16, 1022, 1020, 1018, 1016];
        for (i, s) in shorts.iter().enumerate() {
            page[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
        }
        page[1016..1024].copy_from_slice(b"v2k2v1k1");
        let pairs = sdbm(&page);
        assert_eq!(pairs.get(&b"k1"[..]).map(Vec::as_slice), Some(&b"v1"[..]));
        assert_eq!(pairs.get(&b"k2"[..]).map(Vec::as_slice), Some(&b"v2"[..]));
    }

    #[test]
    fn other_files_are_not_taken_for_berkeley_db() {
        assert!(berkeley_hash(&[0u8; 4096]).is_err());
        assert!(berkeley_hash(b"short").is_err());
    }
}
