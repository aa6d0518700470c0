//! Stored records: a format byte and a CRC-32 over key and payload, so that a damaged or
//! misplaced record is reported instead of decoded as garbage.

const FORMAT: u8 = 1;
const HEADER: usize = 5;

/// The stored form of `payload` under `key`.
pub(crate) fn seal(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.push(FORMAT);
    record.extend_from_slice(&checksum(key, payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

/// The payload of a stored record, or what is wrong with it.
pub(crate) fn open<'a>(key: &[u8], record: &'a [u8]) -> Result<&'a [u8], String> {
    if record.len() < HEADER {
        return Err(format!(
            "record is {} bytes, shorter than its header",
            record.len()
        ));
    }
    if record[0] != FORMAT {
        return Err(format!("unknown record format {}", record[0]));
    }
    let stored = u32::from_le_bytes([record[1], record[2], record[3], record[4]]);
    let payload = &record[HEADER..];
    let computed = checksum(key, payload);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    Ok(payload)
}

fn checksum(key: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_bit_or_a_moved_record_is_detected() {
        let sealed = seal(b"k1", b"payload");
        assert_eq!(open(b"k1", &sealed).unwrap(), b"payload");
        let mut flipped = sealed.clone();
        flipped[7] ^= 0x10;
        assert!(open(b"k1", &flipped).unwrap_err().contains("checksum"));
        assert!(open(b"k2", &sealed).unwrap_err().contains("checksum"));
        assert!(open(b"k1", &sealed[..3]).unwrap_err().contains("shorter"));
    }
}
