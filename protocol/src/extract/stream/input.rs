//! The page as html5gum reads it.

/// The page as html5gum reads it: as its own string reader does, but the
/// search for the next byte that ends a run (`<`, `&`, a quote...) looks at
/// 16 bytes one by one (most runs are that short), then uses `memchr`,
/// three needle bytes at a time, in windows that grow.
pub(super) struct Input<'a>(pub(super) &'a [u8]);

impl html5gum::Reader for Input<'_> {
    type Error = std::convert::Infallible;

    #[inline(always)]
    fn read_byte(&mut self) -> Result<Option<u8>, Self::Error> {
        let Some((&byte, rest)) = self.0.split_first() else {
            return Ok(None);
        };
        self.0 = rest;
        Ok(Some(byte))
    }

    #[inline(always)]
    fn try_read_string(&mut self, s: &[u8], case_sensitive: bool) -> Result<bool, Self::Error> {
        let Some(next) = self.0.get(..s.len()) else {
            return Ok(false);
        };
        // The first and last bytes rule out most tries (the named character
        // references are matched by trying many names) without a call.
        let same = |a: Option<&u8>, b: Option<&u8>| match (a, b) {
            (Some(a), Some(b)) => a == b || (!case_sensitive && a.eq_ignore_ascii_case(b)),
            _ => true,
        };
        let found = same(next.first(), s.first())
            && same(next.last(), s.last())
            && (next == s || (!case_sensitive && next.eq_ignore_ascii_case(s)));
        if found {
            self.0 = &self.0[s.len()..];
        }
        Ok(found)
    }

    #[inline(always)]
    fn read_until<'b>(
        &'b mut self,
        needle: &[u8],
        _: &'b mut [u8; 4],
    ) -> Result<Option<&'b [u8]>, Self::Error> {
        if self.0.is_empty() {
            return Ok(None);
        }
        // The first of any needle byte: byte by byte at first (most runs are
        // a few bytes), then in windows that grow (a search for rare bytes
        // must not read the whole page), each search within one only before
        // the best so far.
        let mask = needle.iter().fold(0u128, |mask, &b| {
            mask | 1u128.checked_shl(u32::from(b)).unwrap_or(0)
        });
        let wide = needle.iter().any(|&b| b >= 128);
        let near = self.0.len().min(16);
        let mut end = self.0[..near]
            .iter()
            .position(|&b| (b < 128 && mask >> b & 1 != 0) || (wide && needle.contains(&b)));
        let mut window = 1024;
        let mut from = near;
        while end.is_none() && from < self.0.len() {
            let to = self.0.len().min(from + window);
            let mut best = to;
            for bytes in needle.chunks(3) {
                let within = &self.0[from..best];
                let at = match *bytes {
                    [a] => memchr::memchr(a, within),
                    [a, b] => memchr::memchr2(a, b, within),
                    [a, b, c] => memchr::memchr3(a, b, c, within),
                    _ => None,
                };
                if let Some(at) = at {
                    best = from + at;
                    end = Some(best);
                }
            }
            from = to;
            window *= 4;
        }
        let end = end.unwrap_or(self.0.len());
        // A needle byte on its own, else the run before it (or the rest).
        let (run, rest) = self.0.split_at(end.max(1));
        self.0 = rest;
        Ok(Some(run))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of text with every byte html5gum searches for, short and long runs.
    fn pieces() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z é]{0,20}",
                "[<&\"'=/> \t\n\r\x00\x0c-]",
                "[a-z]{1,3}",
                "x{1000,1100}",
                "(&lt;|&LT|&amp|&notin;|&ltrif;|<!--|-->|]]>)",
            ],
            0..24,
        )
        .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_input_reads_as_html5gums_own_reader(
            text in pieces(),
            needle in proptest::sample::subsequence(
                b"<&\"'=/> \t\n\r\x00\x0c-xa".to_vec(),
                1..10,
            ),
            tries in proptest::collection::vec(("(lt;|lt|LT|x|ltrif;|)", any::<bool>()), 0..4),
        ) {
            use html5gum::{Readable, Reader};
            let mut ours = Input(text.as_bytes());
            let mut theirs = text.as_str().to_reader();
            let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
            loop {
                for (s, case_sensitive) in &tries {
                    prop_assert_eq!(
                        ours.try_read_string(s.as_bytes(), *case_sensitive).ok(),
                        theirs.try_read_string(s.as_bytes(), *case_sensitive).ok()
                    );
                }
                let x = ours.read_until(&needle, &mut a).ok().flatten().map(<[u8]>::to_vec);
                let y = theirs.read_until(&needle, &mut b).ok().flatten().map(<[u8]>::to_vec);
                prop_assert_eq!(&x, &y);
                if x.is_none() {
                    break;
                }
            }
        }
    }
}
