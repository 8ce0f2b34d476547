//! Passive scanning: one pass over a response body finds every canary (`cnry-` + 16 hex digits)
//! and every id shaped like a UUID; each is looked up in the ledger. The cost per response is
//! linear in its length and independent of how many users exist: no loop over users, no
//! automaton to rebuild as users come and go.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// The canary prefix; a canary is this followed by 16 lowercase hex digits.
pub const CANARY_PREFIX: &[u8] = b"cnry-";
const CANARY_HEX: usize = 16;

/// Built once: building a searcher per body was ~0.5 % of the CPU per request (perf).
static CANARY_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(CANARY_PREFIX));

/// A marker unique to one simulated user's journey.
pub fn canary(value: u64) -> String {
    format!("cnry-{value:016x}")
}

/// Every canary value in `body`.
pub fn canaries(body: &[u8]) -> impl Iterator<Item = u64> + '_ {
    CANARY_FINDER.find_iter(body).filter_map(move |at| {
        let hex = body.get(at + CANARY_PREFIX.len()..at + CANARY_PREFIX.len() + CANARY_HEX)?;
        u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    })
}

/// Every UUID (8-4-4-4-12 hex digits) in `body`, as a number.
pub fn uuids(body: &[u8]) -> impl Iterator<Item = u128> + '_ {
    // A UUID's first dash is at offset 8; find dashes and test the text around them.
    memchr::memchr_iter(b'-', body).filter_map(move |dash| {
        let start = dash.checked_sub(8)?;
        let candidate = body.get(start..start + 36)?;
        if start > 0 && body[start - 1].is_ascii_hexdigit() {
            return None;
        }
        parse_uuid(candidate)
    })
}

fn parse_uuid(text: &[u8]) -> Option<u128> {
    let mut value: u128 = 0;
    for (i, &b) in text.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let digit = (b as char).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// The number of a UUID written as text, if it is one.
pub fn uuid_value(text: &str) -> Option<u128> {
    (text.len() == 36).then(|| parse_uuid(text.as_bytes())).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_and_uuids_are_found_in_one_pass() {
        let body = br#"{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","title":"x cnry-00000000000000ff y","n":"12-34"}"#;
        assert_eq!(canaries(body).collect::<Vec<_>>(), [255]);
        assert_eq!(
            uuids(body).collect::<Vec<_>>(),
            [uuid_value("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap()]
        );
        assert_eq!(canary(255), "cnry-00000000000000ff");
        assert!(uuids(b"cnry-zz 1234-5678 not-a-uuid-at-all-0000000000000000").next().is_none());
        assert!(canaries(b"cnry-short").next().is_none());
    }
}
